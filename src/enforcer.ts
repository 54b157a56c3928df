/**
 * The one place that decides whether user code runs. {@link Enforcer.enforce}
 * is the whole pipeline of a gated call, in order:
 * capture → ask → accept → verify → claim → re-check → run.
 * Every path that is not an accepted, verified, still-matching ALLOW throws and runs nothing.
 */
import { hostname } from "node:os";
import { toDecision, type Decision } from "./decision.js";
import { Authority, abortable } from "./authority.js";
import { DecionisError } from "./errors/base.js";
import {
  BindingMismatchError,
  BlockedError,
  ContractError,
  InvalidReceiptError,
  MissingReceiptError,
} from "./errors/decision.js";
import { ConfigurationError } from "./errors/input.js";
import { waitForEscalation, type WaitOptions } from "./escalation/wait.js";
import type { DecisionGateway } from "./gateway/gateway.js";
import { z } from "zod";
import { MODES, type Mode, type WireDecision } from "./gateway/wire.js";
import { readGrantHeader, verifyGrant, type GrantClaims } from "./grants/jws.js";
import { KeyRing } from "./grants/keys.js";
import { BATCH_FROM_IN_FLIGHT } from "./grants/verifier.js";
import { InMemoryReplayStore, type ReplayStore } from "./grants/replay.js";
import {
  captureIntent,
  recapture,
  type CaptureDefaults,
  type ExecutionIntent,
  type IntentInput,
} from "./intent/capture.js";
import { sha256Tagged } from "./intent/canonical.js";
import {
  observe,
  ownOptions,
  parseOptions,
  type ClientHooks,
  type ResolvedOptions,
  type VerifyMode,
} from "./options.js";
import { OutcomeQueue, outcomeOf } from "./outcome.js";
import { beginCall, type ObservedCall } from "./call-observer.js";

export { asSdkError } from "./authority.js";

/** Per-call options of `enforce` / `decide`; each overrides the client's. */
export interface CallOptions {
  /**
   * Aborts the call at whatever it waits for (the authority, the keys, the
   * replay store, consume-token, a person); it rejects with the signal's reason and nothing runs.
   */
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

/** The settings of one call, defaults < client < call. @internal */
export type CallSettings = Required<Omit<CallOptions, "signal" | "waitTimeoutMs">> &
  Pick<CallOptions, "signal" | "waitTimeoutMs">;

/**
 * Where a call's intent comes from. Called once to ask, and once more right
 * before the action runs, to check the live arguments still make the approved intent.
 * @internal
 */
export type IntentSource = () => IntentInput;

/** The gated code. `undefined` in SHADOW mode, where no decision is awaited. @internal */
export type Runner<R> = (decision: Decision | undefined) => R;

/** Names `execute` / `decide` accept in their options; `execute` is the action itself. @internal */
export const CALL_OPTION_NAMES = [
  "signal",
  "verify",
  "mode",
  "escalation",
  "waitTimeoutMs",
  "reportOutcome",
  "execute",
] as const;

/**
 * The key of the client method behind `enforce` and every gate, shared by the
 * ESM and CommonJS copies (a gate of one copy may be given a client of the other).
 * @internal
 */
export const GATED_CALL: unique symbol = Symbol.for("decionis.gatedCall") as never;

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

// One replay store per process, shared by the ESM and CommonJS copies of the
// library like the default client: a grant runs once whichever client claims it.
const REPLAY_SLOT = Symbol.for("decionis.replayStore");

/**
 * The process's default replay store, made on first use.
 * @internal
 */
export function processReplayStore(): ReplayStore {
  const slot = globalThis as { [REPLAY_SLOT]?: ReplayStore };
  return (slot[REPLAY_SLOT] ??= new InMemoryReplayStore());
}

/** @internal */
export class Enforcer {
  readonly #receipts = new WeakMap<Decision, ReceiptState>();
  readonly #authority: Authority;
  readonly #keys: KeyRing | undefined;
  readonly #replay: ReplayStore;
  readonly #outcomes: OutcomeQueue;
  readonly #defaultVerify: VerifyMode;
  readonly #consumer = `decionis-node@${hostname()}#${process.pid}`;
  /** Capture defaults, one object per mode, built once. */
  readonly #capture: Record<Mode, CaptureDefaults>;
  #shadowInFlight = 0;
  /** The settings of a call that sets no option: the client's, frozen. */
  readonly #plainSettings: CallSettings;

  constructor(
    private readonly options: ResolvedOptions,
    gateway: DecisionGateway,
  ) {
    this.#authority = new Authority(gateway);
    this.#keys = this.#keyRing();
    this.#defaultVerify = options.verify ?? (this.#keys === undefined ? "none" : "signature");
    this.#replay = options.replayStore ?? processReplayStore();
    const defaults = (mode: Mode): CaptureDefaults => ({
      tenantId: options.tenantId,
      system: options.system,
      intentTtlMs: options.intentTtlMs,
      mode,
      now: Date.now,
    });
    this.#capture = { ENFORCEMENT: defaults("ENFORCEMENT"), SHADOW: defaults("SHADOW") };
    this.#plainSettings = Object.freeze(this.settings(undefined as unknown as CallOptions));
    this.#outcomes = new OutcomeQueue(
      (job) => this.#authority.reportOutcome(job.decisionId, job.outcome),
      (error) => {
        this.#emit("onError", { error, intent: undefined });
      },
    );
  }

  /** The checked face of the client's gateway. */
  get authority(): Authority {
    return this.#authority;
  }

  #keyRing(): KeyRing | undefined {
    const o = this.options;
    const limits = { refetchIntervalMs: o.keysRefetchIntervalMs, maxAgeMs: 10 * 60_000 };
    const keys = o.authorityKeys;
    if (typeof keys === "object") return new KeyRing("the configured authorityKeys", undefined, limits, keys);
    const getJwks = this.#authority.jwksFetcher();
    if (getJwks === undefined) {
      if (typeof keys === "string")
        throw new ConfigurationError(
          "authorityKeys",
          "authorityKeys is a URL but the gateway has no getJwks() to fetch it: pass the JWKS object instead",
        );
      return undefined;
    }
    if (typeof keys === "string") return new KeyRing(keys, () => getJwks(keys), limits);
    return new KeyRing(`${o.baseUrl}/.well-known/jwks.json`, () => getJwks(), limits);
  }

  /**
   * The settings of one call: defaults < client < call. Call and gate options
   * are checked like the client's, from own properties only: a misspelt or
   * inherited `verify` must not switch checks off.
   * @throws {@link ConfigurationError} naming the option.
   */
  settings(call: CallOptions): CallSettings {
    // No own option set (a plain gate's calls, `enforce(input)`): the client's settings,
    // built once. Anything inherited is ignored by ownOptions below as well.
    if (typeof call === "object" && call !== null && !Array.isArray(call) && Object.keys(call).length === 0)
      return this.#plainSettings;
    const own = ownOptions(call, CALL_OPTION_NAMES, "call") as CallOptions;
    // Each option read once: what is checked is what is used.
    const { verify, mode, escalation, waitTimeoutMs, reportOutcome, signal } = own;
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
    const report = reportOutcome ?? o.reportOutcome;
    // Found out after the run, it could only be a failed report: refused before anything is sent.
    if (report && !this.#authority.has("reportOutcome"))
      throw new ConfigurationError(
        "reportOutcome",
        "reportOutcome is true, but the client's gateway has no reportOutcome() method: give the gateway one, or leave reportOutcome off",
      );
    return {
      verify: verify ?? this.#defaultVerify,
      mode: mode ?? o.mode,
      escalation: escalation ?? o.escalation,
      reportOutcome: report,
      ...(signal === undefined ? {} : { signal }),
      ...(wait === undefined ? {} : { waitTimeoutMs: wait }),
    };
  }

  /**
   * A gated call, the whole pipeline: capture → ask → accept → verify → claim
   * → re-check → run. Without `run`, it stops after verify and returns the
   * ALLOW (or, in SHADOW mode, whatever was decided).
   */
  async enforce<R>(source: IntentSource, call: CallSettings, run?: Runner<R>): Promise<Decision | Awaited<R>> {
    if (call.mode === "SHADOW") return this.#shadow(source, call, run);
    const signal = call.signal;
    let intent: ExecutionIntent | undefined;
    let decision: Decision;
    let observed: ObservedCall | undefined; // hooks.onCall: headers in, the final answer out
    let waitMs: number | undefined;
    try {
      signal?.throwIfAborted();
      intent = this.#captureFrom(source, "ENFORCEMENT");
      observed = beginCall(this.options.hooks, { intent, verify: call.verify, escalation: call.escalation });
      decision = await this.#ask(intent, call.verify, signal, observed); // ask, accept, verify
      if (decision.status !== "ALLOW") {
        const waitStarted = performance.now();
        try {
          decision = await this.#escalated(decision, call);
        } finally {
          if (call.escalation === "wait") waitMs = performance.now() - waitStarted;
        }
      }
      if (run !== undefined) {
        // Awaited only when the claim waits (consume-token, an asynchronous replay store).
        const claiming = this.#claim(decision, signal);
        if (claiming instanceof Promise) await claiming;
        this.#recheck(source, intent);
        // An abort that lands after the answer still stops the run.
        signal?.throwIfAborted();
      }
    } catch (error) {
      observed?.end({ decision: error instanceof BlockedError ? error.decision : undefined, error, waitMs });
      this.reportError(error, intent);
      throw error;
    }
    observed?.end({ decision, error: undefined, waitMs });
    if (run === undefined) return decision;
    // #run inlined for the common case: one async frame less per call.
    if (!call.reportOutcome) return await run(decision);
    return this.#run(decision, run, true);
  }

  /** Asks for a decision and returns it whatever its status (`client.decide`). */
  async decide(source: IntentSource, call: CallSettings): Promise<Decision> {
    let intent: ExecutionIntent | undefined;
    let observed: ObservedCall | undefined;
    try {
      call.signal?.throwIfAborted();
      intent = this.#captureFrom(source, call.mode);
      observed = beginCall(this.options.hooks, { intent, verify: call.verify, escalation: call.escalation });
      const decision = await this.#ask(intent, call.verify, call.signal, observed);
      observed?.end({ decision, error: undefined, waitMs: undefined });
      return decision;
    } catch (error) {
      observed?.end({ decision: undefined, error, waitMs: undefined });
      this.reportError(error, intent);
      throw error;
    }
  }

  /** Runs `run` once under a receipt from `decide` or `waitFor` (`client.execute`). */
  async execute<R>(receipt: Decision | null | undefined, run: Runner<R>, reportOutcome: boolean): Promise<Awaited<R>> {
    let decision: Decision;
    try {
      decision = await this.#claim(receipt, undefined);
    } catch (error) {
      this.reportError(error, undefined);
      throw error;
    }
    return this.#run(decision, run, reportOutcome);
  }

  #captureFrom(source: IntentSource, mode: Mode): ExecutionIntent {
    return captureIntent(source(), this.#capture[mode]);
  }

  /**
   * What runs is what was approved: the intent is captured again from the live
   * arguments, with the same resolvers, and must bind to the same hash.
   */
  #recheck(source: IntentSource, intent: ExecutionIntent): void {
    const now = recapture(source(), this.#capture[intent.mode], intent);
    if (now !== undefined)
      throw new BindingMismatchError(
        intent.intentHash,
        now,
        "re-captured intent",
        `The call's arguments changed after the decision: the approved intent was ${intent.intentHash}, ` +
          `they now make ${now}; nothing ran. Resolvers and arguments must not change while a call is decided.`,
      );
  }

  /** BLOCK / ERROR, or an escalation the call does not wait for: {@link BlockedError}. Else the granted ALLOW. */
  #escalated(decision: Decision, call: CallSettings): Promise<Decision> {
    if (call.escalation !== "wait" || !Enforcer.escalates(decision)) throw new BlockedError(decision);
    return this.waitFor(
      decision,
      {
        ...(call.waitTimeoutMs === undefined ? {} : { timeoutMs: call.waitTimeoutMs }),
        ...(call.signal === undefined ? {} : { signal: call.signal }),
      },
      call.verify,
    );
  }

  /**
   * Asks for a decision on a captured intent. Returns any status; throws on
   * transport and contract failures, a binding mismatch, or an ALLOW that fails
   * acceptance or (with `verify: "signature"`) its signature and claims.
   */
  async #ask(
    intent: ExecutionIntent,
    verify: VerifyMode,
    signal: AbortSignal | undefined,
    observed?: ObservedCall,
  ): Promise<Decision> {
    const started = performance.now();
    asking++;
    try {
      const { wire, raw } = await this.#authority.decide(intent, signal, observed?.gatewayOptions(signal));
      if (wire.action_hash !== intent.intentHash) throw new BindingMismatchError(intent.intentHash, wire.action_hash);
      const decision = toDecision(wire, raw, {
        intentId: intent.intentId,
        idempotencyKey: intent.idempotencyKey,
        correlationId: intent.correlationId,
      });
      const shadow = intent.mode === "SHADOW";
      // The event is built only for a hook that will see it.
      if (this.options.hooks.onDecision !== undefined)
        this.#emit("onDecision", { decision, intent, shadow, durationMs: performance.now() - started });
      if (!shadow) {
        const admitting = this.#admit(decision, intent, verify, intent.intentHash, signal);
        if (admitting !== undefined) await admitting;
      }
      return decision;
    } finally {
      asking--;
    }
  }

  /**
   * Accepts and verifies an ALLOW, and records any decision as a receipt.
   * A promise only when the signature is checked; without, it is done on return.
   */
  #admit(
    decision: Decision,
    intent: ExecutionIntent | undefined,
    verify: VerifyMode,
    actionHash: string,
    signal: AbortSignal | undefined,
  ): Promise<void> | undefined {
    const state: ReceiptState = {
      intent,
      actionHash,
      // A grant fetched by escalation id alone must at least be for this client's tenant.
      tenantId: intent?.tenantId ?? this.options.tenantId,
      used: false,
      claims: undefined,
      verify,
    };
    if (decision.status === "ALLOW") {
      accept(decision, intent);
      if (verify === "signature")
        return this.#verifySignature(decision, state, signal).then((claims) => {
          state.claims = claims;
          this.#receipts.set(decision, state);
        });
    }
    this.#receipts.set(decision, state);
    return undefined;
  }

  async #verifySignature(d: Decision, state: ReceiptState, signal: AbortSignal | undefined): Promise<GrantClaims> {
    if (this.#keys === undefined)
      throw new InvalidReceiptError(
        "KEYS_UNAVAILABLE",
        'verify is "signature" but no keys are known: pass `authorityKeys` (a JWKS object or URL), or use a gateway with getJwks()',
      );
    const grant = readGrantHeader(d.executionToken!);
    const key = this.#keys.peek(grant.kid) ?? (await abortable(this.#keys.get(grant.kid), signal));
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
  #claim(decision: Decision | null | undefined, signal: AbortSignal | undefined): Decision | Promise<Decision> {
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
    signal?.throwIfAborted();
    state.used = true;
    if (state.verify === "consume") return this.#consume(decision, state, signal).then(() => decision);
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
    if (pending !== undefined) return abortable(pending, signal).then(() => decision);
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

  async #consume(d: Decision, state: ReceiptState, signal: AbortSignal | undefined): Promise<void> {
    const { valid, claims } = await this.#authority.consume(
      {
        execution_token: d.executionToken!,
        intent_hash: state.actionHash,
        consumed_by: this.#consumer,
      },
      d.decisionId,
      signal,
    );
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
    // Past the intent's expiry no grant can be valid: waiting longer is pointless.
    const intentLeft = state?.intent === undefined ? undefined : Math.max(0, state.intent.expiresAtMs - Date.now());
    if (intentLeft !== undefined && (options.timeoutMs === undefined || intentLeft < options.timeoutMs))
      options = { ...options, timeoutMs: intentLeft };
    const result = await waitForEscalation(
      escalationId,
      (signal) => this.#authority.escalation(escalationId, signal),
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
    // Already checked against the decision schema with the escalation (wireEscalationSchema).
    const wire: WireDecision = result.decision;
    if (wire.action_hash !== actionHash) throw new BindingMismatchError(actionHash, wire.action_hash);
    if (wire.status !== "ALLOW")
      throw new ContractError(
        `Escalation ${escalationId} is GRANT_READY with a ${wire.status} decision; nothing ran.`,
        {
          reason: "GRANT_NOT_ALLOW",
        },
      );
    const decision = toDecision(wire, result.decision, ids);
    await this.#admit(decision, state?.intent, verify, actionHash, options.signal);
    if (state?.intent !== undefined)
      this.#emit("onDecision", { decision, intent: state.intent, shadow: false, durationMs: 0 });
    return decision;
  }

  /** Runs the user's function; reports its outcome in the background when asked. */
  async #run<R>(decision: Decision, fn: Runner<R>, reportOutcome: boolean): Promise<Awaited<R>> {
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
   * Shadow mode: with `run`, runs at once and asks in the background, at most
   * `maxShadowInFlight` at a time; nothing the authority does (or fails to do)
   * reaches the caller. Without `run`, asks and returns the decision as it is.
   */
  async #shadow<R>(
    source: IntentSource,
    call: CallSettings,
    run: Runner<R> | undefined,
  ): Promise<Decision | Awaited<R>> {
    if (run === undefined) return this.decide(source, call);
    let intent: ExecutionIntent | undefined;
    try {
      intent = this.#captureFrom(source, "SHADOW");
    } catch (error) {
      this.reportError(error, undefined);
    }
    if (intent !== undefined) this.#askInBackground(intent);
    // No decision to report an outcome for: the run is not gated.
    return await run(undefined);
  }

  #askInBackground(intent: ExecutionIntent): void {
    if (this.#shadowInFlight >= this.options.maxShadowInFlight) {
      this.#emit("onError", {
        error: new DecionisError(
          `${this.#shadowInFlight} shadow decisions are already being asked (maxShadowInFlight): this call ran unobserved.`,
          { code: "SHADOW_OVERLOADED", details: { inFlight: this.#shadowInFlight } },
        ),
        intent,
      });
      return;
    }
    this.#shadowInFlight++;
    this.#ask(intent, "none", undefined)
      .catch((error: unknown) => {
        this.reportError(error, intent);
      })
      .finally(() => {
        this.#shadowInFlight--;
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
