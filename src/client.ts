import type { Decision } from "./decision.js";
import { Enforcer, type CallOptions } from "./enforcer.js";
import { BlockedError } from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import type { DecisionGateway } from "./gateway/gateway.js";
import { HttpGateway } from "./gateway/http.js";
import type { ExecutionIntent, IntentInput } from "./intent/capture.js";
import { observe, resolveOptions, type ClientOptions } from "./options.js";
import { makeGate, type GateDecorator, type GateOptions } from "./gate/gate.js";

/** Options of `client.enforce` when it should also run the action. */
export interface EnforceExecuteOptions<R> extends CallOptions {
  /** Runs once, only on an accepted ALLOW, with the decision. Its result or error passes through untouched. */
  execute: (decision: Decision) => R;
}

/**
 * A connection to a Decionis authority: options in, the adapters out.
 *
 * @example
 * const client = new DecionisClient({ apiKey, tenantId: "trading_client_001", system: "broker" });
 * const transfer = client.gate(transferFunds, { action: "TRANSFER_FUNDS", actor: { id: "treasury-agent", type: "AI_AGENT" } });
 *
 * @throws {@link ConfigurationError} for a missing API key, a non-https base URL or an option out of range.
 */
export class DecionisClient {
  /** The authority's base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** Default tenant of intents, if set. */
  readonly tenantId: string | undefined;
  /** Default `downstream_target.system`, if set. */
  readonly system: string | undefined;
  readonly #gateway: DecisionGateway;
  readonly #enforcer: Enforcer;

  constructor(options: ClientOptions = {}) {
    const resolved = resolveOptions(options);
    this.baseUrl = resolved.baseUrl;
    this.tenantId = resolved.tenantId;
    this.system = resolved.system;
    if (resolved.gateway !== undefined) {
      this.#gateway = resolved.gateway;
    } else {
      if (resolved.apiKey === undefined)
        throw new ConfigurationError(
          "apiKey",
          "apiKey is required: pass new DecionisClient({ apiKey }) or set DECIONIS_API_KEY",
        );
      this.#gateway = new HttpGateway({
        baseUrl: resolved.baseUrl,
        apiKey: resolved.apiKey,
        timeoutMs: resolved.timeoutMs,
        retryPolicy: resolved.retryPolicy,
        onRetry: (event) => {
          observe(resolved.hooks.onRetry, event);
        },
      });
    }
    this.#enforcer = new Enforcer(resolved, this.#gateway);
  }

  /**
   * Asks for a decision and requires ALLOW. With `execute`, also runs it once
   * on an accepted ALLOW and returns its result.
   *
   * @example
   * const decision = await client.enforce({ actor, action: { type: "REFUND", resource: orderId }, parameters: { amount } });
   * const result = await client.enforce(intent, { execute: (decision) => payments.refund(orderId) });
   *
   * @throws {@link BlockedError} on BLOCK, ESCALATE, REVIEW_REQUIRED or ERROR.
   * @throws {@link ValidationError} for bad input, before any request.
   * @throws {@link InvalidReceiptError} / {@link BindingMismatchError} / {@link ContractError} when an answer cannot be trusted.
   * @throws {@link RetryExhaustedError} and the other transport errors when the authority cannot be asked.
   */
  enforce(input: IntentInput, options?: CallOptions): Promise<Decision>;
  enforce<R>(input: IntentInput, options: EnforceExecuteOptions<R>): Promise<Awaited<R>>;
  async enforce<R>(
    input: IntentInput,
    options: CallOptions & { execute?: (decision: Decision) => R } = {},
  ): Promise<Decision | Awaited<R>> {
    let intent: ExecutionIntent | undefined;
    let decision: Decision;
    try {
      intent = this.#enforcer.capture(input);
      decision = await this.#enforcer.ask(intent, options);
      if (decision.status !== "ALLOW") throw new BlockedError(decision);
      if (options.execute === undefined) return decision;
      this.#enforcer.claim(decision);
    } catch (error) {
      this.#enforcer.reportError(error, intent);
      throw error;
    }
    return await options.execute(decision);
  }

  /**
   * Asks for a decision and returns it whatever its status: the low-level half
   * of `enforce`. Pass an ALLOW receipt to {@link DecionisClient.execute} to act on it.
   *
   * @throws {@link ValidationError}, transport and contract errors; never {@link BlockedError}.
   */
  async decide(input: IntentInput, options: CallOptions = {}): Promise<Decision> {
    let intent: ExecutionIntent | undefined;
    try {
      intent = this.#enforcer.capture(input);
      return await this.#enforcer.ask(intent, options);
    } catch (error) {
      this.#enforcer.reportError(error, intent);
      throw error;
    }
  }

  /**
   * Runs `fn` once under an ALLOW receipt from {@link DecionisClient.decide}.
   *
   * @throws {@link MissingReceiptError} without a receipt; {@link BlockedError} for a non-ALLOW one;
   *   {@link InvalidReceiptError} for an expired, foreign or already used one.
   */
  async execute<R>(receipt: Decision | null | undefined, fn: (decision: Decision) => R): Promise<Awaited<R>> {
    let decision: Decision;
    try {
      decision = this.#enforcer.claim(receipt);
    } catch (error) {
      this.#enforcer.reportError(error, undefined);
      throw error;
    }
    return await fn(decision);
  }

  /**
   * `gate` bound to this client: a decorator, or a wrapper of `fn`.
   * @see {@link gate}
   */
  gate<A extends unknown[] = any[], T = any>(options: Omit<GateOptions<A, T>, "client">): GateDecorator<A, T>;
  gate<A extends unknown[], R, T = unknown>(
    fn: (this: T, ...args: A) => R,
    options: Omit<GateOptions<A, T>, "client">,
  ): (this: T, ...args: A) => Promise<Awaited<R>>;
  gate(fnOrOptions: unknown, maybeOptions?: unknown): unknown {
    if (typeof fnOrOptions === "function")
      return makeGate({ ...(maybeOptions as GateOptions), client: this })(fnOrOptions as (...a: unknown[]) => unknown);
    return makeGate({ ...(fnOrOptions as GateOptions), client: this }) as unknown;
  }

  /** Releases sockets. The client is not usable afterwards. */
  async close(): Promise<void> {
    await this.#gateway.close?.();
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, tenantId: this.tenantId, system: this.system };
  }
}
