/**
 * Client options: the public type (all optional, each with its default), one
 * defaults object, and one normaliser that validates and merges
 * defaults < environment < given options.
 */
import { z } from "zod";
import type { Decision } from "./decision.js";
import type { DecionisError } from "./errors/base.js";
import { ConfigurationError } from "./errors/input.js";
import type { DecisionGateway } from "./gateway/gateway.js";
import type { ExecutionIntent } from "./intent/capture.js";
import { MODES, wireJwksSchema, type Mode, type WireJwks } from "./gateway/wire.js";
import type { ReplayStore } from "./grants/replay.js";
import { setEd25519Backend, type Ed25519Choice } from "./grants/ed25519.js";
import { HEADER_SAFE } from "./intent/capture.js";
import { RetryPolicy } from "./retry.js";
import type { CircuitBreakerOptions, CircuitStateChange } from "./gateway/breaker.js";

/** Told of every decision, retry and error. Hooks observe; what they throw is ignored. */
export interface ClientHooks {
  /**
   * Every decision as received, allowed or not, before the acceptance and grant
   * checks (a refused ALLOW is also reported to `onError`); `shadow` when the call did not wait for it.
   */
  onDecision?: (event: { decision: Decision; intent: ExecutionIntent; shadow: boolean; durationMs: number }) => unknown;
  /** Before each retry of a request to the authority. */
  onRetry?: (event: { attempt: number; error: DecionisError; delayMs: number }) => unknown;
  /** When a gated call fails for any reason other than the gated function's own error. */
  onError?: (event: { error: unknown; intent: ExecutionIntent | undefined }) => unknown;
  /** When the client's circuit breaker opens, half-opens for a probe, or closes. */
  onCircuitStateChange?: (event: CircuitStateChange) => unknown;
  /**
   * At the start of each `enforce` / `decide` call, with the captured intent:
   * return a {@link CallObserver} to add request headers (e.g. a W3C
   * `traceparent`) and hear of that call's retries and end. `decionis/otel` is built on it.
   */
  onCall?: (event: CallStartEvent) => CallObserver | undefined;
}

/** What `hooks.onCall` is told when a decision call starts. */
export interface CallStartEvent {
  intent: ExecutionIntent;
  verify: VerifyMode;
  escalation: "throw" | "wait";
}

/** What a {@link CallObserver} is told once, when the decision is final (before anything runs) or the call failed. */
export interface CallEndEvent {
  /** The final decision, also for a `BlockedError`; `undefined` when none was accepted. */
  decision: Decision | undefined;
  /** Why the call failed (a `BlockedError` included); `undefined` on an accepted ALLOW or a returned decision. */
  error: unknown;
  /** Time spent waiting for a person (`escalation: "wait"`), ms; `undefined` when there was no wait. */
  waitMs: number | undefined;
  /** From `onCall` to the end, ms. */
  durationMs: number;
}

/**
 * One decision call's observer. Its headers never replace the SDK's own
 * (authorization, idempotency key, ...) and must be printable ASCII; what its
 * callbacks throw is ignored.
 */
export interface CallObserver {
  /** Extra headers on this call's request to the authority. */
  headers?: Readonly<Record<string, string>>;
  /** Before each retry of this call's request. */
  onRetry?: (event: { attempt: number; error: DecionisError; delayMs: number }) => unknown;
  /** Once, at the end of the call. */
  onEnd?: (event: CallEndEvent) => unknown;
}

/** The hooks {@link ClientHooks} knows; `onCircuitStateChange` belongs to the circuit breaker. @internal */
export const HOOK_NAMES = ["onDecision", "onRetry", "onError", "onCircuitStateChange", "onCall"] as const;

/** Every option {@link ClientOptions} knows (`circuitBreaker` belongs to the circuit breaker). @internal */
export const CLIENT_OPTION_NAMES = [
  "apiKey",
  "baseUrl",
  "tenantId",
  "timeoutMs",
  "maxRetries",
  "retryBackoffMs",
  "retryPolicy",
  "intentTtlMs",
  "system",
  "gateway",
  "hooks",
  "verify",
  "authorityKeys",
  "ed25519",
  "clockSkewMs",
  "keysRefetchIntervalMs",
  "replayStore",
  "mode",
  "escalation",
  "waitTimeoutMs",
  "reportOutcome",
  "maxShadowInFlight",
  "circuitBreaker",
  "transport",
] as const;

/** The edit distance of two short strings (option names). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * The known name closest to `name`, if one is close enough to be a slip:
 * the same up to case, a prefix of it (`timeout` → `timeoutMs`), or a few edits away.
 * @internal
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const kl = k.toLowerCase();
    const score = kl === lower ? 0 : kl.startsWith(lower) || lower.startsWith(kl) ? 1 : distance(lower, kl);
    if (score < bestScore) {
      best = k;
      bestScore = score;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * A copy of `value`'s own enumerable properties on a null prototype: what a
 * polluted `Object.prototype` holds can never be read as a setting. Refuses a
 * name outside `known`, suggesting the closest one, for plain-JavaScript callers.
 *
 * @param what - whose options, for the message: `"client"`, `"gate"`, `"call"`.
 * @throws {@link ConfigurationError} naming an unknown option, or when `value` is not an object.
 * @internal
 */
export function ownOptions(value: unknown, known: readonly string[], what: string): Record<string, unknown> {
  const copy = Object.create(null) as Record<string, unknown>;
  if (value === undefined) return copy;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigurationError(
      "options",
      `${what} options must be an object, got ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`,
    );
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const near = closest(key, known);
      throw new ConfigurationError(
        key,
        `Unknown ${what} option "${key}"` +
          (near === undefined ? `; known options: ${known.join(", ")}` : `: did you mean "${near}"?`),
      );
    }
    copy[key] = (value as Record<string, unknown>)[key];
  }
  return copy;
}

/**
 * Calls a hook so that nothing it does, throwing or rejecting, reaches the caller.
 * @internal
 */
export function observe<E>(hook: ((event: E) => unknown) | undefined, event: E): void {
  if (hook === undefined) return;
  try {
    const result = hook(event);
    if (result instanceof Promise) result.catch(() => undefined);
  } catch {
    // A hook observes; its failure never changes the outcome.
  }
}

/** The variables the client reads (`process.env` by default). @internal */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Options of {@link DecionisClient}. All optional. */
export interface ClientOptions {
  /**
   * API key, sent as `authorization: Bearer …`; never logged or put in an error.
   * @default process.env.DECIONIS_API_KEY
   */
  apiKey?: string;
  /**
   * The authority. `https:` required, except `http:` to a loopback host.
   * @default process.env.DECIONIS_BASE_URL ?? "https://api.decionis.com"
   */
  baseUrl?: string;
  /** @default process.env.DECIONIS_TENANT_ID */
  tenantId?: string;
  /** Timeout of one attempt, ms (1..300000). @default 10_000 */
  timeoutMs?: number;
  /** Retries after the first attempt (0..10). @default 2 */
  maxRetries?: number;
  /** Base of the exponential backoff with full jitter, ms. @default 250 */
  retryBackoffMs?: number;
  /** Overrides `maxRetries` and `retryBackoffMs`. @default RetryPolicy.default() */
  retryPolicy?: RetryPolicy;
  /** Lifetime of an intent, ms (1_000..300_000). @default 60_000 */
  intentTtlMs?: number;
  /** `downstream_target.system` of gates that name none. @default "app" */
  system?: string;
  /** Transport. @default the axios HTTP gateway */
  gateway?: DecisionGateway;
  /** Observers. @default {} */
  hooks?: ClientHooks;
  /**
   * How an ALLOW's execution grant is checked before anything runs:
   * `"signature"` verifies the JWS against the authority's keys and claims its
   * id once in this process; `"consume"` has the authority mark it used
   * (single use across processes); `"none"` applies only the protocol's 2.5 checks.
   * @default "signature" when keys are known (`authorityKeys`, or a gateway that serves them — the HTTP one does), else "none"
   */
  verify?: VerifyMode;
  /**
   * The authority's signing keys: a JWKS object, or its URL.
   * @default fetched from `{baseUrl}/.well-known/jwks.json`
   */
  authorityKeys?: WireJwks | string;
  /**
   * The Ed25519 implementation of grant checks, for the whole process:
   * `"sodium"` (libsodium through the optional package `sodium-native@4`, about
   * half the CPU), `"node"` (node:crypto), or `"auto"`: sodium-native when it
   * loads, else node:crypto. See `ed25519Backend()` for the one in use.
   * @default "auto"
   * @throws {@link ConfigurationError} at construction, `"sodium"` without `sodium-native`.
   */
  ed25519?: Ed25519Choice;
  /** Clock skew allowed when checking grant times, ms. @default 5_000 */
  clockSkewMs?: number;
  /** Least time between two key refetches caused by an unknown key id, ms. @default 10_000 */
  keysRefetchIntervalMs?: number;
  /** Where grant ids are claimed once. @default a bounded in-memory store */
  replayStore?: ReplayStore;
  /**
   * Fail fast when the authority is down: after `failureThreshold` consecutive
   * transport failures (network, timeout, 5xx, retries exhausted on those),
   * every call throws `CircuitOpenError` at once, without a request, for
   * `cooldownMs`; then one probe call goes out, and its success closes the
   * circuit. An answer of any kind (4xx, BLOCK) is not a failure. `false` turns it off.
   * @default { failureThreshold: 5, cooldownMs: 10_000 }
   */
  circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * `"SHADOW"` runs gated calls without waiting and only reports what the
   * authority would have decided (`hooks.onDecision` with `shadow: true`).
   * @default "ENFORCEMENT"
   */
  mode?: Mode;
  /** What a gated call does on ESCALATE / REVIEW_REQUIRED: throw `BlockedError`, or wait for a person. @default "throw" */
  escalation?: "throw" | "wait";
  /** Longest wait for a person with `escalation: "wait"`, ms. @default until the escalation expires */
  waitTimeoutMs?: number;
  /**
   * Post each allowed call's outcome to the authority, in the background.
   * @default false
   * @throws {@link ConfigurationError} at construction when `true` and a `gateway` of yours has no `reportOutcome()`.
   */
  reportOutcome?: boolean;
  /**
   * Most SHADOW-mode decisions asked in the background at once. Past it, a
   * shadow call still runs but its decision is not asked; `hooks.onError` is
   * told (code `SHADOW_OVERLOADED`), so a slow authority never piles requests up.
   * @default 64
   */
  maxShadowInFlight?: number;
  /**
   * The HTTP stack of the built-in gateway. `"undici"` is the lean one (less
   * CPU per call, for hot paths): it needs the `undici` package (7.x or 8.x,
   * `npm install undici`), checked when the client is built. Same protocol,
   * retries, timeouts and limits either way. Not combinable with `gateway`.
   * @default "axios"
   */
  transport?: Transport;
}

/** The built-in gateway's HTTP stack: axios (default, no extra package) or undici (optional peer). */
export type Transport = "axios" | "undici";

/** Grant verification modes. */
export type VerifyMode = "signature" | "consume" | "none";

/** @internal Options after defaults, environment and validation. */
export interface ResolvedOptions {
  apiKey: string | undefined;
  baseUrl: string;
  tenantId: string | undefined;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  intentTtlMs: number;
  system: string | undefined;
  gateway: DecisionGateway | undefined;
  hooks: ClientHooks;
  mode: Mode;
  verify: VerifyMode | undefined;
  authorityKeys: WireJwks | string | undefined;
  clockSkewMs: number;
  keysRefetchIntervalMs: number;
  replayStore: ReplayStore | undefined;
  escalation: "throw" | "wait";
  waitTimeoutMs: number | undefined;
  reportOutcome: boolean;
  maxShadowInFlight: number;
  circuitBreaker: Required<CircuitBreakerOptions> | false;
  transport: Transport;
}

/** @internal */
export const DEFAULTS = {
  baseUrl: "https://api.decionis.com",
  timeoutMs: 10_000,
  maxRetries: 2,
  retryBackoffMs: 250,
  intentTtlMs: 60_000,
  clockSkewMs: 5_000,
  keysRefetchIntervalMs: 10_000,
  maxShadowInFlight: 64,
  circuitBreaker: { failureThreshold: 5, cooldownMs: 10_000 },
} as const;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Checks a base URL against protocol 1 and returns it without a trailing slash.
 * @internal
 */
export function normaliseBaseUrl(value: string): string {
  return normaliseUrl(value, "baseUrl").replace(/\/+$/, "");
}

/** Checks a URL the SDK will call against protocol 1's transport rules. @internal */
export function normaliseUrl(value: string, option: string): string {
  let url: URL;
  // "localhost:8787" parses as a URL of scheme "localhost:": say what is missing.
  const schemeless = !/^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  try {
    url = new URL(value);
  } catch {
    url = undefined as unknown as URL;
  }
  if (url === undefined || schemeless) {
    const shown = JSON.stringify(value.replace(/^[^@/]*@/, ""));
    const fix = /^(localhost|127\.|\[::1\])/i.test(value) ? `http://${value}` : `https://${value}`;
    throw new ConfigurationError(
      option,
      schemeless && !/\s/.test(value) && !value.includes("@")
        ? `${option} ${shown} has no scheme: write ${JSON.stringify(fix)}`
        : `${option} is not a URL: use e.g. "https://api.decionis.com"`,
    );
  }
  // Never echo credentials back in the message.
  if (url.username !== "" || url.password !== "")
    throw new ConfigurationError(option, `${option} must not contain credentials: pass the key as apiKey`);
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.search !== "" || url.hash !== "")
    throw new ConfigurationError(option, `${option} "${shown}" must not have a query or fragment`);
  if (url.protocol === "http:" && !LOOPBACK.test(url.hostname))
    throw new ConfigurationError(
      option,
      `${option} "${shown}" uses http: to a non-loopback host: use https: (http: is allowed only to 127.0.0.0/8, localhost or [::1])`,
    );
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new ConfigurationError(option, `${option} "${shown}" must use https:`);
  return shown;
}

const optionsSchema = z.object({
  apiKey: z.string().min(1, "must not be empty").optional(),
  baseUrl: z.string().optional(),
  tenantId: z
    .string()
    .min(1, "must not be empty")
    .max(200, "must be at most 200 characters")
    .refine((t) => !t.includes("|"), 'must not contain "|"')
    .optional(),
  timeoutMs: z.number().int("must be a whole number of ms").min(1).max(300_000).optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  retryBackoffMs: z.number().min(0).max(60_000).optional(),
  retryPolicy: z.instanceof(RetryPolicy, { message: "must be a RetryPolicy" }).optional(),
  intentTtlMs: z.number().int().min(1_000).max(300_000).optional(),
  system: z.string().min(1).max(200).optional(),
  gateway: z
    .custom<DecisionGateway>(
      (g) => typeof g === "object" && g !== null && typeof (g as DecisionGateway).enforceAndBind === "function",
      "must be an object with an enforceAndBind(request) method",
    )
    .optional(),
  verify: z.enum(["signature", "consume", "none"]).optional(),
  authorityKeys: z.union([z.string(), wireJwksSchema], "must be a JWKS object { keys: [...] } or its URL").optional(),
  ed25519: z.enum(["auto", "sodium", "node"], 'must be "auto", "sodium" or "node"').optional(),
  clockSkewMs: z.number().int().min(0).max(300_000).optional(),
  keysRefetchIntervalMs: z.number().int().min(0).max(86_400_000).optional(),
  replayStore: z
    .custom<ReplayStore>(
      (r) => typeof r === "object" && r !== null && typeof (r as ReplayStore).claim === "function",
      "must be an object with a claim(jti, expiresAtMs) method",
    )
    .optional(),
  mode: z.enum(MODES).optional(),
  escalation: z.enum(["throw", "wait"]).optional(),
  waitTimeoutMs: z.number().int().min(0).optional(),
  reportOutcome: z.boolean().optional(),
  maxShadowInFlight: z.number().int().min(0).max(100_000).optional(),
  transport: z
    .enum(["axios", "undici"], 'must be "axios" (the default) or "undici" (needs the undici package installed)')
    .optional(),
  circuitBreaker: z
    .union(
      [
        z.literal(false),
        z.strictObject({
          failureThreshold: z.number().int().min(1).max(1000).optional(),
          cooldownMs: z.number().int().min(1).max(3_600_000).optional(),
        }),
      ],
      "must be false or { failureThreshold?: 1..1000, cooldownMs?: 1..3600000 }",
    )
    .optional(),
  hooks: z
    .object({
      onDecision: z.function().optional(),
      onRetry: z.function().optional(),
      onError: z.function().optional(),
      onCircuitStateChange: z.function().optional(),
      onCall: z.function().optional(),
    })
    .optional(),
});

/**
 * What an HTTP header can carry byte for byte: printable ASCII, no spaces.
 * axios would otherwise rewrite or drop characters of the key silently.
 */
const API_KEY_SAFE = /^[\x21-\x7e]+$/;

function fromEnv(name: string, env: Environment): string | undefined {
  // Own properties only: process.env also reads through Object.prototype.
  if (!Object.hasOwn(env, name)) return undefined;
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/**
 * Parses options with `schema`, or throws a {@link ConfigurationError} naming
 * the first bad option. The message never includes the received value: it could be the key.
 * @internal
 */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const option = issue.path.map(String).join(".") || "options";
  throw new ConfigurationError(option, `${option} ${issue.message}`);
}

/**
 * Validates options and fills in defaults and the environment.
 * @throws {@link ConfigurationError} naming the option and the fix.
 * @internal
 */
export function resolveOptions(options: ClientOptions = {}, env: Environment = process.env): ResolvedOptions {
  // Validated, then read from the own-property copy: zod's output would pick up
  // what a polluted Object.prototype holds for a missing key.
  const own = ownOptions(options, CLIENT_OPTION_NAMES, "client");
  if (own["hooks"] !== undefined) own["hooks"] = ownOptions(own["hooks"], HOOK_NAMES, "hooks");
  parseOptions(optionsSchema, own);
  const o = own as z.output<typeof optionsSchema>;
  // Process-wide, and here so that a forced "sodium" that cannot load fails at construction.
  if (o.ed25519 !== undefined) setEd25519Backend(o.ed25519);
  const retryPolicy =
    o.retryPolicy ??
    new RetryPolicy({
      maxRetries: o.maxRetries ?? DEFAULTS.maxRetries,
      baseDelayMs: o.retryBackoffMs ?? DEFAULTS.retryBackoffMs,
      maxDelayMs: Math.max(5_000, o.retryBackoffMs ?? 0),
    });
  if (o.transport !== undefined && o.gateway !== undefined)
    throw new ConfigurationError(
      "transport",
      "transport chooses the built-in gateway's HTTP stack: pass either transport or gateway, not both",
    );
  const tenantId = o.tenantId ?? fromEnv("DECIONIS_TENANT_ID", env);
  if (tenantId !== undefined && (tenantId.includes("|") || tenantId.length > 200 || !HEADER_SAFE.test(tenantId)))
    throw new ConfigurationError("tenantId", 'tenantId must be 1..200 printable ASCII characters without "|"');
  const apiKey = o.apiKey ?? fromEnv("DECIONIS_API_KEY", env);
  // Never quote the key: say only what is wrong with it.
  if (apiKey !== undefined && !API_KEY_SAFE.test(apiKey))
    throw new ConfigurationError(
      "apiKey",
      "apiKey must be printable ASCII without spaces or control characters (it is sent in a header): check for a stray newline or quote",
    );
  return {
    apiKey,
    baseUrl: normaliseBaseUrl(o.baseUrl ?? fromEnv("DECIONIS_BASE_URL", env) ?? DEFAULTS.baseUrl),
    tenantId,
    timeoutMs: o.timeoutMs ?? DEFAULTS.timeoutMs,
    retryPolicy,
    intentTtlMs: o.intentTtlMs ?? DEFAULTS.intentTtlMs,
    system: o.system,
    gateway: o.gateway,
    hooks: (o.hooks ?? Object.create(null)) as ClientHooks,
    mode: o.mode ?? "ENFORCEMENT",
    verify: o.verify,
    authorityKeys:
      typeof o.authorityKeys === "string" ? normaliseUrl(o.authorityKeys, "authorityKeys") : o.authorityKeys,
    clockSkewMs: o.clockSkewMs ?? DEFAULTS.clockSkewMs,
    keysRefetchIntervalMs: o.keysRefetchIntervalMs ?? DEFAULTS.keysRefetchIntervalMs,
    replayStore: o.replayStore,
    escalation: o.escalation ?? "throw",
    waitTimeoutMs: o.waitTimeoutMs,
    reportOutcome: o.reportOutcome ?? false,
    maxShadowInFlight: o.maxShadowInFlight ?? DEFAULTS.maxShadowInFlight,
    circuitBreaker:
      o.circuitBreaker === false
        ? false
        : {
            failureThreshold: o.circuitBreaker?.failureThreshold ?? DEFAULTS.circuitBreaker.failureThreshold,
            cooldownMs: o.circuitBreaker?.cooldownMs ?? DEFAULTS.circuitBreaker.cooldownMs,
          },
    transport: o.transport ?? "axios",
  };
}
