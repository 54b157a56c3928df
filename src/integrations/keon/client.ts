/**
 * A `DecionisClient` that speaks Keon: the same `gate`, `enforce`, `decide`
 * and local `execute`, plus Keon's remote execution (`POST /execute`) and
 * `decideAndExecute`. Built only on the core's public API.
 */
import {
  ConfigurationError,
  DecionisClient,
  type CallOptions,
  type ClientOptions,
  type Decision,
  type IntentInput,
} from "../../index.js";
import {
  KeonGateway,
  PREPARE,
  SEND,
  type DecisionReceipt,
  type ExecutionResult,
  type KeonExecuteInput,
  type KeonGatewayOptions,
  type PreparedExecution,
} from "./gateway.js";
import { TENANT_ID_PATTERN } from "./wire.js";

/**
 * Options of {@link createKeonClient}: the gateway's, and the client options that apply to Keon.
 * `tenantId` defaults to `DECIONIS_TENANT_ID`, as for any `DecionisClient`; `hooks.onRetry` is told of Keon retries.
 */
export interface KeonClientOptions
  extends
    Omit<KeonGatewayOptions, "onRetry">,
    Pick<ClientOptions, "tenantId" | "system" | "intentTtlMs" | "hooks" | "replayStore" | "mode"> {}

/** Options of a remote execution. */
export interface KeonExecuteOptions {
  /** Aborts the request; the call rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * A {@link DecionisClient} whose authority is a Keon runtime. Gated functions
 * and `enforce(…, { execute })` still run locally, once, on an allow; Keon's
 * own execution is `execute(receipt, { action, parameters })`.
 *
 * @example
 * const keon = createKeonClient({ baseUrl: "https://api.keon.systems/runtime/v1", apiKey, tenantId: "tenant-123" });
 * const receipt = await keon.decide({ actor: { id: "user-456", type: "USER" }, action: { type: "execute_workflow", resource: "workflow:workflow-789" } });
 * if (receipt.allowed) console.log((await keon.execute(receipt, { action: "execute_workflow" })).executionId);
 */
export class KeonClient extends DecionisClient {
  readonly #keon: KeonGateway;

  /** @throws {@link ConfigurationError} for a bad option (never echoing a credential). */
  constructor(options: KeonClientOptions) {
    if (typeof options !== "object" || (options as unknown) === null)
      throw new ConfigurationError("options", "createKeonClient needs options: { baseUrl, apiKey | bearerToken }");
    const { tenantId, system, intentTtlMs, hooks, replayStore, mode } = options;
    if (tenantId !== undefined && (typeof tenantId !== "string" || !TENANT_ID_PATTERN.test(tenantId)))
      throw new ConfigurationError("tenantId", 'A Keon tenantId is letters, digits, "_" and "-" only');
    const gateway = new KeonGateway({ ...options, onRetry: (event) => hooks?.onRetry?.(event) });
    super({
      gateway,
      baseUrl: gateway.baseUrl,
      // Keon signs nothing: the receipt's id, expiry and single use are what is checked.
      verify: "none",
      ...defined({ tenantId, system, intentTtlMs, hooks, replayStore, mode }),
    });
    this.#keon = gateway;
  }

  /**
   * Runs `fn` locally, once, under an allow receipt (as {@link DecionisClient.execute});
   * or, given `{ action?, parameters? }`, has Keon execute the action (`POST /execute`).
   *
   * Before any request: no receipt throws {@link MissingReceiptError}, a deny
   * {@link BlockedError} (alias {@link ExecutionDeniedError}), an expired, foreign
   * or used one {@link InvalidReceiptError}, and an action or parameters other than
   * the decided ones {@link InvalidReceiptError} with code `TOKEN_BINDING_MISMATCH`.
   *
   * @example
   * const result = await keon.execute(receipt, { action: "execute_workflow", parameters: { workflowId: "workflow-789" } });
   */
  override execute<R>(
    receipt: Decision | null | undefined,
    fn: (decision: Decision) => R,
    options?: Pick<CallOptions, "reportOutcome">,
  ): Promise<Awaited<R>>;
  override execute(
    receipt: Decision | null | undefined,
    request?: KeonExecuteInput,
    options?: KeonExecuteOptions,
  ): Promise<ExecutionResult>;
  override async execute<R>(
    receipt: Decision | null | undefined,
    second?: ((decision: Decision) => R) | KeonExecuteInput,
    options: Pick<CallOptions, "reportOutcome"> & KeonExecuteOptions = {},
  ): Promise<Awaited<R> | ExecutionResult> {
    if (typeof second === "function") return super.execute(receipt, second, options);
    let prepared: PreparedExecution | undefined;
    // Checked before the core claims the receipt, so a wrong call does not use it up.
    if (typeof receipt === "object" && receipt !== null && receipt.status === "ALLOW")
      prepared = this.#keon[PREPARE](receipt, second ?? {});
    const signal = options.signal;
    // Aborted already: keep the receipt unused.
    signal?.throwIfAborted();
    return super.execute(receipt, () => this.#keon[SEND](prepared!, signal));
  }

  /**
   * Decides, then has Keon execute the decided action with the intent's
   * parameters: the Keon SDK's `decide_and_execute`.
   *
   * @example
   * const result = await keon.decideAndExecute({ actor, action: { type: "execute_workflow", resource: "workflow:workflow-789" }, parameters: { inputs: { param1: "value1" } } });
   *
   * @throws {@link BlockedError} (alias {@link ExecutionDeniedError}) on a deny; the errors of `decide` and `execute`.
   */
  async decideAndExecute(intent: IntentInput, options: KeonExecuteOptions = {}): Promise<ExecutionResult> {
    const receipt = await this.decide(intent, options.signal === undefined ? {} : { signal: options.signal });
    return this.execute(receipt, {}, options);
  }
}

/**
 * A {@link KeonClient}: a `DecionisClient` speaking the Keon Runtime API v1.
 *
 * @example
 * const keon = createKeonClient({ baseUrl: "https://api.keon.systems/runtime/v1", apiKey: process.env.KEON_API_KEY, tenantId: "tenant-123" });
 * const refund = keon.gate(refundOrder, { action: "REFUND", actor: { id: "billing-bot", type: "SERVICE" }, resource: (id: string) => `order:${id}` });
 *
 * @throws {@link ConfigurationError} for a bad option: not exactly one of `apiKey` and `bearerToken`, a non-https `baseUrl`, a tenant id Keon refuses.
 */
export function createKeonClient(options: KeonClientOptions): KeonClient {
  return new KeonClient(options);
}

/**
 * The Keon receipt behind a decision of a Keon client, as Keon sent it; `undefined` for any other decision.
 *
 * @example
 * const receipt = await keon.decide(intent);
 * console.log(keonReceipt(receipt)?.appliedPolicies);
 */
export function keonReceipt(decision: Decision): DecisionReceipt | undefined {
  const receipt = (decision.raw as { receipt?: unknown }).receipt;
  return typeof receipt === "object" && receipt !== null && "receiptId" in receipt
    ? (receipt as DecisionReceipt)
    : undefined;
}

function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
