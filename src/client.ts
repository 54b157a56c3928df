import type { Decision } from "./decision.js";
import { dossierSchema, type Dossier } from "./dossier.js";
import { asSdkError, Enforcer, type CallOptions } from "./enforcer.js";
import { BlockedError, ContractError } from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import type { WaitOptions } from "./escalation/wait.js";
import { type DecisionGateway } from "./gateway/gateway.js";
import { HttpGateway } from "./gateway/http.js";
import { wireHealthSchema } from "./gateway/wire.js";
import type { ExecutionIntent, IntentInput } from "./intent/capture.js";
import { observe, resolveOptions, type ClientHooks, type ClientOptions, type VerifyMode } from "./options.js";
import { beginCall, type ObservedCall } from "./call-observer.js";
import { makeGate, type GateDecorator, type GateOptions } from "./gate/gate.js";

/** Options of `client.enforce` when it should also run the action. */
export interface EnforceExecuteOptions<R> extends CallOptions {
  /** Runs once, only on an accepted ALLOW, with the decision. Its result or error passes through untouched. */
  execute: (decision: Decision) => R;
}

/** Options of {@link DecionisClient.waitForDecision}. */
export interface WaitForDecisionOptions extends WaitOptions {
  /** Grant verification of the decision that ends the wait. @default the client's */
  verify?: VerifyMode;
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
  readonly #hooks: ClientHooks;

  constructor(options: ClientOptions = {}) {
    const resolved = resolveOptions(options);
    this.#hooks = resolved.hooks;
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
   * on an accepted, verified ALLOW and returns its result.
   *
   * With `mode: "SHADOW"` and `execute`, runs at once and reports the decision
   * only through `hooks.onDecision`; without `execute` it returns the shadow
   * decision whatever its status.
   *
   * @example
   * const decision = await client.enforce({ actor, action: { type: "REFUND", resource: orderId }, parameters: { amount } });
   * const result = await client.enforce(intent, { execute: (decision) => payments.refund(orderId) });
   *
   * @throws {@link BlockedError} on BLOCK, ESCALATE, REVIEW_REQUIRED or ERROR (or a refused escalation with `escalation: "wait"`).
   * @throws {@link ValidationError} for bad input, before any request.
   * @throws {@link InvalidReceiptError} / {@link BindingMismatchError} / {@link ContractError} when an answer cannot be trusted.
   * @throws {@link RetryExhaustedError} and the other transport errors when the authority cannot be asked.
   */
  enforce<R>(input: IntentInput, options: EnforceExecuteOptions<R>): Promise<Awaited<R>>;
  enforce(input: IntentInput, options?: CallOptions): Promise<Decision>;
  async enforce<R>(
    input: IntentInput,
    options: CallOptions & { execute?: (decision: Decision) => R } = {},
  ): Promise<Decision | Awaited<R>> {
    const call = this.#enforcer.settings(options);
    const execute = options.execute;
    if (call.mode === "SHADOW") {
      if (execute === undefined) return this.decide(input, options);
      this.#enforcer.shadow(input);
      return await execute(undefined as unknown as Decision);
    }
    let intent: ExecutionIntent | undefined;
    let decision: Decision;
    let observed: ObservedCall | undefined;
    let waitMs: number | undefined;
    try {
      intent = this.#enforcer.capture(input, "ENFORCEMENT");
      observed = beginCall(this.#hooks, { intent, verify: call.verify, escalation: call.escalation });
      decision = await this.#enforcer.ask(intent, call.verify, call.signal, observed);
      if (decision.status !== "ALLOW") {
        if (call.escalation !== "wait" || !Enforcer.escalates(decision)) throw new BlockedError(decision);
        const waitStarted = performance.now();
        // An observer hears how long a person took, granted or not.
        decision = await this.#enforcer
          .waitFor(
            decision,
            {
              ...(call.waitTimeoutMs === undefined ? {} : { timeoutMs: call.waitTimeoutMs }),
              ...(call.signal === undefined ? {} : { signal: call.signal }),
            },
            call.verify,
          )
          .finally(() => (waitMs = performance.now() - waitStarted));
      }
      if (execute === undefined) {
        observed?.end({ decision, error: undefined, waitMs });
        return decision;
      }
      // An abort that lands after the answer still stops the run.
      call.signal?.throwIfAborted();
      await this.#enforcer.claim(decision);
      call.signal?.throwIfAborted();
      observed?.end({ decision, error: undefined, waitMs });
    } catch (error) {
      observed?.end({ decision: error instanceof BlockedError ? error.decision : undefined, error, waitMs });
      this.#enforcer.reportError(error, intent);
      throw error;
    }
    return this.#enforcer.run(decision, execute, call.reportOutcome);
  }

  /**
   * Asks for a decision and returns it whatever its status: the low-level half
   * of `enforce`. Pass an ALLOW receipt to {@link DecionisClient.execute} to act on it.
   *
   * @throws {@link ValidationError}, transport and contract errors; never {@link BlockedError}.
   */
  async decide(input: IntentInput, options: CallOptions = {}): Promise<Decision> {
    const call = this.#enforcer.settings(options);
    let intent: ExecutionIntent | undefined;
    let observed: ObservedCall | undefined;
    try {
      intent = this.#enforcer.capture(input, call.mode);
      observed = beginCall(this.#hooks, { intent, verify: call.verify, escalation: call.escalation });
      const decision = await this.#enforcer.ask(intent, call.verify, call.signal, observed);
      observed?.end({ decision, error: undefined, waitMs: undefined });
      return decision;
    } catch (error) {
      observed?.end({ decision: undefined, error, waitMs: undefined });
      this.#enforcer.reportError(error, intent);
      throw error;
    }
  }

  /**
   * Runs `fn` once under an ALLOW receipt from {@link DecionisClient.decide} or
   * {@link DecionisClient.waitForDecision}.
   *
   * @throws {@link MissingReceiptError} without a receipt; {@link BlockedError} for a non-ALLOW one;
   *   {@link InvalidReceiptError} for an expired, foreign, replayed or already used one.
   */
  async execute<R>(
    receipt: Decision | null | undefined,
    fn: (decision: Decision) => R,
    options: Pick<CallOptions, "reportOutcome"> = {},
  ): Promise<Awaited<R>> {
    let decision: Decision;
    try {
      decision = await this.#enforcer.claim(receipt);
    } catch (error) {
      this.#enforcer.reportError(error, undefined);
      throw error;
    }
    return this.#enforcer.run(decision, fn, this.#enforcer.settings(options).reportOutcome);
  }

  /**
   * Waits for a person to decide an escalated call (protocol 3) and resolves
   * with the granted ALLOW, ready for {@link DecionisClient.execute}.
   *
   * @example
   * try { await bot.openPosition(big) }
   * catch (e) { if (e instanceof BlockedError && e.escalationId) await client.execute(await client.waitForDecision(e), () => broker.open(big)) }
   *
   * @throws {@link BlockedError} with `status: "BLOCK"` and `escalationStatus` (`REJECTED`, `EXPIRED`, ...) when refused.
   * @throws {@link EscalationTimeoutError} when `timeoutMs` or the escalation's expiry passes first.
   * @throws the signal's reason when aborted.
   */
  async waitForDecision(
    target: BlockedError | Decision | string,
    options: WaitForDecisionOptions = {},
  ): Promise<Decision> {
    const { verify, ...wait } = options;
    return this.#enforcer.waitFor(target, wait, this.#enforcer.settings(verify === undefined ? {} : { verify }).verify);
  }

  /** The decision record (protocol 6); check it with {@link verifyDossier}. */
  async getDossier(dossierId: string, options: Pick<CallOptions, "signal"> = {}): Promise<Dossier> {
    const gateway = this.#gateway;
    if (gateway.getDossier === undefined)
      throw new ConfigurationError("gateway", "The client's gateway has no getDossier() method");
    let body: unknown;
    try {
      body = await gateway.getDossier(dossierId, options);
    } catch (error) {
      throw asSdkError(error, options.signal);
    }
    const parsed = dossierSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError(`Dossier ${dossierId} does not match the protocol.`, { issues: parsed.error.issues });
    return parsed.data;
  }

  /** Checks the authority is reachable and answering: `GET /v1/health`. */
  async ping(
    options: Pick<CallOptions, "signal"> = {},
  ): Promise<{ status: string; version: string; latencyMs: number }> {
    const gateway = this.#gateway;
    if (gateway.health === undefined)
      throw new ConfigurationError("gateway", "The client's gateway has no health() method");
    const started = performance.now();
    let body: unknown;
    try {
      body = await gateway.health(options);
    } catch (error) {
      throw asSdkError(error, options.signal);
    }
    const parsed = wireHealthSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError("The health answer does not match the protocol.", { issues: parsed.error.issues });
    return { ...parsed.data, latencyMs: performance.now() - started };
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

  /** Sends queued outcome reports, then releases sockets. The client is not usable afterwards. */
  async close(): Promise<void> {
    await this.#enforcer.flush();
    await this.#gateway.close?.();
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, tenantId: this.tenantId, system: this.system };
  }
}
