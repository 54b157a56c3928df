import type { z } from "zod";
import type { Decision, DecisionStatus } from "../decision.js";
import { DecionisError } from "./base.js";

/**
 * The authority did not allow the call: BLOCK, ESCALATE, REVIEW_REQUIRED or
 * ERROR. Nothing ran. Carries everything needed to explain or follow up.
 *
 * @example
 * try { await bot.openPosition(order) }
 * catch (e) { if (e instanceof BlockedError) console.log(e.status, e.reasonCodes, e.dossierUrl) }
 */
export class BlockedError extends DecionisError {
  static override readonly errorName: string = "BlockedError";
  readonly status: DecisionStatus;
  readonly decisionId: string;
  readonly reasonCodes: readonly string[];
  readonly explanation: string | null;
  readonly dossierUrl: string | null;
  readonly dossierId: string | null;
  readonly escalationId: string | null;
  /** Terminal escalation status when a wait ended without a grant (`REJECTED`, `EXPIRED`, ...). */
  readonly escalationStatus: string | null;
  readonly decision: Decision;
  /** The response body as received. */
  readonly response: Readonly<Record<string, unknown>>;

  constructor(decision: Decision, options: { status?: DecisionStatus; escalationStatus?: string } = {}) {
    const status = options.status ?? decision.status;
    const reasons = decision.reasonCodes.length > 0 ? ` [${decision.reasonCodes.join(", ")}]` : "";
    const why = decision.explanation === null ? "" : `: ${decision.explanation}`;
    const escalation = options.escalationStatus === undefined ? "" : ` (escalation ${options.escalationStatus})`;
    const record = decision.dossierUrl ?? decision.dossierId;
    super(
      `Decionis ${verb(status)} ${decision.decisionId}${escalation}${reasons}${why}; nothing ran.` +
        (record === null ? "" : ` Record: ${record}`),
      {
        code: status === "ERROR" ? "DECISION_ERROR" : `DECISION_${status}`,
        details: {
          status,
          decisionId: decision.decisionId,
          reasonCodes: decision.reasonCodes,
          dossierId: decision.dossierId,
          dossierUrl: decision.dossierUrl,
          escalationId: decision.escalationId,
          ...(options.escalationStatus === undefined ? {} : { escalationStatus: options.escalationStatus }),
        },
      },
    );
    this.status = status;
    this.decisionId = decision.decisionId;
    this.reasonCodes = decision.reasonCodes;
    this.explanation = decision.explanation;
    this.dossierUrl = decision.dossierUrl;
    this.dossierId = decision.dossierId;
    this.escalationId = decision.escalationId;
    this.escalationStatus = options.escalationStatus ?? null;
    this.decision = decision;
    this.response = decision.raw;
  }
}

function verb(status: DecisionStatus): string {
  switch (status) {
    case "BLOCK":
      return "blocked decision";
    case "ESCALATE":
      return "escalated decision";
    case "REVIEW_REQUIRED":
      return "requires review, decision";
    case "ERROR":
      return "could not decide, decision";
    default:
      return `returned ${status} for decision`;
  }
}

/** Alias of {@link BlockedError} under the Python SDK's name. */
export const DecionisBlockedError = BlockedError;
export type DecionisBlockedError = BlockedError;

/**
 * A 2xx response that breaks the contract (protocol 2.4): wrong shape, not
 * JSON, over 100 KiB. Nothing ran. `issues` keeps zod's issues as they were.
 */
export class ContractError extends DecionisError {
  static override readonly errorName: string = "ContractError";
  readonly issues: readonly z.core.$ZodIssue[];
  constructor(message: string, options: { issues?: readonly z.core.$ZodIssue[]; reason?: string } = {}) {
    super(message, {
      code: options.reason ?? "CONTRACT_VIOLATION",
      details: options.issues === undefined ? {} : { issues: options.issues },
    });
    this.issues = options.issues ?? [];
  }
}

/** The authority answered for another action: `action_hash` differs from this intent's hash. Nothing ran. */
export class BindingMismatchError extends DecionisError {
  static override readonly errorName: string = "BindingMismatchError";
  readonly expected: string;
  readonly received: string;
  constructor(expected: string, received: string, where = "action_hash", message?: string) {
    super(
      message ?? `The authority's ${where} ${received} does not match this intent's hash ${expected}; nothing ran.`,
      {
        code: "BINDING_MISMATCH",
        details: { expected, received, where },
      },
    );
    this.expected = expected;
    this.received = received;
  }
}

/** Checks that can fail on a receipt, as `InvalidReceiptError.code`. */
export type ReceiptCheck =
  | "NOT_ALLOWED"
  | "SHOULD_EXECUTE_FALSE"
  | "TOKEN_MISSING"
  | "DOSSIER_ID_MISSING"
  | "TOKEN_EXPIRY_MISSING"
  | "TOKEN_EXPIRED"
  | "TOKEN_OUTLIVES_INTENT"
  | "RECEIPT_UNKNOWN"
  | "RECEIPT_ALREADY_USED"
  | "TOKEN_MALFORMED"
  | "TOKEN_SIGNATURE_INVALID"
  | "TOKEN_KEY_UNKNOWN"
  | "TOKEN_CLAIMS_INVALID"
  | "TOKEN_BINDING_MISMATCH"
  | "TOKEN_DECISION_MISMATCH"
  | "TOKEN_REPLAYED"
  | "TOKEN_CONSUMED"
  | "TOKEN_NOT_VALID"
  | "REPLAY_STORE_FAILED"
  | "KEYS_UNAVAILABLE";

/**
 * A decision or receipt that may not be executed: the ALLOW failed one of the
 * acceptance checks (protocol 2.5) or the grant checks (protocol 5), or a
 * receipt was used twice. `code` names the check that failed. Nothing ran.
 */
export class InvalidReceiptError extends DecionisError {
  static override readonly errorName: string = "InvalidReceiptError";
  declare readonly code: ReceiptCheck;
  constructor(check: ReceiptCheck, message: string, details: Record<string, unknown> = {}) {
    super(`${message}; nothing ran.`, { code: check, details: { check, ...details } });
  }
}

/** `execute()` was called without a receipt. */
export class MissingReceiptError extends DecionisError {
  static override readonly errorName: string = "MissingReceiptError";
  constructor() {
    super("execute() needs the receipt returned by client.decide(intent); got none, so nothing ran.", {
      code: "RECEIPT_MISSING",
    });
  }
}
