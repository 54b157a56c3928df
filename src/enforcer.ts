/**
 * The one place that decides whether user code runs:
 * capture → ask (gateway) → validate → accept (protocol 2.5) → verify → run.
 * Every path that is not an accepted ALLOW throws and runs nothing.
 */
import { toDecision, type Decision } from "./decision.js";
import { DecionisError } from "./errors/base.js";
import {
  BindingMismatchError,
  BlockedError,
  ContractError,
  InvalidReceiptError,
  MissingReceiptError,
} from "./errors/decision.js";
import { TransportError } from "./errors/transport.js";
import { enforceRequest, type DecisionGateway } from "./gateway/gateway.js";
import { wireDecisionSchema } from "./gateway/wire.js";
import { captureIntent, type ExecutionIntent, type IntentInput } from "./intent/capture.js";
import { observe, type ClientHooks, type ResolvedOptions } from "./options.js";

/** Per-call options of `enforce` / `decide`. */
export interface CallOptions {
  /** Aborts the request to the authority; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What the enforcer remembers of a receipt it issued. */
interface ReceiptState {
  intent: ExecutionIntent;
  used: boolean;
}

/** @internal */
export class Enforcer {
  readonly #receipts = new WeakMap<Decision, ReceiptState>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly gateway: DecisionGateway,
  ) {}

  capture(input: IntentInput): ExecutionIntent {
    const o = this.options;
    return captureIntent(input, {
      tenantId: o.tenantId,
      system: o.system,
      intentTtlMs: o.intentTtlMs,
      mode: o.mode,
      now: Date.now,
    });
  }

  /**
   * Asks for a decision on a captured intent. Returns any status; throws on
   * transport and contract failures, a binding mismatch, or an ALLOW that fails acceptance.
   */
  async ask(intent: ExecutionIntent, call: CallOptions = {}): Promise<Decision> {
    const started = performance.now();
    const b = intent.binding;
    let body: unknown;
    try {
      body = await this.gateway.enforceAndBind(enforceRequest(intent.body, b.idempotency_key, intent.correlationId), {
        signal: call.signal,
      });
    } catch (error) {
      throw asSdkError(error, call.signal);
    }
    const decision = this.#toDecision(body, intent);
    this.#emit("onDecision", { decision, intent, shadow: false, durationMs: performance.now() - started });
    if (decision.status === "ALLOW") this.#accept(decision, intent);
    this.#receipts.set(decision, { intent, used: false });
    return decision;
  }

  /**
   * Claims `decision` for one run: it must be a receipt this enforcer issued,
   * an ALLOW that still passes acceptance, and not claimed before. The caller
   * runs the user's function right after, and nowhere else.
   */
  claim(decision: Decision | null | undefined): Decision {
    if (decision === null || decision === undefined) throw new MissingReceiptError();
    const state = this.#receipts.get(decision);
    if (state === undefined)
      throw new InvalidReceiptError(
        "RECEIPT_UNKNOWN",
        "This receipt was not issued by this client's decide(): pass the object decide() returned",
      );
    if (decision.status !== "ALLOW") throw new BlockedError(decision);
    if (state.used)
      throw new InvalidReceiptError(
        "RECEIPT_ALREADY_USED",
        `Receipt ${decision.decisionId} was already executed once`,
        {
          decisionId: decision.decisionId,
        },
      );
    // Re-checked now: time may have passed since the decision.
    this.#accept(decision, state.intent);
    state.used = true;
    return decision;
  }

  /** Reports a failure of the SDK's own machinery (never the gated function's error). */
  reportError(error: unknown, intent: ExecutionIntent | undefined): void {
    if (!(error instanceof BlockedError)) this.#emit("onError", { error, intent });
  }

  #toDecision(body: unknown, intent: ExecutionIntent): Decision {
    const parsed = wireDecisionSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError(
        `The authority's decision does not match the protocol (${parsed.error.issues.length} issue(s), first at ` +
          `${parsed.error.issues[0]!.path.join(".") || "body"}: ${parsed.error.issues[0]!.message}); nothing ran.`,
        { issues: parsed.error.issues },
      );
    const wire = parsed.data;
    if (wire.action_hash !== intent.intentHash) throw new BindingMismatchError(intent.intentHash, wire.action_hash);
    return toDecision(wire, body as Record<string, unknown>, {
      intentId: intent.binding.intent_id,
      idempotencyKey: intent.binding.idempotency_key,
      correlationId: intent.correlationId,
    });
  }

  /** Protocol 2.5 for an ALLOW; throws {@link InvalidReceiptError} naming the failed check. */
  #accept(d: Decision, intent: ExecutionIntent): void {
    const id = { decisionId: d.decisionId };
    if (!d.shouldExecute)
      throw new InvalidReceiptError(
        "SHOULD_EXECUTE_FALSE",
        `Decision ${d.decisionId} is ALLOW but should_execute is false`,
        id,
      );
    if (d.executionToken === null)
      throw new InvalidReceiptError(
        "TOKEN_MISSING",
        `Decision ${d.decisionId} is ALLOW without an execution token`,
        id,
      );
    if (d.dossierId === null)
      throw new InvalidReceiptError("DOSSIER_ID_MISSING", `Decision ${d.decisionId} is ALLOW without a dossier id`, id);
    const expiresAt = d.executionTokenExpiresAt;
    if (expiresAt === null)
      throw new InvalidReceiptError(
        "TOKEN_EXPIRY_MISSING",
        `Decision ${d.decisionId} is ALLOW without an execution token expiry`,
        id,
      );
    const now = Date.now();
    if (expiresAt.getTime() <= now)
      throw new InvalidReceiptError(
        "TOKEN_EXPIRED",
        `The grant of decision ${d.decisionId} expired at ${expiresAt.toISOString()}`,
        { ...id, expiredAt: expiresAt.toISOString() },
      );
    if (expiresAt.getTime() > Date.parse(intent.binding.expires_at))
      throw new InvalidReceiptError(
        "TOKEN_OUTLIVES_INTENT",
        `The grant of decision ${d.decisionId} (until ${expiresAt.toISOString()}) outlives its intent (until ${intent.binding.expires_at})`,
        id,
      );
  }

  #emit<K extends keyof ClientHooks>(name: K, event: Parameters<NonNullable<ClientHooks[K]>>[0]): void {
    observe(this.options.hooks[name] as ((e: typeof event) => unknown) | undefined, event);
  }
}

/**
 * Whatever a gateway threw becomes an SDK error; an abort stays the signal's reason.
 * @internal
 */
export function asSdkError(error: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof DecionisError) return error;
  return new TransportError("The gateway failed with an unexpected error; nothing ran.", {
    code: "GATEWAY_FAILED",
    retryable: false,
    details: { errorName: error instanceof Error ? error.name : typeof error },
  });
}
