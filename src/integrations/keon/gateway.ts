/**
 * KeonGateway: the core's `DecisionGateway` speaking the Keon Runtime API v1.
 * An intent goes out as `POST /decide`; Keon's receipt comes back as a wire
 * decision the core accepts with `verify: "none"`: the receipt id stands for
 * the grant (so the core claims it once), its expiry (bounded by the intent's)
 * for the grant's. Tenant, actor and correlation id must echo the intent's.
 */
import {
  ConfigurationError,
  ContractError,
  InvalidCorrelationIdError,
  InvalidReceiptError,
  RetryPolicy,
  ValidationError,
  type Decision,
  type DecionisError,
  type DecisionGateway,
  type EnforceRequest,
  type GatewayCallOptions,
  type WireEnforceRequest,
} from "../../index.js";
import { keonCanonicalJson, subjectHash } from "./canonical.js";
import { KEON_DENY } from "./errors.js";
import { KeonTransport } from "./transport.js";
import {
  CORRELATION_ID_PATTERN,
  decisionReceiptSchema,
  executionResultSchema,
  TENANT_ID_PATTERN,
  type KeonDecideRequest,
  type KeonExecuteRequest,
  type WireDecisionReceipt,
} from "./wire.js";
import type { z } from "zod";

/** A Keon `DecisionReceipt`, as Keon sent it (camelCase). Frozen. */
export interface DecisionReceipt {
  readonly receiptId: string;
  readonly decision: "allow" | "deny";
  readonly correlationId: string;
  readonly tenantId: string;
  readonly actorId: string;
  readonly decidedAt: string;
  readonly expiresAt: string | null;
  readonly reason: string | null;
  readonly appliedPolicies: readonly string[];
}

/** Status of a Keon execution. */
export type ExecutionStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** Keon's answer to `POST /execute`. Frozen. */
export interface ExecutionResult {
  /** `exec-…`. */
  readonly executionId: string;
  readonly correlationId: string;
  readonly decisionReceiptId: string;
  readonly status: ExecutionStatus;
  /** The action's result, JSON data as Keon sent it; `undefined` when none. */
  readonly result: unknown;
  readonly executedAt: Date;
  readonly completedAt: Date | null;
  /** The `data` object as received. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** What a remote execution sends besides the receipt. */
export interface KeonExecuteInput {
  /** Must be the decided action. @default the decided action */
  action?: string;
  /** JSON data whose subject hash must equal the decided one. @default the decided parameters */
  parameters?: object;
}

/** How an intent's `action.resource` becomes Keon's `resourceType` and `resourceId`. */
export type ResourceMapper = (resource: string, intent: WireEnforceRequest) => { type: string; id: string };

/** Options of the {@link KeonGateway}. Exactly one of `apiKey` and `bearerToken`. */
export interface KeonGatewayOptions {
  /** The Keon Runtime API, e.g. `"https://api.keon.systems/runtime/v1"`. `https:`, or `http:` to loopback only. */
  baseUrl: string;
  /** Sent as `X-API-Key`; never logged or put in an error. */
  apiKey?: string | undefined;
  /** A JWT, sent as `Authorization: Bearer …`; never logged or put in an error. */
  bearerToken?: string | undefined;
  /** Timeout of one attempt, ms (1..300000). @default 10_000 */
  timeoutMs?: number | undefined;
  /** Retries of `/decide` (and of `/execute`, only when Keon surely did not act). @default RetryPolicy.default() */
  retryPolicy?: RetryPolicy | undefined;
  /**
   * `action.resource` → `{ type, id }`.
   * @default `"type:id"` split at the first colon; a resource without one is `{ type: downstream_target.system, id: resource }`
   */
  resource?: ResourceMapper | undefined;
  /** Told before each retry; what it throws is ignored. */
  onRetry?: ((event: { attempt: number; error: DecionisError; delayMs: number }) => unknown) | undefined;
}

/** What the gateway remembers of an allow it returned, for a remote execution. */
interface Issued {
  readonly receiptId: string;
  readonly tenantId: string;
  readonly actorId: string;
  readonly action: string;
  readonly parameters: Record<string, unknown>;
  readonly subjectHash: string;
  readonly correlationId: string;
  readonly expiresAtMs: number;
  /** Sent to `/execute` once; kept (until it expires) so a second try is told so. */
  readonly spent?: true;
}

/** @internal A checked `POST /execute`, ready to send once the core has claimed the receipt. */
export interface PreparedExecution {
  readonly issued: Issued;
  readonly body: string;
}

/** @internal */
export const PREPARE = Symbol("keon.prepareExecution");
/** @internal */
export const SEND = Symbol("keon.sendExecution");

/** Allows remembered for remote execution; past it, expired ones go first, then the oldest. */
const MAX_ISSUED = 10_000;
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * A {@link DecisionGateway} for a Keon runtime. Most users want
 * {@link createKeonClient}; pass this as `new DecionisClient({ gateway, verify: "none" })`
 * to build the client yourself.
 *
 * @example
 * const gateway = new KeonGateway({ baseUrl: "https://api.keon.systems/runtime/v1", apiKey: process.env.KEON_API_KEY });
 * const client = new DecionisClient({ gateway, tenantId: "tenant-123", verify: "none" });
 *
 * @throws {@link ConfigurationError} for a bad option (never echoing a credential).
 */
export class KeonGateway implements DecisionGateway {
  /** The Keon Runtime API base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #transport: KeonTransport;
  readonly #secret: string;
  readonly #resource: ResourceMapper;
  readonly #issued = new Map<string, Issued>();

  constructor(options: KeonGatewayOptions) {
    if (typeof options !== "object" || options === null)
      throw new ConfigurationError(
        "options",
        "KeonGateway needs options: { baseUrl, apiKey } or { baseUrl, bearerToken }",
      );
    this.baseUrl = checkBaseUrl(options.baseUrl);
    const { apiKey, bearerToken } = options;
    if ((apiKey === undefined) === (bearerToken === undefined))
      throw new ConfigurationError(
        "apiKey",
        "pass exactly one of apiKey (sent as X-API-Key) or bearerToken (sent as Authorization: Bearer)",
      );
    const secret = (apiKey ?? bearerToken) as unknown;
    const option = apiKey === undefined ? "bearerToken" : "apiKey";
    if (typeof secret !== "string" || !HEADER_SAFE.test(secret) || secret.length > 8192)
      throw new ConfigurationError(option, `${option} must be 1..8192 printable ASCII characters without spaces`);
    this.#secret = secret;
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 300_000)
      throw new ConfigurationError("timeoutMs", "timeoutMs must be a whole number of ms from 1 to 300000");
    const retryPolicy = options.retryPolicy ?? RetryPolicy.default();
    if (!(retryPolicy instanceof RetryPolicy))
      throw new ConfigurationError("retryPolicy", "retryPolicy must be a RetryPolicy, e.g. RetryPolicy.default()");
    if (options.resource !== undefined && typeof options.resource !== "function")
      throw new ConfigurationError("resource", "resource must be a function (resource, intent) => ({ type, id })");
    this.#resource = options.resource ?? splitResource;
    const onRetry = options.onRetry;
    this.#transport = new KeonTransport({
      baseUrl: this.baseUrl,
      credential:
        apiKey === undefined
          ? { header: "authorization", value: `Bearer ${secret}`, secret }
          : { header: "x-api-key", value: secret, secret },
      timeoutMs,
      retryPolicy,
      onRetry:
        onRetry === undefined
          ? undefined
          : (event) => {
              try {
                const result = onRetry(event);
                if (result instanceof Promise) result.catch(() => undefined);
              } catch {
                // An observer's failure never changes the outcome.
              }
            },
    });
  }

  /** `POST /decide` for the intent; Keon's receipt as a wire decision. */
  async enforceAndBind(request: EnforceRequest, options: GatewayCallOptions = {}): Promise<unknown> {
    const intent = request.request;
    const tenantId = intent.tenant_id;
    if (!TENANT_ID_PATTERN.test(tenantId))
      throw new ValidationError(
        "tenantId",
        `Keon tenant ids are letters, digits, "_" and "-" only; "${clip(tenantId)}" is not one: use the tenant id Keon knows`,
      );
    const correlationId = request.correlationId;
    if (!CORRELATION_ID_PATTERN.test(correlationId) || !correlationId.startsWith(`t:${tenantId}|c:`))
      throw new InvalidCorrelationIdError(
        `"${clip(correlationId)}" is not of the form "t:${tenantId}|c:<lowercase uuidv7>"; omit correlationId to have one generated`,
      );
    const resource = this.#resourceOf(intent);
    const parameters = intent.action.parameters;
    const hash = subjectHash(parameters);
    const decide: KeonDecideRequest = {
      correlationId,
      tenantId,
      actorId: intent.actor.id,
      action: intent.action.type,
      resourceType: resource.type,
      resourceId: resource.id,
      subjectHash: hash,
    };
    if (Object.keys(intent.context).length > 0) decide.context = intent.context;
    const data = await this.#transport.post(
      "decide",
      JSON.stringify(decide),
      { correlationId },
      "transient",
      options.signal,
    );
    const r = parseAnswer(decisionReceiptSchema, data, "decision receipt");
    const decisionId = r.receiptId;
    for (const [field, expected] of [
      ["correlationId", correlationId],
      ["tenantId", tenantId],
      ["actorId", decide.actorId],
    ] as const)
      if (r[field] !== expected)
        throw new InvalidReceiptError(
          "TOKEN_CLAIMS_INVALID",
          `Keon receipt ${decisionId} is for ${field} "${clip(this.#clean(r[field]))}", not this intent's "${clip(expected)}"`,
          { decisionId, field },
        );
    const receipt = this.#receipt(r);
    if (r.decision === "deny")
      return {
        decision_id: decisionId,
        status: "BLOCK",
        should_execute: false,
        reason_codes: [KEON_DENY],
        action_hash: intent.intent_hash,
        execution_token: null,
        execution_token_expires_at: null,
        dossier_id: null,
        explanation: receipt.reason,
        receipt,
      };
    if (this.#issued.has(decisionId))
      throw new ContractError(`Keon issued receipt ${decisionId} twice; nothing ran.`, { reason: "RECEIPT_REUSED" });
    // A receipt lives no longer than its intent; one without an expiry, exactly as long.
    const expiresAtMs = Math.min(
      Date.parse(intent.expires_at),
      r.expiresAt == null ? Infinity : Date.parse(r.expiresAt),
    );
    this.#remember({
      receiptId: decisionId,
      tenantId,
      actorId: decide.actorId,
      action: decide.action,
      parameters,
      subjectHash: hash,
      correlationId,
      expiresAtMs,
    });
    return {
      decision_id: decisionId,
      status: "ALLOW",
      should_execute: true,
      reason_codes: [],
      action_hash: intent.intent_hash,
      // No signed grant in Keon: the receipt id is what the core claims once.
      execution_token: `keon-receipt:${decisionId}`,
      execution_token_expires_at: new Date(expiresAtMs).toISOString(),
      dossier_id: decisionId,
      explanation: receipt.reason,
      receipt,
    };
  }

  /** Releases sockets. */
  close(): void {
    this.#transport.close();
    this.#issued.clear();
  }

  /** A key-free view. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl };
  }

  /**
   * Checks a remote execution against the allow it follows, before the core
   * claims the receipt, so that a wrong call does not use it up.
   * @internal
   */
  [PREPARE](receipt: Decision, input: KeonExecuteInput): PreparedExecution {
    const decisionId = receipt.decisionId;
    const issued = this.#issued.get(decisionId);
    if (issued === undefined)
      throw new InvalidReceiptError(
        "RECEIPT_UNKNOWN",
        `Keon receipt ${clip(decisionId)} was not issued by this client`,
        { decisionId },
      );
    if (issued.spent === true)
      throw new InvalidReceiptError("RECEIPT_ALREADY_USED", `Keon receipt ${decisionId} was already executed once`, {
        decisionId,
      });
    if (issued.expiresAtMs <= Date.now())
      throw new InvalidReceiptError(
        "TOKEN_EXPIRED",
        `Keon receipt ${decisionId} expired at ${new Date(issued.expiresAtMs).toISOString()}`,
        { decisionId },
      );
    if (typeof input !== "object" || input === null || Array.isArray(input))
      throw new ValidationError("request", "pass { action?, parameters? } as the second argument of execute()");
    const { action = issued.action, parameters = issued.parameters } = input;
    if (typeof action !== "string") throw new ValidationError("action", "action must be the decided action's name");
    if (action !== issued.action)
      throw new InvalidReceiptError(
        "TOKEN_BINDING_MISMATCH",
        `Keon receipt ${decisionId} was decided for action "${clip(issued.action)}", not "${clip(action)}"`,
        { decisionId },
      );
    // What is hashed is what is sent: the canonical form, parsed back.
    const canonical = keonCanonicalJson(parameters);
    const sent = JSON.parse(canonical) as Record<string, unknown>;
    if (typeof sent !== "object" || Array.isArray(sent))
      throw new ValidationError("parameters", "parameters must be a JSON object");
    if (subjectHash(sent) !== issued.subjectHash)
      throw new InvalidReceiptError(
        "TOKEN_BINDING_MISMATCH",
        `Keon receipt ${decisionId} was decided for other parameters (subject hash ${issued.subjectHash})`,
        { decisionId },
      );
    const body: KeonExecuteRequest = {
      correlationId: issued.correlationId,
      decisionReceiptId: decisionId,
      tenantId: issued.tenantId,
      actorId: issued.actorId,
      action,
      parameters: sent,
    };
    return { issued, body: JSON.stringify(body) };
  }

  /**
   * `POST /execute` for a prepared execution whose receipt the core has claimed.
   * @internal
   */
  async [SEND](prepared: PreparedExecution, signal: AbortSignal | undefined): Promise<ExecutionResult> {
    const { issued } = prepared;
    // Claimed: whatever happens next, it is not executed twice from here.
    this.#issued.set(issued.receiptId, { ...issued, spent: true });
    const data = await this.#transport.post(
      "execute",
      prepared.body,
      { correlationId: issued.correlationId, receiptId: issued.receiptId },
      "unsent",
      signal,
    );
    const r = parseAnswer(executionResultSchema, data, "execution result");
    if (r.decisionReceiptId !== issued.receiptId || r.correlationId !== issued.correlationId)
      throw new ContractError(
        `Keon's execution result is for receipt ${r.decisionReceiptId} (${clip(this.#clean(r.correlationId))}), not ${issued.receiptId}.`,
        { reason: "EXECUTION_BINDING_MISMATCH" },
      );
    return Object.freeze({
      executionId: r.executionId,
      correlationId: r.correlationId,
      decisionReceiptId: r.decisionReceiptId,
      status: r.status,
      result: r.result,
      executedAt: new Date(r.executedAt),
      completedAt: r.completedAt == null ? null : new Date(r.completedAt),
      raw: data as Record<string, unknown>,
    });
  }

  #resourceOf(intent: WireEnforceRequest): { type: string; id: string } {
    const mapped = this.#resource(intent.action.resource, intent) as unknown;
    const { type, id } = (typeof mapped === "object" && mapped !== null ? mapped : {}) as Record<string, unknown>;
    if (typeof type !== "string" || type === "" || typeof id !== "string" || id === "")
      throw new ValidationError(
        "action.resource",
        `"${clip(intent.action.resource)}" gives no Keon resource type and id: write it "<type>:<id>", e.g. "workflow:workflow-789"`,
      );
    return { type, id };
  }

  #receipt(r: WireDecisionReceipt): DecisionReceipt {
    return Object.freeze({
      receiptId: r.receiptId,
      decision: r.decision,
      correlationId: r.correlationId,
      tenantId: r.tenantId,
      actorId: r.actorId,
      decidedAt: r.decidedAt,
      expiresAt: r.expiresAt ?? null,
      reason: r.reason == null ? null : this.#clean(r.reason),
      appliedPolicies: Object.freeze([...(r.appliedPolicies ?? [])]),
    });
  }

  /** `text` from the server without the credential, should it echo it. */
  #clean(text: string): string {
    return text.split(this.#secret).join("[redacted]");
  }

  #remember(issued: Issued): void {
    if (this.#issued.size >= MAX_ISSUED) {
      const now = Date.now();
      for (const [id, entry] of this.#issued) if (entry.expiresAtMs <= now) this.#issued.delete(id);
      // Still full of live receipts: the oldest can no longer be executed remotely (it fails closed).
      if (this.#issued.size >= MAX_ISSUED) this.#issued.delete(this.#issued.keys().next().value!);
    }
    this.#issued.set(issued.receiptId, issued);
  }
}

/** The default {@link ResourceMapper}. */
function splitResource(resource: string, intent: WireEnforceRequest): { type: string; id: string } {
  const colon = resource.indexOf(":");
  if (colon < 0) return { type: intent.downstream_target.system, id: resource };
  return { type: resource.slice(0, colon), id: resource.slice(colon + 1) };
}

function parseAnswer<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0]!;
  throw new ContractError(
    `Keon's ${what} does not match the Keon Runtime API (first issue at ${first.path.join(".") || "data"}: ` +
      `${first.message}); nothing ran.`,
    { issues: parsed.error.issues },
  );
}

function checkBaseUrl(value: unknown): string {
  if (typeof value !== "string")
    throw new ConfigurationError("baseUrl", 'baseUrl is required, e.g. "https://api.keon.systems/runtime/v1"');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError("baseUrl", 'baseUrl is not a URL: use e.g. "https://api.keon.systems/runtime/v1"');
  }
  if (url.username !== "" || url.password !== "")
    throw new ConfigurationError("baseUrl", "baseUrl must not contain credentials: pass apiKey or bearerToken");
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.search !== "" || url.hash !== "")
    throw new ConfigurationError("baseUrl", `baseUrl "${shown}" must not have a query or fragment`);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.test(url.hostname)))
    throw new ConfigurationError(
      "baseUrl",
      `baseUrl "${shown}" must use https: (http: is allowed only to 127.0.0.0/8, localhost or [::1])`,
    );
  return shown.replace(/\/+$/, "");
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
