import type { Decision } from "./decision.js";
import type { Dossier } from "./dossier.js";
import {
  Enforcer,
  GATED_CALL,
  type CallOptions,
  type CallSettings,
  type IntentSource,
  type Runner,
} from "./enforcer.js";
import type { BlockedError } from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import type { WaitOptions } from "./escalation/wait.js";
import { type DecisionGateway } from "./gateway/gateway.js";
import { HttpGateway } from "./gateway/http.js";
import { UndiciGateway } from "./gateway/undici.js";
import type { IntentInput } from "./intent/capture.js";
import { observe, ownOptions, resolveOptions, type ClientOptions, type VerifyMode } from "./options.js";
import { registerClientFactory } from "./default-client.js";
import { withCircuitBreaker } from "./gateway/breaker.js";
import { makeGate, type GateDecorator, type GateOptions } from "./gate/gate.js";

/** Options of `client.enforce` when it should also run the action. */
export interface EnforceExecuteOptions<R> extends CallOptions {
  /**
   * Runs once, only on an accepted ALLOW, with the decision. Its result or
   * error passes through untouched. In SHADOW mode it runs at once, with
   * `undefined`: no decision is awaited. (Method syntax, so a callback
   * typed `(d: Decision) => …` still fits: it is only given `undefined` in SHADOW mode.)
   */
  execute(decision: Decision | undefined): R;
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
  readonly #enforcer: Enforcer;

  constructor(options: ClientOptions = {}) {
    const resolved = resolveOptions(options);
    this.baseUrl = resolved.baseUrl;
    this.tenantId = resolved.tenantId;
    this.system = resolved.system;
    let gateway: DecisionGateway;
    if (resolved.gateway !== undefined) {
      gateway = resolved.gateway;
    } else {
      if (resolved.apiKey === undefined)
        throw new ConfigurationError(
          "apiKey",
          "apiKey is required: pass new DecionisClient({ apiKey }) or set DECIONIS_API_KEY",
        );
      // undici is loaded here, only when chosen: a missing package fails now, before any request.
      const Gateway = resolved.transport === "undici" ? UndiciGateway : HttpGateway;
      gateway = new Gateway({
        baseUrl: resolved.baseUrl,
        apiKey: resolved.apiKey,
        timeoutMs: resolved.timeoutMs,
        retryPolicy: resolved.retryPolicy,
        onRetry: (event) => {
          observe(resolved.hooks.onRetry, event);
        },
      });
    }
    gateway = withCircuitBreaker(gateway, resolved.circuitBreaker, (e) => {
      observe(resolved.hooks.onCircuitStateChange, e);
    });
    this.#enforcer = new Enforcer(resolved, gateway);
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
  enforce<R>(
    input: IntentInput,
    options: CallOptions & { execute?: (decision: Decision | undefined) => R } = {},
  ): Promise<Decision | Awaited<R>> {
    const execute =
      typeof options === "object" && options !== null && Object.hasOwn(options, "execute")
        ? options.execute
        : undefined;
    return this[GATED_CALL](() => input, options, execute);
  }

  /**
   * The pipeline behind `enforce` and every gate: `source` is read once to ask
   * and once more right before `run`. Not part of the public API.
   * @internal
   */
  [GATED_CALL]<R>(
    source: IntentSource,
    options: CallOptions,
    run: Runner<R> | undefined,
  ): Promise<Decision | Awaited<R>> {
    // Not async (one promise less per call), yet a bad option rejects like every
    // other failure: it never throws synchronously.
    let settings: CallSettings;
    try {
      settings = this.#enforcer.settings(options);
    } catch (error) {
      // The settings' own ConfigurationError, passed through as it is.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    return this.#enforcer.enforce(source, settings, run);
  }

  /**
   * Asks for a decision and returns it whatever its status: the low-level half
   * of `enforce`. Pass an ALLOW receipt to {@link DecionisClient.execute} to act on it.
   *
   * @throws {@link ValidationError}, transport and contract errors; never {@link BlockedError}.
   */
  async decide(input: IntentInput, options: CallOptions = {}): Promise<Decision> {
    return this.#enforcer.decide(() => input, this.#enforcer.settings(options));
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
    const { reportOutcome } = this.#enforcer.settings(options);
    return this.#enforcer.execute(receipt, fn as Runner<R>, reportOutcome);
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
    const { verify, ...wait } = ownOptions(
      options,
      ["timeoutMs", "signal", "onUpdate", "verify"],
      "waitForDecision",
    ) as WaitForDecisionOptions;
    return this.#enforcer.waitFor(target, wait, this.#enforcer.settings(verify === undefined ? {} : { verify }).verify);
  }

  /** The decision record (protocol 6); check it with {@link verifyDossier}. */
  async getDossier(dossierId: string, options: Pick<CallOptions, "signal"> = {}): Promise<Dossier> {
    return this.#enforcer.authority.dossier(dossierId, options.signal);
  }

  /** Checks the authority is reachable and answering: `GET /v1/health`. */
  async ping(
    options: Pick<CallOptions, "signal"> = {},
  ): Promise<{ status: string; version: string; latencyMs: number }> {
    const started = performance.now();
    const health = await this.#enforcer.authority.health(options.signal);
    return { ...health, latencyMs: performance.now() - started };
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
    await this.#enforcer.authority.close();
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, tenantId: this.tenantId, system: this.system };
  }
}

// The default client is built from the environment on first use; this copy's class builds it.
registerClientFactory((options) => new DecionisClient(options));
