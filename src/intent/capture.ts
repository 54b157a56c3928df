/**
 * Intent capture: caller input (camelCase) in, the protocol binding, its hash
 * and the exact request body out. Everything that can be wrong with an intent
 * is found here, before any request is sent.
 */
import { z } from "zod";
import { ValidationError } from "../errors/input.js";
import { PROTOCOL_VERSION, type Mode, type WireBinding } from "../gateway/wire.js";
import { canonicalJson, LIMITS, sha256Tagged, type WalkBudget } from "./canonical.js";
import { assertCorrelationId, newCorrelationId, uuidv7 } from "./ids.js";

/** A JSON object: what `parameters` and `context` hold. */
export type JsonObject = { [key: string]: JsonValue | undefined };
/** JSON data: the only values an intent can carry. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/**
 * What `parameters` and `context` accept at compile time: any object type,
 * interfaces included (TypeScript will not match an interface to an index
 * signature). That it is a plain object of JSON data is checked at run time,
 * before any request, with the path of the first bad value.
 */
export type JsonObjectInput = object;

/** Who acts. */
export interface ActorInput {
  /** Stable id of the bot, agent, service or person, e.g. `"cfd_bot_7"`. */
  id: string;
  /** Kind of actor, e.g. `"TRADING_BOT"`, `"AI_AGENT"`, `"SERVICE"`. */
  type: string;
  /**
   * Where it runs.
   * @default "node"
   */
  runtime?: string;
  /** Trust level the authority may weigh, e.g. `"verified"`. */
  trustLevel?: string;
}

/** The downstream system the gated code acts on. */
export interface TargetInput {
  /**
   * System acted on, e.g. `"broker"`.
   * @default the client's `system`, else `"app"`
   */
  system?: string;
  /** Operation, e.g. `"TradingBot.openPosition"`. */
  operation: string;
  /** Endpoint, e.g. `"POST /orders"`. */
  endpoint?: string;
}

/** What `client.enforce` / `client.decide` take: one execution intent. */
export interface IntentInput {
  actor: ActorInput;
  action: {
    /** Action type, e.g. `"OPEN_POSITION"`. */
    type: string;
    /** What the action touches, e.g. `"EURUSD"`. */
    resource: string;
  };
  /** The action's parameters: JSON data. @default {} */
  parameters?: JsonObjectInput;
  /** Facts for the policy: JSON data. @default {} */
  context?: JsonObjectInput;
  /** Policies to evaluate. @default [] */
  policyRefs?: readonly string[];
  /** @default the client's tenantId */
  tenantId?: string;
  /** Caller's idempotency key (e.g. a client order id), 1..180 chars. @default a new UUIDv7 */
  idempotencyKey?: string;
  /** `t:<tenantId>|c:<uuidv7>`. @default generated */
  correlationId?: string;
  /** @default `{ system: client.system ?? "app", operation: action.type }` */
  target?: TargetInput;
}

/** An intent as sent: the binding, its hash and the siblings. Read-only. */
export interface ExecutionIntent {
  /**
   * The binding as sent, parsed from the canonical form on first access: an
   * accessor, so `{ ...intent }` lacks it (`JSON.stringify` includes it).
   */
  readonly binding: Readonly<WireBinding>;
  readonly intentHash: string;
  readonly intentId: string;
  readonly idempotencyKey: string;
  readonly tenantId: string;
  /** When the intent expires, ISO 8601. */
  readonly expiresAt: string;
  /** The same instant, ms since the epoch. */
  readonly expiresAtMs: number;
  readonly correlationId: string;
  readonly policyRefs: readonly string[];
  readonly mode: Mode;
  /** The exact request body, serialised once and re-sent byte for byte on retries. */
  readonly body: string;
}

/** @internal What capture needs from the client. */
export interface CaptureDefaults {
  tenantId: string | undefined;
  system: string | undefined;
  intentTtlMs: number;
  mode: Mode;
  now: () => number;
}

const text = (max: number) => z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);

/**
 * Values that also travel in HTTP headers (`idempotency-key`, `x-correlation-id`)
 * must survive them byte for byte: printable ASCII, no leading or trailing space.
 * (axios would silently drop other characters, so header and body would disagree.)
 */
export const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const headerSafe = (max: number) =>
  text(max).regex(HEADER_SAFE, "must be printable ASCII without leading or trailing spaces (it is sent in a header)");

// z.compile: zod's generated fast path for the happy case, its runtime parser for errors.
const intentInputSchema = z.compile(
  z.object({
    actor: z.object(
      {
        id: text(200),
        type: text(100),
        runtime: text(100).optional(),
        trustLevel: text(100).optional(),
      },
      "must be an object { id, type }",
    ),
    action: z.object({ type: text(200), resource: text(500) }, "must be an object { type, resource }"),
    parameters: z.unknown().optional(),
    context: z.unknown().optional(),
    policyRefs: z.array(text(200), "must be an array of policy ids").max(50).optional(),
    tenantId: headerSafe(200)
      .refine((t) => !t.includes("|"), 'must not contain "|" (it separates the parts of a correlation id)')
      .optional(),
    idempotencyKey: headerSafe(180).optional(),
    correlationId: z.unknown().optional(),
    target: z
      .object(
        { system: text(200).optional(), operation: text(500), endpoint: text(500).optional() },
        "must be an object { system?, operation, endpoint? }",
      )
      .optional(),
  }),
);

const HINTS: Record<string, string> = {
  "actor.id": "give the gate an `actor: { id, type }`",
  "actor.type": 'give the actor a type, e.g. "AI_AGENT"',
  actor: "give the gate an `actor: { id, type }`",
  "action.type": 'name the action, e.g. action: "OPEN_POSITION"',
  "action.resource": "name what the action touches, e.g. resource: (order) => order.symbol",
  tenantId: "set `tenantId` on the client (or DECIONIS_TENANT_ID) or on the call",
};

/** Turns the first zod issue into a ValidationError that names the field and the fix. */
function toValidationError(error: z.ZodError): ValidationError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join(".") || "intent";
  const hint = HINTS[path];
  const missing = issue.code === "invalid_type" && /received undefined/.test(issue.message);
  const message = missing ? "is required" : issue.message;
  return new ValidationError(path, hint === undefined ? message : `${message}: ${hint}`, {
    issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })),
  });
}

function asObject(value: unknown, path: string, budget: WalkBudget): string {
  if (value === undefined) return "{}";
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ValidationError(
      path,
      `must be a plain object of JSON data, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  return canonicalJson(value, path, budget);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Builds the binding, its canonical form and hash, and the request body.
 *
 * The canonical binding is assembled from pieces already canonical (caller
 * data is walked exactly once); keys below are written in sorted order, which
 * the conformance tests check against a full canonicalisation.
 *
 * @throws {@link ValidationError} / {@link InvalidCorrelationIdError} before any request.
 */
export function captureIntent(input: IntentInput, defaults: CaptureDefaults): ExecutionIntent {
  const b = bind(input, defaults, undefined);
  const intentHash = sha256Tagged(b.canonical);
  // The body is the binding plus four siblings, written once.
  const body =
    b.canonical.slice(0, -1) +
    `,"intent_hash":${JSON.stringify(intentHash)},"mode":${JSON.stringify(defaults.mode)},"policy_refs":${JSON.stringify(b.policyRefs)},"correlation_id":${JSON.stringify(b.correlationId)}}`;

  return new CapturedIntent(
    b.canonical,
    b.now,
    b.capturedAt,
    intentHash,
    b.intentId,
    b.idempotencyKey,
    b.tenantId,
    b.expiresAt,
    b.expiresAtMs,
    b.correlationId,
    b.policyRefs,
    defaults.mode,
    body,
  );
}

/**
 * Captures `input` again as it reads now, with the ids and instant of
 * `intent`, and tells whether it is still the intent that was approved.
 * Returns the hash of what it reads now when it differs, else `undefined`.
 *
 * @throws {@link ValidationError} when the input no longer captures at all.
 * @internal
 */
export function recapture(input: IntentInput, defaults: CaptureDefaults, intent: ExecutionIntent): string | undefined {
  // Only an intent this module captured can be re-captured; anything else never matches.
  if (!(intent instanceof CapturedIntent)) return "unknown";
  const b = bind(input, defaults, intent);
  if (b.canonical === CapturedIntent.canonicalOf(intent) && sameList(b.policyRefs, intent.policyRefs)) return undefined;
  return sha256Tagged(b.canonical);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, n) => x === b[n]);
}

/** Own enumerable properties on a null prototype: a polluted Object.prototype cannot fill a missing field. */
function own(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) copy[key] = (value as Record<string, unknown>)[key];
  return copy;
}

function ownInput(input: IntentInput): unknown {
  try {
    const top = own(input) as Record<string, unknown> | IntentInput;
    if (typeof top !== "object" || top === null) return top;
    const t = top as Record<string, unknown>;
    for (const key of ["actor", "action", "target"]) if (t[key] !== undefined) t[key] = own(t[key]);
    return t;
  } catch (error) {
    // A getter or Proxy trap on the intent itself threw.
    throw new ValidationError(
      "intent",
      `reading it threw (${error instanceof Error ? error.message : String(error)}): pass plain data`,
    );
  }
}

/** The canonical binding of `input`; with `like`, with its instant and generated ids. */
function bind(input: IntentInput, defaults: CaptureDefaults, like: CapturedIntent | undefined) {
  if (like !== undefined) {
    // The re-check: no schema pass (the first capture validated the same input);
    // anything that now reads differently writes a different canonical string.
    // No own-property copy either: an inherited value can only make it differ, which fails closed.
    try {
      return build(input as Parsed, defaults, like);
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      throw new ValidationError(
        "intent",
        `reading it again before running threw (${error instanceof Error ? error.message : String(error)}): nothing ran`,
      );
    }
  }
  const parsed = intentInputSchema.safeParse(ownInput(input));
  if (!parsed.success) throw toValidationError(parsed.error);
  return build(parsed.data, defaults, undefined);
}

type Parsed = z.output<typeof intentInputSchema>;

function build(i: Parsed, defaults: CaptureDefaults, like: CapturedIntent | undefined) {
  const tenantId = i.tenantId ?? defaults.tenantId;
  if (tenantId === undefined) throw new ValidationError("tenantId", `is required: ${HINTS["tenantId"]!}`);
  if (tenantId.includes("|") || tenantId.length > 200 || !HEADER_SAFE.test(tenantId))
    throw new ValidationError("tenantId", 'must be 1..200 printable ASCII characters without "|"');

  const budget: WalkBudget = { entries: 0 };
  const parametersJson = asObject(i.parameters, "parameters", budget);
  const contextJson = asObject(i.context, "context", budget);

  const now = like === undefined ? defaults.now() : CapturedIntent.capturedAtOf(like);
  const intentId = like === undefined ? uuidv7(now) : like.intentId;
  // Not part of the binding: the re-check keeps the first one.
  const correlationId =
    like !== undefined
      ? like.correlationId
      : i.correlationId !== undefined
        ? assertCorrelationId(i.correlationId, tenantId)
        : newCorrelationId(tenantId, now);

  const s = JSON.stringify;
  const trustLevel = i.actor.trustLevel;
  const endpoint = i.target?.endpoint;
  const idempotencyKey = i.idempotencyKey ?? intentId;
  const expiresAtMs = like === undefined ? now + defaults.intentTtlMs : like.expiresAtMs;
  const expiresAt = like === undefined ? iso(expiresAtMs) : like.expiresAt;
  const capturedAt = like === undefined ? iso(now) : CapturedIntent.capturedAtIsoOf(like);
  // The canonical binding, written directly: keys in sorted order at every level,
  // caller data already canonical. The conformance tests check it against a full
  // canonicalisation of the parsed binding.
  const canonical =
    `{"action":{"parameters":${parametersJson},"resource":${s(i.action.resource)},"type":${s(i.action.type)}}` +
    `,"actor":{"id":${s(i.actor.id)},"runtime":${s(i.actor.runtime ?? "node")}` +
    (trustLevel === undefined ? "" : `,"trust_level":${s(trustLevel)}`) +
    `,"type":${s(i.actor.type)}}` +
    `,"captured_at":${s(capturedAt)},"context":${contextJson}` +
    `,"downstream_target":{` +
    (endpoint === undefined ? "" : `"endpoint":${s(endpoint)},`) +
    `"operation":${s(i.target?.operation ?? i.action.type)},"system":${s(i.target?.system ?? defaults.system ?? "app")}}` +
    `,"expires_at":${s(expiresAt)},"idempotency_key":${s(idempotencyKey)}` +
    `,"intent_id":${s(intentId)},"protocol_version":${s(PROTOCOL_VERSION)},"tenant_id":${s(tenantId)}}`;

  // A UTF-16 unit is at most 3 UTF-8 bytes: short bindings need no count.
  if (
    canonical.length * 3 > LIMITS.maxCanonicalBytes &&
    Buffer.byteLength(canonical, "utf8") > LIMITS.maxCanonicalBytes
  )
    throw new ValidationError(
      "intent",
      `the canonical binding is over ${LIMITS.maxCanonicalBytes / 1024} KiB: send ids or a summary in parameters/context, not whole documents`,
    );

  const policyRefs = i.policyRefs ?? [];
  return {
    canonical,
    now,
    capturedAt,
    intentId,
    idempotencyKey,
    tenantId,
    expiresAt,
    expiresAtMs,
    correlationId,
    policyRefs,
  };
}

/** A class, not a literal with a getter: one is built per call, and frozen. */
class CapturedIntent implements ExecutionIntent {
  readonly #canonical: string;
  readonly #capturedAt: number;
  readonly #capturedAtIso: string;
  #binding: WireBinding | undefined;

  static canonicalOf(intent: CapturedIntent): string {
    return intent.#canonical;
  }

  static capturedAtOf(intent: CapturedIntent): number {
    return intent.#capturedAt;
  }

  static capturedAtIsoOf(intent: CapturedIntent): string {
    return intent.#capturedAtIso;
  }

  constructor(
    canonical: string,
    capturedAt: number,
    capturedAtIso: string,
    readonly intentHash: string,
    readonly intentId: string,
    readonly idempotencyKey: string,
    readonly tenantId: string,
    readonly expiresAt: string,
    readonly expiresAtMs: number,
    readonly correlationId: string,
    readonly policyRefs: readonly string[],
    readonly mode: Mode,
    readonly body: string,
  ) {
    this.#canonical = canonical;
    this.#capturedAt = capturedAt;
    this.#capturedAtIso = capturedAtIso;
    Object.freeze(this);
  }

  get binding(): WireBinding {
    // Private fields stay writable on a frozen object: the cache fills on first access.
    this.#binding ??= Object.freeze(JSON.parse(this.#canonical) as WireBinding);
    return this.#binding;
  }

  /** Serialised (e.g. logged from a hook) with its binding, like a plain object would be. */
  toJSON(): Record<string, unknown> {
    return { binding: this.binding, ...Object.fromEntries(Object.entries(this)) };
  }
}
