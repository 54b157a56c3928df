/**
 * The authority's state and every operation on it, free of HTTP: decide an
 * intent, resolve escalations, consume grants, record outcomes, produce
 * dossiers. State changes only through `#commit`, which writes a journal entry
 * and applies it; reloading a journal applies the same entries, so a restart
 * rebuilds exactly the state the authority had.
 */
import type { z } from "zod";
import { ValidationError } from "../errors/input.js";
import {
  wireConsumeRequestSchema,
  wireEnforceRequestSchema,
  wireOutcomeSchema,
  type WireBinding,
  type WireConsumeResponse,
  type WireDecision,
  type WireEnforceRequest,
  type WireEscalation,
  type WireOutcome,
} from "../gateway/wire.js";
import { canonicalJson, canonicalRecord, LIMITS, sha256Tagged, type WalkBudget } from "../intent/canonical.js";
import { assertCorrelationId } from "../intent/ids.js";
import { LocalAuthorityError, ProtocolError } from "./errors.js";
import { recordBytes, sealDossier, type DossierIntegrity } from "./dossier.js";
import { CONTROL } from "./limits.js";
import { combine, refusal, type Evaluator, type PolicyVerdict } from "./evaluator.js";
import { randomId } from "./ids.js";
import type { Journal, JournalEntry } from "./journal.js";
import type { KeyRing } from "./keys.js";

/** A decision as answered, less `dossier_url`, which depends on where the authority listens. */
export type StoredDecision = Omit<WireDecision, "dossier_url">;

/** An execution grant the authority issued. */
export interface GrantRecord {
  decision_id: string;
  jti: string;
  kid: string;
  issued_at: string;
  expires_at: string;
  consumed: { at: string; consumed_by: string; idempotency_key?: string } | null;
}

/** One step of an escalation's timeline. */
export interface EscalationEvent {
  status: string;
  at: string;
  /** The approver's name, as they gave it. */
  by?: string;
  /** The approver key used (`key:<12 hex>`, see {@link keyIdOf}); absent for the programmatic `approve()`. */
  approver_key?: string;
  note?: string;
}

/** Who resolves an escalation. */
export interface Resolver {
  by?: string | undefined;
  note?: string | undefined;
  key?: string | undefined;
}

export interface EscalationState {
  escalation_id: string;
  status: string;
  created_at: string;
  expires_at: string;
  reason_codes: string[];
  history: EscalationEvent[];
  /** The fresh ALLOW issued on approval. */
  decision: StoredDecision | null;
}

/** What happened after an ALLOW, as reported. */
export type OutcomeRecord = WireOutcome & { decision_id: string; reported_at: string; idempotency_key?: string };

/** Everything known about one intent: the dossier's content. */
export interface DossierState {
  dossier_id: string;
  decided_at: string;
  updated_at: string;
  request: WireEnforceRequest;
  /** Hash of the intent hash and the request's other fields: what "the same payload" means for idempotency. */
  fingerprint: string;
  trace: PolicyVerdict[];
  decision: StoredDecision;
  grants: GrantRecord[];
  escalation: EscalationState | null;
  outcome: OutcomeRecord | null;
  /** Base URL of the authority when it decided: the record's `issuer`, the base of its `dossier_url`. */
  issuer?: string;
  /** The dossier's signature, made when its last change was written. */
  integrity?: DossierIntegrity;
}

export interface AuthorityConfig {
  evaluator: Evaluator;
  keys: KeyRing;
  /** How long a dossier (and its idempotency key) is kept after its last change. */
  retentionMs: number;
  log: (message: string) => void;
  /** Lifetime of an execution grant, capped by the intent's `expires_at`. */
  grantTtlMs: number;
  /** Lifetime of an escalation, capped by the intent's `expires_at`; unset: the intent's. */
  escalationTtlMs: number | undefined;
  /** Added before each decision. */
  latencyMs: number;
  now: () => number;
}

const PENDING = "AWAITING_APPROVER";
const MAX_INTENT_TTL_MS = 300_000;
/** How far in the future `captured_at` may be: the clocks of the caller and the authority may differ this much. */
export const MAX_CLOCK_SKEW_MS = 60_000;
/** Policies one intent may reference: each adds a verdict to the dossier, which must stay under 100 KiB. */
export const MAX_POLICY_REFS = 16;
/**
 * A new dossier's size at most: what can be added later (escalation events of
 * at most 1 KiB of free text each, an outcome of at most 2.2 KiB, grants) stays
 * well inside the 100 KiB answer cap.
 */
const MAX_DOSSIER_AT_DECISION = 64 * 1024;
const iso = (ms: number): string => new Date(ms).toISOString();

function fieldOf(issue: z.core.$ZodIssue): string {
  return issue.path.map(String).join(".") || "body";
}

/** Parses `body` with `schema` or refuses it with 400, naming the field. */
function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = fieldOf(issue);
  throw new ProtocolError(400, "INVALID_REQUEST", `${field}: ${issue.message}`, {
    field,
    issues: parsed.error.issues.slice(0, 20).map((i) => ({ field: fieldOf(i), message: i.message })),
  });
}

function invalid(field: string, message: string): ProtocolError {
  return new ProtocolError(400, "INVALID_REQUEST", `${field}: ${message}`, { field });
}

/**
 * The binding's canonical form (protocol 2.2), with caller data held to the
 * limits the SDK applies when it captures an intent: depth counted within
 * `parameters` and `context` each, entries counted over both.
 */
function canonicalBinding(binding: WireBinding): string {
  const budget: WalkBudget = { entries: 0 };
  canonicalJson(binding.action.parameters, "action.parameters", budget);
  canonicalJson(binding.context, "context", budget);
  return canonicalRecord(binding);
}

const SIBLINGS = new Set(["intent_hash", "mode", "policy_refs", "correlation_id"]);

/**
 * Checks the intent hash sent against the binding sent, as received: the raw
 * body (already checked against the schema), so a key like `__proto__` is
 * hashed and refused as the SDK would, not lost in parsing.
 */
function checkIntentHash(raw: Record<string, unknown>, sent: string): void {
  const binding = Object.fromEntries(Object.entries(raw).filter(([k]) => !SIBLINGS.has(k))) as WireBinding;
  let canonical: string;
  try {
    canonical = canonicalBinding(binding);
  } catch (error) {
    if (error instanceof ValidationError) throw invalid(error.path, error.message.slice(error.path.length + 2));
    throw error;
  }
  if (Buffer.byteLength(canonical, "utf8") > LIMITS.maxCanonicalBytes)
    throw invalid("binding", `the canonical binding is over ${LIMITS.maxCanonicalBytes / 1024} KiB`);
  const computed = sha256Tagged(canonical);
  if (computed !== sent)
    throw new ProtocolError(
      400,
      "INTENT_HASH_MISMATCH",
      `intent_hash ${sent} is not the hash of the binding sent (${computed}): the binding was changed after hashing, ` +
        "or it was not canonicalised per protocol 2.2",
      { field: "intent_hash", expected: computed, received: sent },
    );
}

/** Idempotency keys are the caller's, so they are scoped by tenant; JSON keeps the two parts apart whatever they hold. */
const idempotencyScope = (request: WireEnforceRequest): string =>
  JSON.stringify([request.tenant_id, request.idempotency_key]);

/** The authority. One per server; see the module comment. */
export class Authority {
  /** Base URL clients reach the authority at; set once the server listens. */
  url = "";
  readonly #config: AuthorityConfig;
  readonly #dossiers = new Map<string, DossierState>();
  readonly #byDecision = new Map<string, DossierState>();
  readonly #byEscalation = new Map<string, DossierState>();
  readonly #byIdempotencyKey = new Map<string, DossierState>();
  readonly #grants = new Map<string, GrantRecord>();
  readonly #inFlight = new Set<string>();
  /** Why the journal cannot be written, once it could not. */
  #failure: unknown;
  /** The journal, once it is loaded. */
  journal: Journal | undefined;

  constructor(config: AuthorityConfig) {
    this.#config = config;
  }

  get keys(): KeyRing {
    return this.#config.keys;
  }

  /**
   * Applies one journal entry read at start; every 4,096 entries or 16 MiB,
   * what is past retention is dropped, so loading holds at most the retained
   * state and 16 MiB of what is not.
   * @throws {@link LocalAuthorityError} `JOURNAL_INVALID` naming the entry that cannot be applied.
   */
  replay(entry: JournalEntry, line: number, bytes: number, path: string): void {
    try {
      this.#apply(entry, true);
    } catch (error) {
      throw new LocalAuthorityError(
        "JOURNAL_INVALID",
        `Journal ${path}: line ${line} (entry ${entry.seq}, ${entry.type}) cannot be applied: ${(error as Error).message}`,
        { file: path, line },
      );
    }
    if (line % 4096 === 0 || bytes >= this.#nextSweepAt) {
      this.replayDropped += this.sweep();
      this.#nextSweepAt = bytes + 16 * 1024 * 1024;
    }
  }

  #nextSweepAt = 16 * 1024 * 1024;

  /** Dossiers dropped by retention while replaying. */
  replayDropped = 0;

  // ---- decisions --------------------------------------------------------------------------------

  /**
   * `POST /v1/authority/enforce-and-bind`: validates, checks the intent hash,
   * replays or refuses a reused idempotency key, evaluates and answers.
   */
  async enforce(
    body: unknown,
    headers: { idempotencyKey?: string | undefined; correlationId?: string | undefined } = {},
  ): Promise<{ decision: WireDecision; replayed: boolean }> {
    this.#writable();
    const request = parseRequest(wireEnforceRequestSchema, body);
    checkIntentHash(body as Record<string, unknown>, request.intent_hash);
    if (headers.idempotencyKey !== undefined && headers.idempotencyKey !== request.idempotency_key)
      throw invalid("idempotency-key", "the header differs from the body's idempotency_key");
    if (headers.correlationId !== undefined && headers.correlationId !== request.correlation_id)
      throw invalid("x-correlation-id", "the header differs from the body's correlation_id");
    try {
      assertCorrelationId(request.correlation_id, request.tenant_id);
    } catch (error) {
      throw invalid("correlation_id", (error as Error).message.replace(/^correlationId: /, ""));
    }
    for (const field of ["tenant_id", "idempotency_key"] as const)
      if (CONTROL.test(request[field])) throw invalid(field, "must not contain control characters");
    const captured = Date.parse(request.captured_at);
    const expires = Date.parse(request.expires_at);
    if (!(expires > captured && expires - captured <= MAX_INTENT_TTL_MS))
      throw invalid("expires_at", "must be after captured_at by at most 300 s (protocol 2.1)");
    if (captured > this.#config.now() + MAX_CLOCK_SKEW_MS)
      throw invalid(
        "captured_at",
        `is more than ${MAX_CLOCK_SKEW_MS / 1000} s in the future: check the clock of the machine that captured the intent`,
      );
    if (request.policy_refs.length > MAX_POLICY_REFS)
      throw invalid("policy_refs", `at most ${MAX_POLICY_REFS} policies per intent, got ${request.policy_refs.length}`);
    if (new Set(request.policy_refs).size !== request.policy_refs.length)
      throw invalid("policy_refs", "lists a policy twice");

    const fingerprint = sha256Tagged(
      canonicalJson({
        intent_hash: request.intent_hash,
        mode: request.mode,
        policy_refs: request.policy_refs,
        correlation_id: request.correlation_id,
      }),
    );
    const key = idempotencyScope(request);
    const earlier = this.#byIdempotencyKey.get(key);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint)
        throw new ProtocolError(
          422,
          "IDEMPOTENCY_KEY_REUSED",
          `idempotency key "${request.idempotency_key}" was already used with a different intent: use a new key per distinct action`,
          { idempotency_key: request.idempotency_key },
        );
      return { decision: this.present(earlier.decision), replayed: true };
    }
    if (this.#inFlight.has(key))
      throw new ProtocolError(
        409,
        "IDEMPOTENCY_IN_FLIGHT",
        `a request with idempotency key "${request.idempotency_key}" is still being decided: retry shortly`,
        { idempotency_key: request.idempotency_key },
      );
    this.#inFlight.add(key);
    try {
      if (this.#config.latencyMs > 0) await new Promise((r) => setTimeout(r, this.#config.latencyMs));
      return { decision: this.present(await this.#decide(request, fingerprint)), replayed: false };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  async #decide(request: WireEnforceRequest, fingerprint: string): Promise<StoredDecision> {
    const { now, evaluator, escalationTtlMs } = this.#config;
    // Grants expire on a whole second (JWT `exp`), never after the intent.
    const usableUntil = Math.floor(Date.parse(request.expires_at) / 1000) * 1000;
    const verdict =
      usableUntil <= now()
        ? combine([
            refusal(
              "(intent)",
              "INTENT_EXPIRED",
              `The intent expires at ${request.expires_at}, too soon to grant anything: capture it again`,
            ),
          ])
        : await evaluator.evaluate(request);
    const at = now();
    const decisionId = randomId("dec");
    const dossierId = randomId("dos");
    const grant = verdict.status === "ALLOW" ? this.#grant(decisionId, dossierId, request, at) : undefined;
    const escalates = verdict.status === "ESCALATE" || verdict.status === "REVIEW_REQUIRED";
    const escalation: EscalationState | null = escalates
      ? {
          escalation_id: randomId("esc"),
          status: PENDING,
          created_at: iso(at),
          expires_at: iso(Math.min(Date.parse(request.expires_at), at + (escalationTtlMs ?? Infinity))),
          reason_codes: verdict.reason_codes,
          history: [{ status: PENDING, at: iso(at) }],
          decision: null,
        }
      : null;
    const decision: StoredDecision = {
      decision_id: decisionId,
      status: verdict.status,
      should_execute: grant !== undefined,
      reason_codes: verdict.reason_codes,
      action_hash: request.intent_hash,
      execution_token: grant?.token ?? null,
      execution_token_expires_at: grant?.record.expires_at ?? null,
      dossier_id: dossierId,
      explanation: verdict.explanation,
      policy_version: verdict.policy_version,
      escalation_id: escalation?.escalation_id ?? null,
    };
    const dossier: DossierState = {
      dossier_id: dossierId,
      decided_at: iso(at),
      updated_at: iso(at),
      request,
      fingerprint,
      trace: verdict.trace,
      decision,
      grants: grant === undefined ? [] : [grant.record],
      escalation,
      outcome: null,
      issuer: this.url,
    };
    // Every dossier must serve: refuse now what would later be over the 100 KiB answer cap.
    if (recordBytes(dossier, this) > MAX_DOSSIER_AT_DECISION)
      throw invalid(
        "policy_refs",
        `the verdicts of these ${request.policy_refs.length} policies make the dossier over ` +
          `${MAX_DOSSIER_AT_DECISION / 1024} KiB: reference fewer policies`,
      );
    this.#commit("decision", dossier);
    return decision;
  }

  /** Signs an execution grant (protocol 5) for `decisionId`. */
  #grant(
    decisionId: string,
    dossierId: string,
    request: WireEnforceRequest,
    at: number,
  ): { token: string; record: GrantRecord } {
    const { grantTtlMs, keys } = this.#config;
    const expires = Math.floor(Math.min(at + grantTtlMs, Date.parse(request.expires_at)) / 1000) * 1000;
    const jti = randomId("grt");
    const token = keys.signGrant({
      iss: this.url,
      jti,
      decision_id: decisionId,
      dossier_id: dossierId,
      tenant_id: request.tenant_id,
      iat: Math.floor(at / 1000),
      exp: expires / 1000,
      binding: { intent_hash: request.intent_hash },
    });
    return {
      token,
      record: {
        decision_id: decisionId,
        jti,
        kid: keys.activeKid,
        issued_at: iso(at),
        expires_at: iso(expires),
        consumed: null,
      },
    };
  }

  /** The decision as the protocol answers it. */
  present(decision: StoredDecision): WireDecision {
    return { ...decision, dossier_url: this.dossierUrl(decision.dossier_id!) };
  }

  dossierUrl(dossierId: string): string {
    return `${this.url}/dossiers/${dossierId}`;
  }

  // ---- escalations ------------------------------------------------------------------------------

  #escalation(escalationId: string): DossierState & { escalation: EscalationState } {
    const dossier = this.#byEscalation.get(escalationId);
    if (dossier?.escalation == null)
      throw new ProtocolError(404, "ESCALATION_NOT_FOUND", `No escalation ${escalationId}`, {
        escalation_id: escalationId,
      });
    this.#expire(dossier);
    return dossier as DossierState & { escalation: EscalationState };
  }

  /** An escalation past its `expires_at` becomes EXPIRED the first time anyone looks. */
  #expire(dossier: DossierState): void {
    const escalation = dossier.escalation;
    if (escalation?.status === PENDING && this.#config.now() >= Date.parse(escalation.expires_at))
      this.#commit("escalation", {
        escalation_id: escalation.escalation_id,
        event: { status: "EXPIRED", at: escalation.expires_at },
      });
  }

  /** `GET /v1/authority/escalations/{id}` (protocol 3), plus the dossier and the timeline. */
  escalation(escalationId: string): WireEscalation & Record<string, unknown> {
    const dossier = this.#escalation(escalationId);
    const e = dossier.escalation;
    return {
      escalation_id: e.escalation_id,
      intent_id: dossier.request.intent_id,
      action_hash: dossier.request.intent_hash,
      status: e.status,
      expires_at: e.expires_at,
      reason_codes: e.reason_codes,
      decision: e.decision === null ? null : this.present(e.decision),
      decision_id: dossier.decision.decision_id,
      dossier_id: dossier.dossier_id,
      dossier_url: this.dossierUrl(dossier.dossier_id),
      history: e.history,
    };
  }

  /**
   * Approves a pending escalation: GRANT_READY with a fresh ALLOW for the same action hash.
   * @throws {@link ProtocolError} 404 unknown, 409 not pending (already resolved or expired).
   */
  approve(escalationId: string, by?: Resolver): WireEscalation {
    return this.#resolve(escalationId, "GRANT_READY", by);
  }

  /** Rejects a pending escalation. @throws {@link ProtocolError} as {@link Authority.approve}. */
  reject(escalationId: string, by?: Resolver): WireEscalation {
    return this.#resolve(escalationId, "REJECTED", by);
  }

  #resolve(escalationId: string, status: "GRANT_READY" | "REJECTED", who: Resolver = {}): WireEscalation {
    const dossier = this.#escalation(escalationId);
    const e = dossier.escalation;
    if (e.status !== PENDING)
      throw new ProtocolError(409, "ESCALATION_NOT_PENDING", `Escalation ${escalationId} is already ${e.status}`, {
        escalation_id: escalationId,
        status: e.status,
      });
    const at = this.#config.now();
    const event: EscalationEvent = {
      status,
      at: iso(at),
      ...(who.by === undefined ? {} : { by: who.by }),
      ...(who.key === undefined ? {} : { approver_key: who.key }),
      ...(who.note === undefined ? {} : { note: who.note }),
    };
    if (status === "REJECTED") {
      this.#commit("escalation", { escalation_id: escalationId, event });
      return this.escalation(escalationId);
    }
    const request = dossier.request;
    const decisionId = randomId("dec");
    const grant = this.#grant(decisionId, dossier.dossier_id, request, at);
    const decision: StoredDecision = {
      decision_id: decisionId,
      status: "ALLOW",
      should_execute: true,
      reason_codes: ["ESCALATION_APPROVED", ...e.reason_codes].slice(0, 50),
      action_hash: request.intent_hash,
      execution_token: grant.token,
      execution_token_expires_at: grant.record.expires_at,
      dossier_id: dossier.dossier_id,
      explanation: `Approved${who.by === undefined ? "" : ` by ${who.by}`}${who.key === undefined ? "" : ` (${who.key})`}${who.note === undefined ? "" : `: ${who.note}`}`,
      policy_version: dossier.decision.policy_version ?? null,
      escalation_id: escalationId,
    };
    this.#commit("escalation", { escalation_id: escalationId, event, decision, grant: grant.record });
    return this.escalation(escalationId);
  }

  // ---- grants -----------------------------------------------------------------------------------

  /**
   * `POST /v1/execution/consume-token` (protocol 4): a grant can be consumed
   * once, ever. The same `idempotency-key`, token and consumer again get the
   * first answer replayed (a retry after a lost answer does not burn the
   * grant); another key or consumer gets 409.
   */
  consume(body: unknown, idempotencyKey?: string): { answer: WireConsumeResponse; replayed: boolean } {
    this.#writable();
    const request = parseRequest(wireConsumeRequestSchema, body);
    const verified = this.#config.keys.verifyGrant(request.execution_token);
    if ("error" in verified)
      throw new ProtocolError(400, "TOKEN_INVALID", `execution_token: ${verified.error}`, { field: "execution_token" });
    const { claims } = verified;
    const grant = this.#grants.get(claims.jti);
    if (grant === undefined)
      throw new ProtocolError(400, "TOKEN_UNKNOWN", "execution_token: this authority has no record of the grant", {
        field: "execution_token",
      });
    if (claims.binding.intent_hash !== request.intent_hash)
      throw new ProtocolError(400, "TOKEN_BINDING_MISMATCH", "intent_hash: the grant was issued for another intent", {
        field: "intent_hash",
      });
    // Expiry first, replay or not: nothing may start on a grant past its exp.
    if (this.#config.now() >= claims.exp * 1000)
      throw new ProtocolError(400, "TOKEN_EXPIRED", `execution_token: the grant expired at ${grant.expires_at}`, {
        field: "execution_token",
        expires_at: grant.expires_at,
      });
    const answer: WireConsumeResponse = {
      valid: true,
      claims: {
        jti: grant.jti,
        decision_id: grant.decision_id,
        dossier_id: claims.dossier_id,
        exp: claims.exp,
        binding: { intent_hash: request.intent_hash },
      },
    };
    const consumed = grant.consumed;
    if (consumed !== null) {
      if (
        idempotencyKey !== undefined &&
        consumed.idempotency_key === idempotencyKey &&
        consumed.consumed_by === request.consumed_by
      )
        return { answer, replayed: true };
      throw new ProtocolError(409, "TOKEN_ALREADY_CONSUMED", `The grant was already consumed at ${consumed.at}`, {
        consumed_at: consumed.at,
      });
    }
    this.#commit("consume", {
      jti: grant.jti,
      at: iso(this.#config.now()),
      consumed_by: request.consumed_by,
      ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
    });
    return { answer, replayed: false };
  }

  // ---- outcomes ---------------------------------------------------------------------------------

  /**
   * `POST /v1/authority/decisions/{id}/outcome` (protocol 6): stored once on the
   * dossier. The same `idempotency-key` again (or, without one, the same report)
   * is answered 202 and stored once; another report is 409.
   */
  outcome(
    decisionId: string,
    body: unknown,
    idempotencyKey?: string,
  ): { answer: { decision_id: string; dossier_id: string; status: "RECORDED" }; replayed: boolean } {
    this.#writable();
    const outcome = parseRequest(wireOutcomeSchema, body);
    const dossier = this.#byDecision.get(decisionId);
    if (dossier === undefined)
      throw new ProtocolError(404, "DECISION_NOT_FOUND", `No decision ${decisionId}`, { decision_id: decisionId });
    const allowed = dossier.grants.some((g) => g.decision_id === decisionId);
    if (!allowed)
      throw new ProtocolError(409, "DECISION_NOT_ALLOWED", `Decision ${decisionId} did not allow anything to run`, {
        decision_id: decisionId,
      });
    const answer = { decision_id: decisionId, dossier_id: dossier.dossier_id, status: "RECORDED" as const };
    if (dossier.outcome !== null) {
      const reported = dossier.outcome;
      const strip = (o: object) => canonicalJson({ ...o, reported_at: null, idempotency_key: null });
      const same =
        reported.decision_id === decisionId && strip(reported) === strip({ ...outcome, decision_id: decisionId });
      if (same) return { answer, replayed: true };
      if (idempotencyKey !== undefined && reported.idempotency_key === idempotencyKey)
        throw new ProtocolError(
          422,
          "IDEMPOTENCY_KEY_REUSED",
          `idempotency key "${idempotencyKey}" was already used with another outcome report`,
          { idempotency_key: idempotencyKey },
        );
      throw new ProtocolError(
        409,
        "OUTCOME_ALREADY_RECORDED",
        `An outcome for this dossier was already recorded at ${dossier.outcome.reported_at}`,
        { decision_id: dossier.outcome.decision_id },
      );
    }
    this.#commit("outcome", {
      ...outcome,
      decision_id: decisionId,
      reported_at: iso(this.#config.now()),
      ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
    });
    return { answer, replayed: false };
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** The dossier's state, escalation expiry applied; undefined when unknown. */
  dossier(dossierId: string): DossierState | undefined {
    const dossier = this.#dossiers.get(dossierId);
    if (dossier !== undefined) this.#expire(dossier);
    return dossier;
  }

  /** Every dossier, oldest first. */
  dossiers(): DossierState[] {
    const all = [...this.#dossiers.values()];
    for (const d of all) this.#expire(d);
    return all;
  }

  // ---- retention --------------------------------------------------------------------------------

  /**
   * Forgets dossiers last changed before the retention period (their
   * idempotency keys, grants and escalation with them); a pending escalation
   * is kept until the retention period after it expires. Returns how many were dropped.
   */
  sweep(): number {
    const cutoff = this.#config.now() - this.#config.retentionMs;
    let dropped = 0;
    for (const dossier of this.#dossiers.values()) {
      const escalation = dossier.escalation;
      // A pending escalation waits for its expiry (marked lazily, when someone looks), then ages like the rest.
      const pending = escalation?.status === PENDING && Date.parse(escalation.expires_at) >= cutoff;
      if (Date.parse(dossier.updated_at) >= cutoff || pending) continue;
      this.#forget(dossier);
      dropped++;
    }
    return dropped;
  }

  #forget(dossier: DossierState): void {
    this.#dossiers.delete(dossier.dossier_id);
    this.#byDecision.delete(dossier.decision.decision_id);
    for (const grant of dossier.grants) {
      this.#grants.delete(grant.jti);
      this.#byDecision.delete(grant.decision_id);
    }
    if (dossier.escalation !== null) this.#byEscalation.delete(dossier.escalation.escalation_id);
    const scope = idempotencyScope(dossier.request);
    if (this.#byIdempotencyKey.get(scope) === dossier) this.#byIdempotencyKey.delete(scope);
  }

  /**
   * Sweeps, then rewrites the journal as a signed snapshot of what is
   * retained (see {@link Journal.rewrite}). Returns the counts.
   */
  compact(): { dropped: number; kept: number } {
    const dropped = this.sweep();
    const journal = this.journal;
    if (journal !== undefined) {
      const at = iso(this.#config.now());
      journal.rewrite([
        { type: "compacted", at, data: { previous_seq: journal.seq, retention_ms: this.#config.retentionMs } },
        ...[...this.#dossiers.values()].map((d) => ({ type: "snapshot", at, data: d })),
      ]);
    }
    return { dropped, kept: this.#dossiers.size };
  }

  // ---- state changes ----------------------------------------------------------------------------

  /** Refuses state changes once a journal write failed: memory would be ahead of the disk. */
  #writable(): void {
    if (this.#failure !== undefined)
      throw new ProtocolError(
        503,
        "JOURNAL_UNAVAILABLE",
        "The journal could not be written; this authority decides nothing more until it is restarted",
      );
  }

  #commit(type: "decision", data: DossierState): void;
  #commit(
    type: "escalation",
    data: { escalation_id: string; event: EscalationEvent; decision?: StoredDecision; grant?: GrantRecord },
  ): void;
  #commit(type: "consume", data: { jti: string; at: string; consumed_by: string; idempotency_key?: string }): void;
  #commit(type: "outcome", data: OutcomeRecord): void;
  #commit(type: string, data: unknown): void {
    this.#writable();
    const at = iso(this.#config.now());
    const dossier = this.#apply({ seq: 0, at, type, prev: "", data }, false)!;
    // Signed now, as written: a dossier served later carries this signature, so an edited store cannot verify.
    const integrity = sealDossier(dossier, this);
    dossier.integrity = integrity;
    if (type !== "decision") (data as { integrity?: DossierIntegrity }).integrity = integrity;
    if (this.journal === undefined) return;
    try {
      this.journal.append(type, data, at);
    } catch (error) {
      this.#failure = error;
      this.#config.log(`decionis local: journal ${this.journal.path}: write failed: ${String(error)}`);
      this.#writable();
    }
  }

  /**
   * Applies one entry and returns the dossier it changed. While replaying, an
   * entry about a dossier dropped by retention is skipped (undefined).
   */
  #apply(entry: JournalEntry, replaying: boolean): DossierState | undefined {
    const missing = (what: string): DossierState | undefined => {
      if (replaying) return undefined;
      throw new Error(`${what} is unknown`);
    };
    switch (entry.type) {
      case "compacted":
        return undefined;
      case "decision":
      case "snapshot": {
        const dossier = entry.data as DossierState;
        this.#dossiers.set(dossier.dossier_id, dossier);
        this.#byDecision.set(dossier.decision.decision_id, dossier);
        this.#byIdempotencyKey.set(idempotencyScope(dossier.request), dossier);
        if (dossier.escalation !== null) this.#byEscalation.set(dossier.escalation.escalation_id, dossier);
        for (const grant of dossier.grants) {
          this.#grants.set(grant.jti, grant);
          this.#byDecision.set(grant.decision_id, dossier);
        }
        return dossier;
      }
      case "escalation": {
        const data = entry.data as {
          escalation_id: string;
          event: EscalationEvent;
          decision?: StoredDecision;
          grant?: GrantRecord;
          integrity?: DossierIntegrity;
        };
        const dossier = this.#byEscalation.get(data.escalation_id);
        if (dossier === undefined) return missing(`escalation ${data.escalation_id}`);
        const escalation = dossier.escalation!;
        escalation.status = data.event.status;
        escalation.history.push(data.event);
        if (data.decision !== undefined && data.grant !== undefined) {
          escalation.decision = data.decision;
          dossier.grants.push(data.grant);
          this.#grants.set(data.grant.jti, data.grant);
          this.#byDecision.set(data.decision.decision_id, dossier);
        }
        dossier.updated_at = entry.at;
        if (data.integrity !== undefined) dossier.integrity = data.integrity;
        return dossier;
      }
      case "consume": {
        const data = entry.data as {
          jti: string;
          at: string;
          consumed_by: string;
          idempotency_key?: string;
          integrity?: DossierIntegrity;
        };
        const grant = this.#grants.get(data.jti);
        if (grant === undefined) return missing(`grant ${data.jti}`);
        grant.consumed = {
          at: data.at,
          consumed_by: data.consumed_by,
          ...(data.idempotency_key === undefined ? {} : { idempotency_key: data.idempotency_key }),
        };
        const dossier = this.#byDecision.get(grant.decision_id)!;
        dossier.updated_at = entry.at;
        if (data.integrity !== undefined) dossier.integrity = data.integrity;
        return dossier;
      }
      case "outcome": {
        const { integrity, ...data } = entry.data as OutcomeRecord & { integrity?: DossierIntegrity };
        const dossier = this.#byDecision.get(data.decision_id);
        if (dossier === undefined) return missing(`decision ${data.decision_id}`);
        dossier.outcome = data;
        dossier.updated_at = entry.at;
        if (integrity !== undefined) dossier.integrity = integrity;
        return dossier;
      }
      default:
        throw new Error(`unknown entry type "${entry.type}"`);
    }
  }
}
