/**
 * Keon's error envelope mapped onto the SDK's error classes, and the one name
 * Keon users know that the core does not have.
 */
import {
  AuthenticationError,
  BlockedError,
  ContractError,
  InvalidCorrelationIdError,
  InvalidReceiptError,
  PermissionDeniedError,
  RateLimitError,
  RequestRejectedError,
  ServerError,
  ValidationError,
  type Decision,
  type DecionisError,
  type ServerErrorInfo,
} from "../../index.js";
import type { WireKeonError } from "./wire.js";

/**
 * The Keon SDK's name for a refusal: the same class as {@link BlockedError}, so
 * `instanceof ExecutionDeniedError` and `instanceof BlockedError` agree on
 * every error. A deny carries `status: "BLOCK"`, the receipt id as `decisionId`
 * and Keon's reason as `explanation`.
 *
 * @example
 * try { await keon.decideAndExecute(intent) }
 * catch (e) { if (e instanceof ExecutionDeniedError) console.log(e.decisionId, e.explanation) }
 */
export const ExecutionDeniedError = BlockedError;
/** @see {@link ExecutionDeniedError} */
export type ExecutionDeniedError = BlockedError;

/** The reason code of every Keon deny: Keon gives a sentence, not codes. */
export const KEON_DENY = "KEON_DENY";

/**
 * A frozen BLOCK {@link Decision} standing for a Keon deny, so a
 * {@link BlockedError} can carry it.
 * @internal
 */
export function denyDecision(
  receiptId: string,
  reason: string | null,
  raw: Record<string, unknown>,
  ids: { correlationId: string; actionHash?: string },
): Decision {
  return Object.freeze({
    decisionId: receiptId,
    status: "BLOCK",
    allowed: false,
    shouldExecute: false,
    reasonCodes: Object.freeze([KEON_DENY]),
    explanation: reason,
    dossierId: null,
    dossierUrl: null,
    actionHash: ids.actionHash ?? "",
    executionToken: null,
    executionTokenExpiresAt: null,
    policyVersion: null,
    escalationId: null,
    intentId: "",
    idempotencyKey: "",
    correlationId: ids.correlationId,
    raw,
  });
}

/**
 * The error for a Keon answer that is not a success: by envelope code first
 * (as the Keon SDK maps them), then by HTTP status.
 * @internal
 */
export function keonError(
  status: number,
  error: WireKeonError | undefined,
  retryAfterMs: number | undefined,
  context: { correlationId: string; receiptId?: string },
): DecionisError {
  const info: ServerErrorInfo = { status };
  if (error !== undefined) {
    info.serverCode = error.code;
    info.serverMessage = error.message.slice(0, 500);
    if (error.details !== undefined) info.serverDetails = error.details;
  }
  const details = { status, serverCode: error?.code, serverMessage: info.serverMessage };
  switch (status >= 500 || status === 429 ? undefined : error?.code) {
    case "MISSING_DECISION_RECEIPT":
    case "INVALID_DECISION_RECEIPT":
      return new InvalidReceiptError("TOKEN_NOT_VALID", `Keon refused the decision receipt (${error!.code})`, {
        ...details,
        ...(context.receiptId === undefined ? {} : { decisionId: context.receiptId }),
      });
    case "EXECUTION_DENIED": {
      const said = error!.details?.receiptId;
      const receiptId = typeof said === "string" && said !== "" ? said.slice(0, 200) : (context.receiptId ?? "");
      return new BlockedError(
        denyDecision(receiptId, info.serverMessage ?? null, { error }, { correlationId: context.correlationId }),
      );
    }
    case "INVALID_CORRELATION_ID":
      return new InvalidCorrelationIdError(`Keon refused it: ${info.serverMessage ?? "no reason given"}`);
    case "VALIDATION_ERROR": {
      const field = error!.details?.field;
      return new ValidationError(
        typeof field === "string" && field !== "" ? field.slice(0, 200) : "request",
        `Keon refused the request: ${info.serverMessage ?? "no reason given"}`,
        details,
      );
    }
    default:
      break;
  }
  if (status === 401)
    return new AuthenticationError(
      info,
      "the apiKey or bearerToken given to the Keon client (createKeonClient or KeonGateway)",
    );
  if (status === 403) return new PermissionDeniedError(info);
  if (status === 429) return new RateLimitError(info, retryAfterMs);
  if (status >= 500) return new ServerError({ ...info, status });
  if (status >= 300 && status < 400)
    return new ContractError(`Keon answered with a redirect (${status}); redirects are not followed.`, {
      reason: "REDIRECT",
    });
  return new RequestRejectedError(info);
}
