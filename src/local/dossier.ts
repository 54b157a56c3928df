/**
 * Dossiers: the signed record of one intent (protocol 6) and its HTML page.
 *
 * The record carries the binding, the decision, the policy trace, the grants,
 * the escalation timeline and the outcome; never an execution token. Its
 * `integrity` block is an Ed25519 signature over the canonical form (2.2) of
 * the record without `integrity`. When the record would pass the 100 KiB cap
 * on answers, the caller data in it is replaced by its digest (the intent hash
 * still binds it).
 */
import { createHash } from "node:crypto";
import type { WireBinding } from "../gateway/wire.js";
import { canonicalRecord } from "../intent/canonical.js";
import type { Authority, DossierState, StoredDecision } from "./authority.js";
import type { PolicyCheck } from "./evaluator.js";

/** The `integrity` block of protocol 6. */
export interface DossierIntegrity {
  algorithm: "Ed25519";
  key_id: string;
  canonical_sha256: string;
  signature: string;
}

export type DossierRecord = Record<string, unknown> & { dossier_id: string; integrity: DossierIntegrity };

/** Room left under the 100 KiB response cap for the integrity block and slack. */
const MAX_RECORD_BYTES = 96 * 1024;

/** A decision as the dossier shows it: a grant is a bearer credential and stays out of the record. */
function withoutToken(decision: StoredDecision): Omit<StoredDecision, "execution_token"> {
  const copy: Partial<StoredDecision> = { ...decision };
  delete copy.execution_token;
  return copy as Omit<StoredDecision, "execution_token">;
}

function digestOf(value: unknown): Record<string, unknown> {
  const json = JSON.stringify(value);
  return {
    $omitted: "too large for the dossier; bound by intent_hash",
    sha256: createHash("sha256").update(json).digest("hex"),
    bytes: Buffer.byteLength(json),
  };
}

function recordOf(state: DossierState, authority: Authority, summarise: boolean): Record<string, unknown> {
  const issuer = state.issuer ?? authority.url;
  const { intent_hash, mode, policy_refs, correlation_id, ...binding } = state.request;
  const shown = summarise
    ? {
        ...binding,
        action: { ...binding.action, parameters: digestOf(binding.action.parameters) },
        context: digestOf(binding.context),
      }
    : binding;
  const escalation = state.escalation;
  return {
    dossier_id: state.dossier_id,
    issuer,
    created_at: state.decided_at,
    updated_at: state.updated_at,
    intent: { intent_hash, mode, policy_refs, correlation_id, binding: shown, binding_summarised: summarise },
    decision: { ...withoutToken(state.decision), dossier_url: `${issuer}/dossiers/${state.dossier_id}` },
    evaluation: state.trace,
    grants: state.grants,
    escalation:
      escalation === null
        ? null
        : { ...escalation, decision: escalation.decision === null ? null : withoutToken(escalation.decision) },
    outcome: state.outcome,
  };
}

/** Bytes of the canonical record `signedDossier` would sign, caller data summarised if it must be. */
export function recordBytes(state: DossierState, authority: Authority): number {
  const full = Buffer.byteLength(canonicalRecord(recordOf(state, authority, false)));
  return full <= MAX_RECORD_BYTES ? full : Buffer.byteLength(canonicalRecord(recordOf(state, authority, true)));
}

function recordFor(state: DossierState, authority: Authority): Record<string, unknown> {
  const record = recordOf(state, authority, false);
  return Buffer.byteLength(canonicalRecord(record)) <= MAX_RECORD_BYTES ? record : recordOf(state, authority, true);
}

/** Signs the record of `state` as it is now, with the authority's active key: done when a change is written. */
export function sealDossier(state: DossierState, authority: Authority): DossierIntegrity {
  const bytes = Buffer.from(canonicalRecord(recordFor(state, authority)), "utf8");
  const { kid, signature } = authority.keys.sign(bytes);
  return {
    algorithm: "Ed25519",
    key_id: kid,
    canonical_sha256: createHash("sha256").update(bytes).digest("hex"),
    signature: signature.toString("base64url"),
  };
}

/**
 * The dossier of `state` with the signature made when its last change was
 * written, never a new one: a record rebuilt from an edited store does not
 * verify.
 */
export function signedDossier(state: DossierState, authority: Authority): DossierRecord {
  const integrity = state.integrity ?? {
    algorithm: "Ed25519" as const,
    key_id: "(none)",
    canonical_sha256: "0".repeat(64),
    signature: "",
  };
  return { ...recordFor(state, authority), dossier_id: state.dossier_id, integrity };
}

// ---- the HTML page ---------------------------------------------------------------------------------

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const GREEN = "#1a7f37";
const RED = "#cf222e";
const AMBER = "#9a6700";
const STATUS_COLOURS: Record<string, string> = {
  ALLOWED: GREEN,
  APPROVED: GREEN,
  EXECUTED: GREEN,
  "EXECUTION STARTED": GREEN,
  BLOCKED: RED,
  "EXECUTION FAILED": RED,
  "AWAITING APPROVER": AMBER,
  ALLOW: GREEN,
  GRANT_READY: GREEN,
  SUCCEEDED: GREEN,
  BLOCK: RED,
  REJECTED: RED,
  EXPIRED: RED,
  FAILED: RED,
  ESCALATE: AMBER,
  REVIEW_REQUIRED: AMBER,
  AWAITING_APPROVER: AMBER,
};

function row(label: string, value: unknown): string {
  const shown = value === null || value === undefined || value === "" ? "—" : value;
  return `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(shown)}</td></tr>`;
}

function table(rows: string[]): string {
  return `<table>${rows.join("")}</table>`;
}

function json(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

function badge(status: string): string {
  return `<span class="badge" style="background:${STATUS_COLOURS[status] ?? "#6e7781"}">${escapeHtml(status)}</span>`;
}

type Grant = DossierState["grants"][number];
type Escalation = DossierState["escalation"] & object;

/**
 * Where the intent ended, for the top of the page: what a person asks first
 * is "did it run?", not what the first answer was.
 */
function finalState(
  decision: StoredDecision,
  escalation: Escalation | null,
  grants: Grant[],
  outcome: DossierState["outcome"],
): { state: string; summary: string } {
  const resolved = escalation?.history.filter((e) => e.status !== "AWAITING_APPROVER").at(-1);
  const by = resolved?.by === undefined ? "" : ` by ${resolved.by}`;
  const path =
    escalation === null
      ? decision.status === "ALLOW"
        ? "Allowed"
        : ""
      : escalation.status === "GRANT_READY"
        ? `${decision.status === "ESCALATE" ? "Escalated" : "Reviewed"}, approved${by}`
        : "";
  const then = (what: string) => (path === "" ? what : `${path}, ${what.charAt(0).toLowerCase()}${what.slice(1)}`);
  if (outcome !== null)
    return outcome.status === "SUCCEEDED"
      ? { state: "EXECUTED", summary: then(`Executed: succeeded at ${outcome.finished_at}`) }
      : { state: "EXECUTION FAILED", summary: then(`Executed: failed at ${outcome.finished_at}`) };
  const consumed = grants.find((g) => g.consumed !== null);
  if (consumed?.consumed != null)
    return {
      state: "EXECUTION STARTED",
      summary: then(
        `Grant consumed at ${consumed.consumed.at} by ${consumed.consumed.consumed_by}; no outcome reported yet`,
      ),
    };
  if (escalation !== null) {
    if (escalation.status === "GRANT_READY") return { state: "APPROVED", summary: `${path}; not executed yet` };
    if (escalation.status === "AWAITING_APPROVER")
      return {
        state: "AWAITING APPROVER",
        summary: `Escalated: waiting for an approver until ${escalation.expires_at}`,
      };
    return {
      state: escalation.status,
      summary: `Escalated, then ${escalation.status.toLowerCase()}${by}: nothing was allowed to run`,
    };
  }
  if (decision.status === "ALLOW") return { state: "ALLOWED", summary: "Allowed; no execution reported yet" };
  return { state: decision.status === "BLOCK" ? "BLOCKED" : decision.status, summary: "Nothing was allowed to run" };
}

/** How a grant was used, in words that do not contradict the outcome. */
function grantUse(grant: Grant, outcome: DossierState["outcome"], now: number): string {
  if (grant.consumed !== null) return `consumed at ${grant.consumed.at} by ${grant.consumed.consumed_by}`;
  if (outcome?.decision_id === grant.decision_id)
    return "used: an outcome was reported (the SDK checked the grant by its signature, without a consume call)";
  return Date.parse(grant.expires_at) <= now ? "expired unused" : "not used yet";
}

function checkText(check: PolicyCheck): string {
  const actual = "actual" in check ? JSON.stringify(check.actual) : "(absent)";
  return `${check.path} ${check.operator} ${JSON.stringify(check.value)} — the intent had ${actual}`;
}

/** A page a person can read: where it ended, intent, decision, reasons, timeline, outcome, signature. Every value escaped. */
export function renderDossierPage(dossier: DossierRecord, signatureValid: boolean): string {
  const intent = dossier["intent"] as {
    intent_hash: string;
    mode: string;
    policy_refs: string[];
    binding: WireBinding;
  };
  const b = intent.binding;
  const decision = dossier["decision"] as StoredDecision;
  const trace = dossier["evaluation"] as {
    policy: string;
    version: string | null;
    rule: string | null;
    outcome: string;
    checks?: PolicyCheck[];
  }[];
  const grants = dossier["grants"] as Grant[];
  const escalation = dossier["escalation"] as Escalation | null;
  const outcome = dossier["outcome"] as DossierState["outcome"];
  const integrity = dossier.integrity;
  const final = finalState(decision, escalation, grants, outcome);

  const sections = [
    `<section id="final"><p class="final">${badge(final.state)} <strong>${escapeHtml(final.summary)}</strong></p></section>`,
    `<h2>First decision</h2>` +
      table([
        `<tr><th>Status</th><td>${badge(decision.status)}</td></tr>`,
        row("Decision id", decision.decision_id),
        row("Reason codes", decision.reason_codes.join(", ")),
        row("Explanation", decision.explanation),
        row("Policy version", decision.policy_version),
        row("Decided at", dossier["created_at"]),
      ]),
    `<h2>Intent</h2>` +
      table([
        row("Actor", `${b.actor.id} (${b.actor.type})`),
        row("Action", b.action.type),
        row("Resource", b.action.resource),
        row("Tenant", b.tenant_id),
        row("Target", `${b.downstream_target.system} · ${b.downstream_target.operation}`),
        row("Policies", intent.policy_refs.join(", ")),
        row("Mode", intent.mode),
        row("Captured at", b.captured_at),
        row("Expires at", b.expires_at),
        row("Intent id", b.intent_id),
        row("Idempotency key", b.idempotency_key),
        row("Intent hash", intent.intent_hash),
      ]) +
      `<h3>Parameters</h3>${json(b.action.parameters)}<h3>Context</h3>${json(b.context)}`,
    `<h2>Policy evaluation</h2>` +
      table(
        trace.map(
          (t) =>
            `<tr><th>${escapeHtml(t.policy)}${t.version === null ? "" : `@${escapeHtml(t.version)}`}</th>` +
            `<td>${badge(t.outcome)} ${escapeHtml(t.rule === null ? "no rule matched: the policy's default" : `rule ${t.rule}`)}` +
            (t.checks === undefined || t.checks.length === 0
              ? ""
              : `<ul class="checks">${t.checks.map((c) => `<li><code>${escapeHtml(checkText(c))}</code></li>`).join("")}</ul>`) +
            `</td></tr>`,
        ),
      ),
  ];
  if (escalation !== null)
    sections.push(
      `<h2>Escalation</h2>` +
        table([row("Escalation id", escalation.escalation_id), row("Expires at", escalation.expires_at)]) +
        `<ol class="timeline">${escalation.history
          .map(
            (e) =>
              `<li>${badge(e.status)} at ${escapeHtml(e.at)}${e.by === undefined ? "" : ` by ${escapeHtml(e.by)}`}` +
              (e.approver_key === undefined ? "" : ` (approver ${escapeHtml(e.approver_key)})`) +
              `${e.note === undefined ? "" : ` — ${escapeHtml(e.note)}`}</li>`,
          )
          .join("")}</ol>`,
    );
  if (grants.length > 0)
    sections.push(
      `<h2>Execution grants</h2>` +
        table(
          grants.map((g) =>
            row(
              g.jti,
              `decision ${g.decision_id}, key ${g.kid}, expires ${g.expires_at}: ${grantUse(g, outcome, Date.now())}`,
            ),
          ),
        ),
    );
  sections.push(
    `<h2>Outcome</h2>` +
      (outcome === null
        ? "<p>No outcome reported.</p>"
        : table([
            `<tr><th>Status</th><td>${badge(outcome.status)}</td></tr>`,
            row("Started", outcome.started_at),
            row("Finished", outcome.finished_at),
            row("Error", outcome.error === undefined ? null : `${outcome.error.name}: ${outcome.error.message}`),
          ])),
    `<h2>Signature</h2>` +
      table([
        row("Status", signatureValid ? "Valid: verifies against this authority's JWKS" : "INVALID"),
        row("Algorithm", integrity.algorithm),
        row("Key id", integrity.key_id),
        row("Canonical SHA-256", integrity.canonical_sha256),
      ]) +
      `<p class="muted">JSON record: <code>GET /v1/protocol/dossiers/${escapeHtml(dossier.dossier_id)}</code> (API key required).</p>`,
  );

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dossier ${escapeHtml(dossier.dossier_id)} · ${escapeHtml(final.state)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:920px;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eaeef2}
th{width:12rem;font-weight:600}pre{background:#f6f8fa;padding:.75rem;overflow:auto;font-size:13px}
.badge{color:#fff;border-radius:4px;padding:0 .4rem;font-size:12px;font-weight:600}.muted{color:#656d76}
.final{font-size:1.15rem;padding:.75rem 1rem;background:#f6f8fa;border-radius:6px}.final .badge{font-size:15px}
.checks{margin:.25rem 0;padding-left:1.25rem;font-size:13px}
</style></head><body>
<h1>Decision dossier <code>${escapeHtml(dossier.dossier_id)}</code></h1>
<p class="muted">Decionis local authority · ${escapeHtml(dossier["issuer"])} · updated ${escapeHtml(dossier["updated_at"])}</p>
${sections.join("\n")}
</body></html>
`;
}

/** The page for an unknown dossier: HTML, as the browser asked, with nothing of the request but the escaped id. */
export function renderNotFoundPage(id: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No such dossier</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:920px;margin:2rem auto;padding:0 1rem;color:#1f2328}</style>
</head><body><h1>No such dossier</h1>
<p>This authority has no dossier <code>${escapeHtml(id.slice(0, 200))}</code>. It may be mistyped, from another
authority, or past the retention period.</p></body></html>
`;
}
