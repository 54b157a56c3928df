/**
 * decionis/keon — the same gates and decorators in front of a Keon runtime
 * (Keon Runtime API v1, docs/keon.md).
 *
 * Held back: the transport and the Keon wire schemas (their shapes may
 * change; the wire contract is in docs/keon.md).
 */
export {
  createKeonClient,
  KeonClient,
  keonReceipt,
  type KeonClientOptions,
  type KeonExecuteOptions,
} from "./client.js";
export {
  KeonGateway,
  type KeonGatewayOptions,
  type DecisionReceipt,
  type ExecutionResult,
  type ExecutionStatus,
  type KeonExecuteInput,
  type ResourceMapper,
} from "./gateway.js";
export { keonCanonicalJson, subjectHash } from "./canonical.js";
export { ExecutionDeniedError, KEON_DENY } from "./errors.js";
export {
  BlockedError,
  MissingReceiptError,
  InvalidReceiptError,
  InvalidCorrelationIdError,
  ValidationError,
  NetworkError,
  ServerError,
  RateLimitError,
  RetryExhaustedError,
  RetryPolicy,
} from "../../index.js";
