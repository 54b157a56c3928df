import { DecionisError } from "./base.js";

/** What the server said, when its error body followed the protocol. */
export interface ServerErrorInfo {
  /** HTTP status. */
  status?: number;
  /** The protocol error code, e.g. `IDEMPOTENCY_KEY_REUSED`. */
  serverCode?: string;
  /** The server's message. */
  serverMessage?: string;
  /** The server's details object. */
  serverDetails?: Record<string, unknown>;
}

/**
 * Base of the errors from talking to the authority. `retryable` says whether
 * the SDK retries it (protocol 2.6); nothing ran either way.
 */
export class TransportError extends DecionisError {
  static override readonly errorName: string = "TransportError";
  readonly status: number | undefined;
  readonly serverCode: string | undefined;
  readonly retryable: boolean;
  constructor(
    message: string,
    options: {
      code: string;
      retryable: boolean;
      info?: ServerErrorInfo;
      cause?: unknown;
      details?: Record<string, unknown>;
    },
  ) {
    const info = options.info ?? {};
    const said = info.serverMessage === undefined ? "" : ` Server said: ${info.serverMessage}`;
    super(message + said, {
      code: options.code,
      cause: options.cause,
      details: { ...info, ...options.details },
    });
    this.status = info.status;
    this.serverCode = info.serverCode;
    this.retryable = options.retryable;
  }
}

/** 401: the API key was refused. */
export class AuthenticationError extends TransportError {
  static override readonly errorName: string = "AuthenticationError";
  /** @param keySource where the caller's key came from, for the message (Keon's client names its own option). */
  constructor(info: ServerErrorInfo = {}, keySource = "DECIONIS_API_KEY or the client's apiKey") {
    super(`The authority refused the API key (401): check ${keySource}.`, {
      code: "AUTHENTICATION_FAILED",
      retryable: false,
      info,
    });
  }
}

/** 403: the key is valid but may not do this. */
export class PermissionDeniedError extends TransportError {
  static override readonly errorName: string = "PermissionDeniedError";
  constructor(info: ServerErrorInfo = {}) {
    super("The API key may not make this call (403): check its tenant and scopes.", {
      code: "PERMISSION_DENIED",
      retryable: false,
      info,
    });
  }
}

/**
 * 400, 404, 422 and other refusals of the request itself. `serverCode` says
 * why; `IDEMPOTENCY_KEY_REUSED` means the same idempotency key came with another payload.
 */
export class RequestRejectedError extends TransportError {
  static override readonly errorName: string = "RequestRejectedError";
  constructor(info: ServerErrorInfo) {
    const what =
      info.serverCode === "IDEMPOTENCY_KEY_REUSED"
        ? "this idempotency key was already used with a different intent: use a new key per distinct action"
        : `code ${info.serverCode ?? "none"}`;
    super(`The authority rejected the request (${info.status ?? "?"}): ${what}.`, {
      code: "REQUEST_REJECTED",
      retryable: false,
      info,
    });
  }
}

/** 409 `IDEMPOTENCY_IN_FLIGHT`: the first request with this key is still being decided. Retried. */
export class IdempotencyConflictError extends TransportError {
  static override readonly errorName: string = "IdempotencyConflictError";
  constructor(info: ServerErrorInfo) {
    super("A request with this idempotency key is still being decided (409).", {
      code: "IDEMPOTENCY_IN_FLIGHT",
      retryable: true,
      info,
    });
  }
}

/** 429. `retryAfterMs` is the server's `Retry-After`, when it sent one. Retried no earlier than that. */
export class RateLimitError extends TransportError {
  static override readonly errorName: string = "RateLimitError";
  readonly retryAfterMs: number | undefined;
  constructor(info: ServerErrorInfo, retryAfterMs: number | undefined) {
    super(
      `The authority is rate limiting this client (429)` +
        (retryAfterMs === undefined ? "." : `; retry after ${retryAfterMs} ms.`),
      { code: "RATE_LIMITED", retryable: true, info, details: { retryAfterMs } },
    );
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx. 500, 502, 503 and 504 are retried. */
export class ServerError extends TransportError {
  static override readonly errorName: string = "ServerError";
  constructor(info: ServerErrorInfo & { status: number }) {
    super(`The authority failed (${info.status}).`, {
      code: "SERVER_ERROR",
      retryable: [500, 502, 503, 504].includes(info.status),
      info,
    });
  }
}

/** Connection refused or reset, DNS failure, socket hang-up. Retried. */
export class NetworkError extends TransportError {
  static override readonly errorName: string = "NetworkError";
  constructor(message: string, cause: unknown, details: Record<string, unknown> = {}) {
    super(`Could not reach the authority: ${message}.`, { code: "NETWORK_ERROR", retryable: true, cause, details });
  }
}

/** No answer within `timeoutMs` (per attempt). Retried. */
export class TimeoutError extends TransportError {
  static override readonly errorName: string = "TimeoutError";
  constructor(timeoutMs: number) {
    super(`The authority did not answer within ${timeoutMs} ms.`, {
      code: "TIMEOUT",
      retryable: true,
      details: { timeoutMs },
    });
  }
}

/** Every attempt failed with a retryable error. `cause` is the last one. */
export class RetryExhaustedError extends DecionisError {
  static override readonly errorName: string = "RetryExhaustedError";
  readonly attempts: number;
  declare readonly cause: DecionisError;
  constructor(attempts: number, last: DecionisError) {
    super(`Gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${last.message}`, {
      code: "RETRY_EXHAUSTED",
      cause: last,
      details: { attempts, last: last.code },
    });
    this.attempts = attempts;
  }
}

/**
 * The client's circuit breaker is open: the authority failed
 * `failureThreshold` times in a row, so calls fail at once, without a request,
 * until the cool-down ends and one probe call succeeds. Nothing ran.
 *
 * @example
 * try { await transfer(order) }
 * catch (e) { if (e instanceof CircuitOpenError) queueForLater(order, e.retryAfterMs) }
 */
export class CircuitOpenError extends TransportError {
  static override readonly errorName: string = "CircuitOpenError";
  /** Time left of the cool-down, ms; 0 while a probe call is out. */
  readonly retryAfterMs: number;
  constructor(info: { failures: number; retryAfterMs: number }) {
    super(
      info.retryAfterMs > 0
        ? `The authority failed ${info.failures} times in a row: failing fast for ${Math.ceil(info.retryAfterMs)} ms more (circuit open); nothing was sent.`
        : "The circuit to the authority is half-open and its probe call is still out: failing fast; nothing was sent.",
      {
        code: "CIRCUIT_OPEN",
        retryable: false,
        details: { failures: info.failures, retryAfterMs: Math.ceil(info.retryAfterMs) },
      },
    );
    this.retryAfterMs = Math.ceil(info.retryAfterMs);
  }
}
