export { DecionisError, isDecionisError } from "./base.js";
export { ConfigurationError, ValidationError, InvalidCorrelationIdError } from "./input.js";
export {
  BlockedError,
  DecionisBlockedError,
  ContractError,
  BindingMismatchError,
  InvalidReceiptError,
  MissingReceiptError,
  type ReceiptCheck,
} from "./decision.js";
export {
  TransportError,
  AuthenticationError,
  PermissionDeniedError,
  RequestRejectedError,
  IdempotencyConflictError,
  RateLimitError,
  ServerError,
  NetworkError,
  TimeoutError,
  RetryExhaustedError,
  CircuitOpenError,
  type ServerErrorInfo,
} from "./transport.js";
