/**
 * Decision: the authority's answer to one intent, in camelCase, built from a
 * wire response that has already passed the schema.
 */
import type { DecisionStatus, WireDecision } from "./gateway/wire.js";

export type { DecisionStatus } from "./gateway/wire.js";

/** The authority's decision on one intent. Frozen. */
export interface Decision {
  readonly decisionId: string;
  readonly status: DecisionStatus;
  /** `status === "ALLOW"` and the authority said `should_execute`. Acceptance checks more (see `execute`). */
  readonly allowed: boolean;
  readonly shouldExecute: boolean;
  readonly reasonCodes: readonly string[];
  readonly explanation: string | null;
  readonly dossierId: string | null;
  readonly dossierUrl: string | null;
  /** Hash the authority bound its decision to; equals the intent's hash once accepted. */
  readonly actionHash: string;
  /** Compact JWS grant, present on ALLOW. */
  readonly executionToken: string | null;
  readonly executionTokenExpiresAt: Date | null;
  readonly policyVersion: string | null;
  /** Set for ESCALATE / REVIEW_REQUIRED the authority tracks. */
  readonly escalationId: string | null;
  readonly intentId: string;
  readonly idempotencyKey: string;
  readonly correlationId: string;
  /** The response body as received, unknown fields included. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** @internal */
export function toDecision(
  wire: WireDecision,
  raw: Record<string, unknown>,
  ids: { intentId: string; idempotencyKey: string; correlationId: string },
): Decision {
  return Object.freeze({
    decisionId: wire.decision_id,
    status: wire.status,
    allowed: wire.status === "ALLOW" && wire.should_execute,
    shouldExecute: wire.should_execute,
    reasonCodes: Object.freeze([...wire.reason_codes]),
    explanation: wire.explanation ?? null,
    dossierId: wire.dossier_id,
    dossierUrl: wire.dossier_url ?? null,
    actionHash: wire.action_hash,
    executionToken: wire.execution_token,
    executionTokenExpiresAt:
      wire.execution_token_expires_at === null ? null : new Date(wire.execution_token_expires_at),
    policyVersion: wire.policy_version ?? null,
    escalationId: wire.escalation_id ?? null,
    intentId: ids.intentId,
    idempotencyKey: ids.idempotencyKey,
    correlationId: ids.correlationId,
    raw,
  });
}
