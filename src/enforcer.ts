/**
 * The one place that decides whether user code runs:
 * capture → ask (gateway) → validate → accept (protocol 2.5) → verify (5) → claim → run.
 * Every path that is not an accepted, verified ALLOW throws and runs nothing.
 */
import { hostname } from "node:os";
import { toDecision, type Decision } from "./decision.js";
import { DecionisError } from "./errors/base.js";
import {
  BindingMismatchError,
  BlockedError,
  ContractError,
  InvalidReceiptError,
  MissingReceiptError,
} from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import { RequestRejectedError, TransportError } from "./errors/transport.js";
import { waitForEscalation, type WaitOptions } from "./escalation/wait.js";
import { enforceRequest, type DecisionGateway } from "./gateway/gateway.js";
import { z } from "zod";
import { MODES, wireConsumeResponseSchema, wireDecisionSchema, type Mode, type WireDecision } from "./gateway/wire.js";
import { readGrantHeader, verifyGrant, type GrantClaims } from "./grants/jws.js";
import { KeyRing } from "./grants/keys.js";
import { BATCH_FROM_IN_FLIGHT } from "./grants/verifier.js";
import { InMemoryReplayStore, type ReplayStore } from "./grants/replay.js";
import { captureIntent, type ExecutionIntent, type IntentInput } from "./intent/capture.js";
import { sha256Tagged } from "./intent/canonical.js";
import { observe, parseOptions, type ClientHooks, type ResolvedOptions, type VerifyMode } from "./options.js";
import { OutcomeQueue, outcomeOf } from "./outcome.js";
import type { ObservedCall } from "./call-observer.js";

/** Per-call options of `enforce` / `decide`; each overrides the client's. */
export interface CallOptions {
  /** Aborts the request (or the wait); the call rejects with the signal's reason and nothing runs. */
  signal?: AbortSignal | undefined;
  /** Grant verification for this call. @default the client's */
  verify?: VerifyMode;
  /** `"SHADOW"`: run without waiting, report the decision only. @default the client's */
  mode?: Mode;
  /** On ESCALATE / REVIEW_REQUIRED: throw, or wait for a person. @default the client's ("throw") */
  escalation?: "throw" | "wait";
  /** Longest wait with `escalation: "wait"`, ms. @default the client's, else until the escalation expires */
  waitTimeoutMs?: number;
  /** Post the outcome after an allowed call. @default the client's */
  reportOutcome?: boolean;
}

/** What the enforcer remembers of a receipt it issued. */
interface ReceiptState {
  /** The intent it answers; absent for a grant fetched by escalation id alone. */
  intent: ExecutionIntent | undefined;
  actionHash: string;
  tenantId: string | undefined;
  used: boolean;
  claims: GrantClaims | undefined;
  verify: VerifyMode;
}

const ESCALATING = new Set(["ESCALATE", "REVIEW_REQUIRED"]);

/** Decisions being asked for now, by every client of this copy of the library: the verifier's load signal. */
let asking = 0;

/** @internal */
export class Enforcer {
  readonly #receipts = new WeakMap<Decision, ReceiptState>();
  readonly #keys: KeyRing | undefined;
  readonly #replay: ReplayStore;
  readonly #outcomes: OutcomeQueue;
  readonly #defaultVerify: VerifyMode;
  readonly #consumer = `decionis-node@${hostname()}#${process.pid}`;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly gateway: DecisionGateway,
  ) {
    this.#keys = this.#keyRing();
    this.#defaultVerify = options.verify ?? (this.#keys === undefined ? "none" : "signature");
    this.#replay = options.replayStore ?? new InMemoryReplayStore();
    this.#outcomes = new OutcomeQueue(
      (job) => this.#need("reportOutcome").call(gateway, job.decisionId, job.outcome),
      (error) => {
        this.#emit("onError", { error, intent: undefined });
      },
    );
  }

  #keyRing(): KeyRing | undefined {
    const o = this.options;
    const limits = { refetchIntervalMs: o.keysRefetchIntervalMs, maxAgeMs: 10 * 60_000 };
    const keys = o.authorityKeys;
    if (typeof keys === "object") return new KeyRing("the configured authorityKeys", undefined, limits, keys);
    if (this.gateway.getJwks === undefined) {
      if (typeof keys === "string")
        throw new ConfigurationError(
          "authorityKeys",
          "authorityKeys is a URL but the gateway has no getJwks() to fetch it: pass the JWKS object instead",
        );
      return undefined;
    }
    const getJwks = this.gateway.getJwks.bind(this.gateway);
    if (typeof keys === "string") return new KeyRing(keys, () => getJwks({ url: keys }), limits);
    return new KeyRing(`${o.baseUrl}/.well-known/jwks.json`, () => getJwks(), limits);
  }

  #need<K extends keyof DecisionGateway>(method: K): NonNullable<DecisionGateway[K]> {
    const fn = this.gateway[method];
    if (typeof fn !== "function")
      throw new ConfigurationError("gateway", `The client's gateway has no ${method}() method, which this call needs`);
    return fn;
  }

  /**
   * The settings of one call: defaults < client < call. Call and gate options
   * are checked like the client's: a misspelt `verify` must not switch checks off.
   * @throws {@link ConfigurationError} naming the option.
   */
  settings(
    call: CallOptions,
  ): Required<Omit<CallOptions, "signal" | "waitTimeoutMs">> & Pick<CallOptions, "signal" | "waitTimeoutMs"> {
    if (typeof call !== "object" || call === null || Array.isArray(call)) parseOptions(callOptionsSchema, call);
    // Each option read once: what is checked is what is used.
    const { verify, mode, escalation, waitTimeoutMs, reportOutcome, signal } = call;
    // Nothing set (a plain gate's calls): nothing to check.
    if (
      verify !== undefined ||
      mode !== undefined ||
      escalation !== undefined ||
      waitTimeoutMs !== undefined ||
      reportOutcome !== undefined ||
      signal !== undefined
    )
      parseOptions(callOptionsSchema, { verify, mode, escalation, waitTimeoutMs, reportOutcome, signal });
    const o = this.options;
    const wait = waitTimeoutMs ?? o.waitTimeoutMs;
    return {
      verify: verify ?? this.#defaultVerify,
      mode: mode ?? o.mode,
      escalation: escalation ?? o.escalation,
      reportOutcome: reportOutcome ?? o.reportOutcome,
      ...(signal === undefined ? {} : { signal }),
      ...(wait === undefined ? {} : { waitTimeoutMs: wait }),
    };
  }

  capture(input: IntentInput, mode: Mode): ExecutionIntent {
    const o = this.options;
    return captureIntent(input, {
      tenantId: o.tenantId,
      system: o.system,
      intentTtlMs: o.intentTtlMs,
      mode,
      now: Date.now,
    });
  }

  /**
   * Asks for a decision on a captured intent. Returns any status; throws on
   * transport and contract failures, a binding mismatch, or an ALLOW that fails
   * acceptance or (with `verify: "signature"`) its signature and claims.
   */
  async ask(intent: ExecutionIntent, verify: VerifyMode, signal?: AbortSignal, call?: ObservedCall): Promise<Decision> {
    const started = performance.now();
    asking++;
    try {
      let body: unknown;
      try {
        body = await this.gateway.enforceAndBind(
          enforceRequest(intent.body, intent.idempotencyKey, intent.correlationId),
          call === undefined ? { signal } : call.gatewayOptions(signal),
        );
      } catch (error) {
        throw asSdkError(error, signal);
      }
      const wire = parseDecision(body, "decision");
      if (wire.action_hash !== intent.intentHash) throw new BindingMismatchError(intent.intentHash, wire.action_hash);
      const decision = toDecision(wire, body as Record<string, unknown>, {
        intentId: intent.intentId,
        idempotencyKey: intent.idempotencyKey,
        correlationId: intent.correlationId,
      });
      const shadow = intent.mode === "SHADOW";
      this.#emit("onDecision", { decision, intent, shadow, durationMs: performance.now() - started });
      if (!shadow) await this.#admit(decision, intent, verify);
      return decision;
    } finally {
      asking--;
    }
  }

  /** Accepts and verifies an ALLOW, and records any decision as a receipt. */
  async #admit(
    decision: Decision,
    intent: ExecutionIntent | undefined,
    verify: VerifyMode,
    actionHash = intent?.intentHash,
  ): Promise<void> {
    const state: ReceiptState = {
      intent,
      actionHash: actionHash ?? decision.actionHash,
      // A grant fetched by escalation id alone must at least be for this client's tenant.
      tenantId: intent?.tenantId ?? this.options.tenantId,
      used: false,
      claims: undefined,
      verify,
    };
    if (decision.status === "ALLOW") {
      accept(decision, intent);
      if (verify === "signature") state.claims = await this.#verifySignature(decision, state);
    }
    this.#receipts.set(decision, state);
  }

  async #verifySignature(d: Decision, state: ReceiptState): Promise<GrantClaims> {
    if (this.#keys === undefined)
      throw new InvalidReceiptError(
        "KEYS_UNAVAILABLE",
        'verify is "signature" but no keys are known: pass `authorityKeys` (a JWKS object or URL), or use a gateway with getJwks()',
      );
    const grant = readGrantHeader(d.executionToken!);
    const key = this.#keys.peek(grant.kid) ?? (await this.#keys.get(grant.kid));
    return verifyGrant(
      grant,
      key,
      {
        intentHash: state.actionHash,
        decisionId: d.decisionId,
        dossierId: d.dossierId,
        tenantId: state.tenantId,
        intentExpiresAtMs: state.intent?.expiresAtMs,
        clockSkewMs: this.options.clockSkewMs,
        now: Date.now(),
      },
      // Many calls waiting: keep the event loop free for them.
      asking >= BATCH_FROM_IN_FLIGHT,
    );
  }

  /**
   * Claims `decision` for one run: a receipt this enforcer issued, an ALLOW
   * that still passes acceptance, used once (in this process, or at the
   * authority with `verify: "consume"`). The caller runs the user's function
   * right after, and nowhere else.
   */
  async claim(decision: Decision | null | undefined): Promise<Decision> {
    if (decision === null || decision === undefined) throw new MissingReceiptError();
    const state = this.#receipts.get(decision);
    if (state === undefined)
      throw new InvalidReceiptError(
        "RECEIPT_UNKNOWN",
        "This receipt was not issued by this client: pass the object decide() or waitForDecision() returned",
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
    accept(decision, state.intent);
    const claims = state.claims;
    if (claims !== undefined && claims.exp * 1000 + this.options.clockSkewMs <= Date.now())
      throw new InvalidReceiptError("TOKEN_EXPIRED", `The grant of decision ${decision.decisionId} expired`, {
        decisionId: decision.decisionId,
      });
    state.used = true;
    if (state.verify === "consume") {
      await this.#consume(decision, state);
      return decision;
    }
    // One run per grant in this process whatever the mode: two receipts can carry
    // the same grant (an escalation fetched twice). Signed grants are known by jti.
    const pending =
      claims !== undefined
        ? this.#claimOnce(decision, claims.jti, claims.exp * 1000 + this.options.clockSkewMs)
        : this.#claimOnce(
            decision,
            `token:${sha256Tagged(decision.executionToken!)}`,
            decision.executionTokenExpiresAt!.getTime(),
          );
    if (pending !== undefined) await pending;
    return decision;
  }

  /** Claims `jti` in the replay store; waits only when the store is asynchronous. */
  #claimOnce(d: Decision, jti: string, expiresAtMs: number): void | Promise<void> {
    let first: boolean | Promise<boolean>;
    try {
      first = this.#replay.claim(jti, expiresAtMs);
    } catch (error) {
      throw replayStoreFailed(d, error);
    }
    if (typeof first === "boolean") {
      claimed(d, jti, first);
      return undefined;
    }
    return Promise.resolve(first).then(
      (answer) => {
        claimed(d, jti, answer);
      },
      (error: unknown) => {
        throw replayStoreFailed(d, error);
      },
    );
  }

  async #consume(d: Decision, state: ReceiptState): Promise<void> {
    const consume = this.#need("consumeToken");
    let body: unknown;
    try {
      body = await consume.call(this.gateway, {
        execution_token: d.executionToken!,
        intent_hash: state.actionHash,
        consumed_by: this.#consumer,
      });
    } catch (error) {
      if (error instanceof RequestRejectedError && error.serverCode === "TOKEN_ALREADY_CONSUMED")
        throw new InvalidReceiptError("TOKEN_CONSUMED", `The grant of decision ${d.decisionId} was already consumed`, {
          decisionId: d.decisionId,
        });
      throw asSdkError(error);
    }
    const parsed = wireConsumeResponseSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError("The authority's consume-token answer does not match the protocol; nothing ran.", {
        issues: parsed.error.issues,
      });
    const { valid, claims } = parsed.data;
    if (!valid)
      throw new InvalidReceiptError("TOKEN_NOT_VALID", "The authority says the grant is not valid", {
        decisionId: d.decisionId,
      });
    if (claims.binding.intent_hash !== state.actionHash)
      throw new InvalidReceiptError("TOKEN_BINDING_MISMATCH", "The consumed grant was for another intent", {
        decisionId: d.decisionId,
      });
    if (claims.decision_id !== d.decisionId)
      throw new InvalidReceiptError("TOKEN_DECISION_MISMATCH", "The consumed grant belongs to another decision", {
        decisionId: d.decisionId,
      });
  }

  /**
   * Waits for a person on an escalated decision (or an escalation id) and
   * returns the granted ALLOW, accepted and verified against the original intent.
   */
  async waitFor(target: BlockedError | Decision | string, options: WaitOptions, verify: VerifyMode): Promise<Decision> {
    const original = typeof target === "string" ? undefined : target instanceof BlockedError ? target.decision : target;
    const escalationId = typeof target === "string" ? target : original?.escalationId;
    if (escalationId === undefined || escalationId === null || escalationId === "")
      throw new ConfigurationError(
        "escalationId",
        "This decision has no escalation to wait for (escalation_id is null)",
      );
    const state = original === undefined ? undefined : this.#receipts.get(original);
    const getEscalation = this.#need("getEscalation");
    // Past the intent's expiry no grant can be valid: waiting longer is pointless.
    const intentLeft = state?.intent === undefined ? undefined : Math.max(0, state.intent.expiresAtMs - Date.now());
    if (intentLeft !== undefined && (options.timeoutMs === undefined || intentLeft < options.timeoutMs))
      options = { ...options, timeoutMs: intentLeft };
    const result = await waitForEscalation(
      escalationId,
      async (signal) => {
        try {
          return await getEscalation.call(this.gateway, escalationId, { signal });
        } catch (error) {
          throw asSdkError(error, signal);
        }
      },
      options,
    );
    const actionHash = state?.actionHash ?? result.escalation.action_hash;
    if (result.escalation.action_hash !== actionHash)
      throw new BindingMismatchError(actionHash, result.escalation.action_hash, "escalation action_hash");
    const ids = {
      intentId: original?.intentId ?? result.escalation.intent_id,
      idempotencyKey: original?.idempotencyKey ?? "",
      correlationId: original?.correlationId ?? "",
    };
    if (result.kind === "refused") {
      // Only the id was known: a BLOCK standing for the refused escalation.
      const refused =
        original ??
        toDecision(
          {
            decision_id: escalationId,
            status: "BLOCK",
            should_execute: false,
            reason_codes: result.escalation.reason_codes,
            action_hash: actionHash,
            execution_token: null,
            execution_token_expires_at: null,
            dossier_id: null,
            escalation_id: escalationId,
          },
          result.raw,
          ids,
        );
      throw new BlockedError(refused, { status: "BLOCK", escalationStatus: result.escalation.status });
    }
    const wire = parseDecision(result.decision, "escalation decision");
    if (wire.action_hash !== actionHash) throw new BindingMismatchError(actionHash, wire.action_hash);
    if (wire.status !== "ALLOW")
      throw new ContractError(
        `Escalation ${escalationId} is GRANT_READY with a ${wire.status} decision; nothing ran.`,
        {
          reason: "GRANT_NOT_ALLOW",
        },
      );
    const decision = toDecision(wire, result.decision, ids);
    await this.#admit(decision, state?.intent, verify, actionHash);
    if (state?.intent !== undefined)
      this.#emit("onDecision", { decision, intent: state.intent, shadow: false, durationMs: 0 });
    return decision;
  }

  /** Runs the user's function; reports its outcome in the background when asked. */
  async run<R>(decision: Decision, fn: (decision: Decision) => R, reportOutcome: boolean): Promise<Awaited<R>> {
    if (!reportOutcome) return await fn(decision);
    const started = Date.now();
    try {
      const result = await fn(decision);
      this.#outcomes.push({ decisionId: decision.decisionId, outcome: outcomeOf(started, undefined, false) });
      return result;
    } catch (error) {
      this.#outcomes.push({ decisionId: decision.decisionId, outcome: outcomeOf(started, error, true) });
      throw error;
    }
  }

  /**
   * Shadow mode: asks in the background, reports through hooks; nothing the
   * authority does (or fails to do) reaches the caller.
   */
  shadow(input: IntentInput): void {
    let intent: ExecutionIntent | undefined;
    try {
      intent = this.capture(input, "SHADOW");
    } catch (error) {
      this.reportError(error, undefined);
      return;
    }
    const captured = intent;
    this.ask(captured, "none").catch((error: unknown) => {
      this.reportError(error, captured);
    });
  }

  /** Sends what the outcome queue holds. */
  flush(): Promise<void> {
    return this.#outcomes.flush();
  }

  /** Reports a failure of the SDK's own machinery (never the gated function's error). */
  reportError(error: unknown, intent: ExecutionIntent | undefined): void {
    if (!(error instanceof BlockedError)) this.#emit("onError", { error, intent });
  }

  /** Whether a decision can be waited for. */
  static escalates(decision: Decision): boolean {
    return ESCALATING.has(decision.status) && decision.escalationId !== null;
  }

  #emit<K extends keyof ClientHooks>(name: K, event: Parameters<NonNullable<ClientHooks[K]>>[0]): void {
    observe(this.options.hooks[name] as ((e: typeof event) => unknown) | undefined, event);
  }
}

function replayStoreFailed(d: Decision, error: unknown): InvalidReceiptError {
  return new InvalidReceiptError("REPLAY_STORE_FAILED", "The replay store could not record the grant", {
    decisionId: d.decisionId,
    cause: error instanceof Error ? error.message : String(error),
  });
}

/** The replay store's answer: `false` means the grant already ran. */
function claimed(d: Decision, jti: string, first: boolean): void {
  if (!first)
    throw new InvalidReceiptError("TOKEN_REPLAYED", `The grant of decision ${d.decisionId} was already used`, {
      decisionId: d.decisionId,
      jti,
    });
}

const callOptionsSchema = z.object({
  verify: z.enum(["signature", "consume", "none"]).optional(),
  mode: z.enum(MODES).optional(),
  escalation: z.enum(["throw", "wait"]).optional(),
  waitTimeoutMs: z.number().int().min(0).optional(),
  reportOutcome: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
});

function parseDecision(body: unknown, what: string): WireDecision {
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

/** Protocol 2.5 for an ALLOW; throws {@link InvalidReceiptError} naming the failed check. */
function accept(d: Decision, intent: ExecutionIntent | undefined): void {
  const id = { decisionId: d.decisionId };
  if (!d.shouldExecute)
    throw new InvalidReceiptError(
      "SHOULD_EXECUTE_FALSE",
      `Decision ${d.decisionId} is ALLOW but should_execute is false`,
      id,
    );
  if (d.executionToken === null)
    throw new InvalidReceiptError("TOKEN_MISSING", `Decision ${d.decisionId} is ALLOW without an execution token`, id);
  if (d.dossierId === null)
    throw new InvalidReceiptError("DOSSIER_ID_MISSING", `Decision ${d.decisionId} is ALLOW without a dossier id`, id);
  const expiresAt = d.executionTokenExpiresAt;
  if (expiresAt === null)
    throw new InvalidReceiptError(
      "TOKEN_EXPIRY_MISSING",
      `Decision ${d.decisionId} is ALLOW without an execution token expiry`,
      id,
    );
  if (expiresAt.getTime() <= Date.now())
    throw new InvalidReceiptError(
      "TOKEN_EXPIRED",
      `The grant of decision ${d.decisionId} expired at ${expiresAt.toISOString()}`,
      {
        ...id,
        expiredAt: expiresAt.toISOString(),
      },
    );
  if (intent !== undefined && expiresAt.getTime() > intent.expiresAtMs)
    throw new InvalidReceiptError(
      "TOKEN_OUTLIVES_INTENT",
      `The grant of decision ${d.decisionId} (until ${expiresAt.toISOString()}) outlives its intent (until ${intent.expiresAt})`,
      id,
    );
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
