/**
 * The authority as the enforcer sees it: a {@link DecisionGateway} wrapped so
 * that every answer comes back checked against the protocol and typed, every
 * failure is an SDK error, and every wait ends at once when the caller aborts.
 * Answers are checked here, in one place, whatever gateway the client has.
 */
import { dossierSchema, type Dossier } from "./dossier.js";
import { DecionisError } from "./errors/base.js";
import { ContractError, InvalidReceiptError } from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import { RequestRejectedError, TransportError } from "./errors/transport.js";
import { enforceRequest, type DecisionGateway, type GatewayCallOptions } from "./gateway/gateway.js";
import {
  wireConsumeResponseSchema,
  wireDecisionSchema,
  wireHealthSchema,
  type WireConsumeRequest,
  type WireConsumeResponse,
  type WireDecision,
  type WireHealth,
  type WireOutcome,
} from "./gateway/wire.js";
import type { ExecutionIntent } from "./intent/capture.js";

/**
 * Settles with `work`, or rejects with the signal's reason the moment it
 * aborts. `work` is still settled quietly, so nothing leaks as an unhandled rejection.
 * @internal
 */
export function abortable<T>(work: Promise<T> | T, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return Promise.resolve(work);
  if (signal.aborted) {
    if (work instanceof Promise) work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  if (!(work instanceof Promise)) return Promise.resolve(work);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        // The work's own failure, passed through as it is (the caller maps it).
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      },
    );
  });
}

/** What an unexpected gateway failure means for the action: before it, nothing ran. */
const NOTHING_RAN = "The gateway failed with an unexpected error; nothing ran.";

/**
 * Whatever a gateway threw becomes an SDK error; an abort stays the signal's reason.
 * @internal
 */
export function asSdkError(error: unknown, signal?: AbortSignal, message = NOTHING_RAN): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof DecionisError) return error;
  return new TransportError(message, {
    code: "GATEWAY_FAILED",
    retryable: false,
    details: { errorName: error instanceof Error ? error.name : typeof error },
  });
}

/**
 * Checks a decision body against the protocol.
 * @throws {@link ContractError} naming the first issue.
 * @internal
 */
export function parseDecision(body: unknown, what: string): WireDecision {
  const parsed = wireDecisionSchema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ContractError(
      `The authority's ${what} does not match the protocol (${parsed.error.issues.length} issue(s), first at ` +
        `${first.path.join(".") || "body"}: ${first.message}); nothing ran.`,
      { issues: parsed.error.issues },
    );
  }
  return parsed.data;
}

/** @internal The checked, typed, abortable face of a gateway. */
export class Authority {
  constructor(readonly gateway: DecisionGateway) {}

  #need<K extends keyof DecisionGateway>(method: K): NonNullable<DecisionGateway[K]> {
    const fn = this.gateway[method];
    if (typeof fn !== "function")
      throw new ConfigurationError("gateway", `The client's gateway has no ${method}() method, which this call needs`);
    return fn;
  }

  /** Whether the gateway can serve `method`. */
  has(method: keyof DecisionGateway): boolean {
    return typeof this.gateway[method] === "function";
  }

  async #call<T>(work: () => Promise<T>, signal: AbortSignal | undefined, message?: string): Promise<T> {
    try {
      return await abortable(work(), signal);
    } catch (error) {
      throw asSdkError(error, signal, message);
    }
  }

  /** `enforce-and-bind`: the decision body, checked against the protocol; the body as received too. */
  async decide(
    intent: ExecutionIntent,
    signal: AbortSignal | undefined,
    options: GatewayCallOptions = { signal },
  ): Promise<{ wire: WireDecision; raw: Record<string, unknown> }> {
    const request = enforceRequest(intent.body, intent.idempotencyKey, intent.correlationId);
    // #call inlined: this runs once per gated call, and a closure per call is measurable there.
    let body: unknown;
    try {
      const work = this.gateway.enforceAndBind(request, options);
      body = await abortable(work, signal);
    } catch (error) {
      throw asSdkError(error, signal);
    }
    return { wire: parseDecision(body, "decision"), raw: body as Record<string, unknown> };
  }

  /** One poll of an escalation; the escalation waiter checks the body. */
  escalation(escalationId: string, signal: AbortSignal | undefined): Promise<unknown> {
    const get = this.#need("getEscalation");
    return this.#call(() => get.call(this.gateway, escalationId, { signal }), signal);
  }

  /** `consume-token`, checked; a 409 `TOKEN_ALREADY_CONSUMED` is {@link InvalidReceiptError} `TOKEN_CONSUMED`. */
  async consume(
    request: WireConsumeRequest,
    decisionId: string,
    signal: AbortSignal | undefined,
  ): Promise<WireConsumeResponse> {
    const consume = this.#need("consumeToken");
    let body: unknown;
    try {
      body = await abortable(consume.call(this.gateway, request, { signal }), signal);
    } catch (error) {
      if (!signal?.aborted && error instanceof RequestRejectedError && error.serverCode === "TOKEN_ALREADY_CONSUMED")
        throw new InvalidReceiptError("TOKEN_CONSUMED", `The grant of decision ${decisionId} was already consumed`, {
          decisionId,
        });
      throw asSdkError(error, signal);
    }
    const parsed = wireConsumeResponseSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError("The authority's consume-token answer does not match the protocol; nothing ran.", {
        issues: parsed.error.issues,
      });
    return parsed.data;
  }

  /** The JWKS getter, if the gateway has one (the key ring checks what it returns). */
  jwksFetcher(): ((url?: string) => Promise<unknown>) | undefined {
    if (!this.has("getJwks")) return undefined;
    const getJwks = this.#need("getJwks");
    return (url) => this.#call(() => getJwks.call(this.gateway, url === undefined ? {} : { url }), undefined);
  }

  /**
   * `outcome` of a decision. Async, so that a gateway without the method fails
   * the report (the outcome queue tells `onError`) and never throws into the
   * run that has already happened.
   */
  async reportOutcome(decisionId: string, outcome: WireOutcome): Promise<unknown> {
    const report = this.#need("reportOutcome");
    return this.#call(
      () => report.call(this.gateway, decisionId, outcome),
      undefined,
      `The gateway failed with an unexpected error reporting the outcome of decision ${decisionId}; the action had run.`,
    );
  }

  /** A dossier, checked. */
  async dossier(dossierId: string, signal: AbortSignal | undefined): Promise<Dossier> {
    const get = this.#need("getDossier");
    const body = await this.#call(() => get.call(this.gateway, dossierId, { signal }), signal);
    const parsed = dossierSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError(`Dossier ${dossierId} does not match the protocol.`, { issues: parsed.error.issues });
    return parsed.data;
  }

  /** `health`, checked. */
  async health(signal: AbortSignal | undefined): Promise<WireHealth> {
    const health = this.#need("health");
    const body = await this.#call(() => health.call(this.gateway, { signal }), signal);
    const parsed = wireHealthSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError("The health answer does not match the protocol.", { issues: parsed.error.issues });
    return parsed.data;
  }

  close(): void | Promise<void> {
    return this.gateway.close?.();
  }
}
