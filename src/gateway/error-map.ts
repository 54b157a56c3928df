/**
 * The gateway's error mapping: an axios failure, a response status or a body
 * becomes the SDK's typed error (protocol 1 and 2.6), with any echo of the API
 * key scrubbed. Kept apart from the transport so mutation testing can target
 * the code that decides which error a caller sees.
 */
import type { AxiosError } from "axios";
import type { DecionisError } from "../errors/base.js";
import { ContractError } from "../errors/decision.js";
import {
  AuthenticationError,
  IdempotencyConflictError,
  NetworkError,
  PermissionDeniedError,
  RateLimitError,
  RequestRejectedError,
  ServerError,
  TimeoutError,
  type ServerErrorInfo,
} from "../errors/transport.js";
import { wireErrorBodySchema } from "./wire.js";

/** Largest response body accepted (protocol 1). */
export const MAX_RESPONSE_BYTES = 100 * 1024;

/**
 * Parses a 2xx body as JSON; 202 and 204 may be empty.
 * @internal
 */
export function parseBody(text: unknown, status: number): unknown {
  if (typeof text !== "string" || text === "") {
    if (status === 202 || status === 204) return undefined;
    throw new ContractError(`The authority answered ${status} with an empty body.`, { reason: "EMPTY_BODY" });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ContractError(`The authority answered ${status} with a body that is not JSON.`, {
      reason: "NOT_JSON",
    });
  }
}

/**
 * Parses `Retry-After`: delta-seconds or an HTTP date.
 * @internal
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const REDACTED = "[REDACTED]";

/** `text` with every secret replaced. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  // Secrets are never empty (the key is checked at construction).
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}

/** A JSON value with every secret replaced, in keys and strings, to a bounded depth. */
function redactDeep(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === "string") return redact(value, secrets);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= 20) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[redact(k, secrets)] = redactDeep(v, secrets, depth + 1);
  return out;
}

/** What a protocol error body says, with any echo of the key scrubbed. */
function serverInfo(status: number, text: string, secrets: readonly string[]): ServerErrorInfo {
  const info: ServerErrorInfo = { status };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return info; // Not JSON: the status says enough.
  }
  const body = wireErrorBodySchema.safeParse(json);
  if (!body.success) return info;
  const error = body.data.error;
  info.serverCode = redact(error.code, secrets);
  // Scrubbed before the cut, so a cut cannot leave part of the key behind.
  info.serverMessage = redact(error.message, secrets).slice(0, 500);
  if (error.details !== undefined) info.serverDetails = redactDeep(error.details, secrets) as Record<string, unknown>;
  return info;
}

/**
 * The typed error of a complete answer that is not a 2xx (protocol 2.6), for
 * every transport. `retryAfter` is the raw `Retry-After` header, if any.
 * @internal
 */
export function mapAnswer(
  status: number,
  text: string,
  retryAfter: unknown,
  secrets: readonly string[],
): DecionisError {
  const info = serverInfo(status, text, secrets);
  if (status === 401) return new AuthenticationError(info);
  if (status === 403) return new PermissionDeniedError(info);
  if (status === 409 && info.serverCode === "IDEMPOTENCY_IN_FLIGHT") return new IdempotencyConflictError(info);
  if (status === 429) return new RateLimitError(info, parseRetryAfter(retryAfter));
  if (status >= 500) return new ServerError({ ...info, status });
  if (status >= 300 && status < 400)
    return new ContractError(`The authority answered with a redirect (${status}); redirects are not followed.`, {
      reason: "REDIRECT",
    });
  return new RequestRejectedError(info);
}

/**
 * A status line and headers, then no complete body (reset, short Content-Length,
 * broken chunked stream): the answer was lost, whatever its status said (protocol 1).
 * @internal
 */
export function truncatedAnswer(
  status: number,
  code: string,
  message: string,
  secrets: readonly string[],
): NetworkError {
  return new NetworkError(
    `the answer (${status}) was cut short after its status line`,
    Object.assign(new Error(redact(message, secrets)), { code }),
    { errno: code === "" ? "TRUNCATED" : code, status, truncated: true },
  );
}

/** A body over {@link MAX_RESPONSE_BYTES} (protocol 1). @internal */
export function responseTooLarge(): ContractError {
  return new ContractError(`The authority's response is over ${MAX_RESPONSE_BYTES / 1024} KiB.`, {
    reason: "RESPONSE_TOO_LARGE",
  });
}

/**
 * A socket-level failure before any answer: only its code and message are kept
 * (they carry no headers), scrubbed of `secrets`.
 * @internal
 */
export function socketError(code: string, message: string, secrets: readonly string[]): NetworkError {
  const scrubbed = redact(message, secrets);
  const cause = Object.assign(new Error(scrubbed), { code });
  return new NetworkError(code === "" ? scrubbed : `${code} (${scrubbed})`, cause, { errno: code });
}

/**
 * Turns an axios failure into the SDK's typed error. The AxiosError itself
 * is never kept as a cause: it holds the request config and its headers.
 * `secrets` (the API key) are scrubbed from whatever the server said.
 * @internal
 */
export function mapAxiosError(error: AxiosError, timeoutMs: number, secrets: readonly string[] = []): DecionisError {
  const code = error.code ?? "";
  if (code === "ETIMEDOUT" || code === "ECONNABORTED") return new TimeoutError(timeoutMs);
  const response = error.response;
  if (response !== undefined && typeof response.data !== "string")
    return truncatedAnswer(response.status, code, error.message, secrets);
  if (response !== undefined)
    return mapAnswer(response.status, response.data as string, response.headers["retry-after"], secrets);
  if (code === "ERR_BAD_RESPONSE" && /maxContentLength/.test(error.message)) return responseTooLarge();
  return socketError(code, error.message, secrets);
}
