/**
 * The wire contract (docs/protocol.md) as zod schemas: snake_case, exactly what
 * travels. The SDK validates every response against these; the local authority
 * validates every request. Nothing outside the gateway, the enforcer and
 * `local/` should need them.
 */
import { z } from "zod";

export const PROTOCOL_VERSION = "agent-safe.intent/1";

/** `sha256:` followed by 64 lowercase hex digits. */
export const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** Lowercase UUID, version 7, RFC 4122 variant. */
export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const REASON_CODE_PATTERN = /^[A-Z][A-Z0-9_:-]*$/;

export const DECISION_STATUSES = ["ALLOW", "BLOCK", "ESCALATE", "REVIEW_REQUIRED", "ERROR"] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

export const MODES = ["ENFORCEMENT", "SHADOW"] as const;
export type Mode = (typeof MODES)[number];

const isoInstant = z.iso.datetime({ offset: true });
const jsonObject = z.record(z.string(), z.unknown());

export const wireActorSchema = z.strictObject({
  id: z.string().min(1).max(200),
  type: z.string().min(1).max(100),
  runtime: z.string().min(1).max(100).optional(),
  trust_level: z.string().min(1).max(100).optional(),
});

export const wireBindingSchema = z.strictObject({
  protocol_version: z.literal(PROTOCOL_VERSION),
  tenant_id: z.string().min(1).max(200),
  intent_id: z.string().regex(UUID_V7_PATTERN),
  idempotency_key: z.string().min(1).max(180),
  captured_at: isoInstant,
  expires_at: isoInstant,
  actor: wireActorSchema,
  action: z.strictObject({
    type: z.string().min(1).max(200),
    resource: z.string().min(1).max(500),
    parameters: jsonObject,
  }),
  context: jsonObject,
  downstream_target: z.strictObject({
    system: z.string().min(1).max(200),
    operation: z.string().min(1).max(500),
    endpoint: z.string().min(1).max(500).optional(),
  }),
});
export type WireBinding = z.infer<typeof wireBindingSchema>;

export const wireEnforceRequestSchema = wireBindingSchema.extend({
  intent_hash: z.string().regex(HASH_PATTERN),
  mode: z.enum(MODES),
  policy_refs: z.array(z.string().min(1).max(200)).max(50),
  correlation_id: z.string().min(1).max(300),
});
export type WireEnforceRequest = z.infer<typeof wireEnforceRequestSchema>;

// Compiled: checked on every gated call (zod's generated fast path; its runtime parser on failure).
export const wireDecisionSchema = z.compile(
  z.object({
    decision_id: z.string().min(1).max(200),
    status: z.enum(DECISION_STATUSES),
    should_execute: z.boolean(),
    reason_codes: z.array(z.string().max(120).regex(REASON_CODE_PATTERN)).max(50),
    action_hash: z.string().regex(HASH_PATTERN),
    execution_token: z.string().min(1).nullable(),
    execution_token_expires_at: isoInstant.nullable(),
    dossier_id: z.string().min(1).max(200).nullable(),
    dossier_url: z.string().max(2000).nullable().optional(),
    explanation: z.string().max(10_000).nullable().optional(),
    policy_version: z.string().max(200).nullable().optional(),
    escalation_id: z.string().min(1).max(200).nullable().optional(),
  }),
);
export type WireDecision = z.infer<typeof wireDecisionSchema>;

export const ESCALATION_TERMINAL_STATUSES = [
  "GRANT_READY",
  "REJECTED",
  "EXPIRED",
  "CANCELLED",
  "BLOCKED",
  "FAILED",
] as const;

export const wireEscalationSchema = z.object({
  escalation_id: z.string().min(1).max(200),
  intent_id: z.string().min(1).max(200),
  action_hash: z.string().regex(HASH_PATTERN),
  status: z.string().min(1).max(100),
  expires_at: isoInstant,
  reason_codes: z.array(z.string().max(120).regex(REASON_CODE_PATTERN)).max(50),
  decision: wireDecisionSchema.nullable(),
});
export type WireEscalation = z.infer<typeof wireEscalationSchema>;

export const wireConsumeRequestSchema = z.strictObject({
  execution_token: z.string().min(1),
  intent_hash: z.string().regex(HASH_PATTERN),
  consumed_by: z.string().min(1).max(200),
});
export type WireConsumeRequest = z.infer<typeof wireConsumeRequestSchema>;

export const wireConsumeResponseSchema = z.object({
  valid: z.boolean(),
  claims: z.object({
    jti: z.string().min(1),
    decision_id: z.string().min(1),
    dossier_id: z.string().min(1),
    exp: z.number(),
    binding: z.object({ intent_hash: z.string().regex(HASH_PATTERN) }),
  }),
});
export type WireConsumeResponse = z.infer<typeof wireConsumeResponseSchema>;

export const wireJwkSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().min(1),
  kid: z.string().min(1),
  alg: z.literal("EdDSA").optional(),
  use: z.string().optional(),
});
export const wireJwksSchema = z.object({ keys: z.array(wireJwkSchema).max(100) });
export type WireJwks = z.infer<typeof wireJwksSchema>;

export const wireHealthSchema = z.object({ status: z.string(), version: z.string() });
export type WireHealth = z.infer<typeof wireHealthSchema>;

export const wireOutcomeSchema = z.strictObject({
  status: z.enum(["SUCCEEDED", "FAILED"]),
  started_at: isoInstant,
  finished_at: isoInstant,
  error: z.strictObject({ name: z.string().max(200), message: z.string().max(2000) }).optional(),
});
export type WireOutcome = z.infer<typeof wireOutcomeSchema>;

export const wireErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type WireErrorBody = z.infer<typeof wireErrorBodySchema>;
