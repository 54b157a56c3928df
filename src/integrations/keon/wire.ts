/**
 * The Keon Runtime API v1 as zod schemas (docs/keon.md): camelCase, exactly
 * what travels. Every answer is checked against them before anything runs.
 */
import { z } from "zod";

const UUID_V7 = "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

/** `dr-<uuidv7>`. */
export const RECEIPT_ID_PATTERN = new RegExp(`^dr-${UUID_V7}$`);
/** Keon's tenant id. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_-]+$/;
/** `t:<tenantId>|c:<uuidv7>`. */
export const CORRELATION_ID_PATTERN = new RegExp(`^t:[A-Za-z0-9_-]+\\|c:${UUID_V7}$`);

const instant = z.iso.datetime({ offset: true });
const id = z.string().min(1).max(300);

/** `POST /decide` body. */
export interface KeonDecideRequest {
  correlationId: string;
  tenantId: string;
  actorId: string;
  action: string;
  resourceType: string;
  resourceId: string;
  subjectHash: string;
  context?: Record<string, unknown>;
}

/** `POST /execute` body. */
export interface KeonExecuteRequest {
  correlationId: string;
  decisionReceiptId: string;
  tenantId: string;
  actorId: string;
  action: string;
  parameters?: Record<string, unknown>;
}

export const decisionReceiptSchema = z.object({
  receiptId: z.string().regex(RECEIPT_ID_PATTERN, 'must be "dr-<uuidv7>"'),
  decision: z.enum(["allow", "deny"]),
  correlationId: id,
  tenantId: id,
  actorId: id,
  decidedAt: instant,
  expiresAt: instant.nullable().optional(),
  reason: z.string().max(10_000).nullable().optional(),
  appliedPolicies: z.array(z.string().max(300)).max(100).nullable().optional(),
});
export type WireDecisionReceipt = z.infer<typeof decisionReceiptSchema>;

export const EXECUTION_STATUSES = ["pending", "running", "completed", "failed", "cancelled"] as const;

export const executionResultSchema = z.object({
  executionId: z.string().regex(/^exec-[\x21-\x7e]{1,200}$/, 'must be "exec-…"'),
  correlationId: id,
  decisionReceiptId: z.string().regex(RECEIPT_ID_PATTERN, 'must be "dr-<uuidv7>"'),
  status: z.enum(EXECUTION_STATUSES),
  result: z.unknown().optional(),
  executedAt: instant,
  completedAt: instant.nullable().optional(),
});
export type WireExecutionResult = z.infer<typeof executionResultSchema>;

/** `{ success: true, data }`. */
export const successEnvelopeSchema = z.object({ success: z.literal(true), data: z.unknown() });

/** `{ success: false, error: { code, message, details? } }`. */
export const errorEnvelopeSchema = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.string().max(200),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type WireKeonError = z.infer<typeof errorEnvelopeSchema>["error"];
