/**
 * The gateway's error mapping, unit by unit: which typed error each failure
 * becomes. The HTTP tests drive it over a real socket; these pin each branch
 * (and each boundary) so a broken check fails a test (mutation testing).
 */
import { AxiosError, AxiosHeaders, type AxiosResponse, type InternalAxiosRequestConfig } from "axios";
import {
  AuthenticationError,
  ContractError,
  IdempotencyConflictError,
  NetworkError,
  PermissionDeniedError,
  RateLimitError,
  RequestRejectedError,
  ServerError,
  TimeoutError,
  type DecionisError,
} from "../../src/index.js";
import { MAX_RESPONSE_BYTES, mapAxiosError, parseBody, parseRetryAfter } from "../../src/gateway/error-map.js";

const config = { headers: new AxiosHeaders() } as InternalAxiosRequestConfig;

function answered(status: number, data: unknown, headers: Record<string, string> = {}): AxiosError {
  const response = { status, statusText: "", headers, config, data } as AxiosResponse;
  return new AxiosError("Request failed", status >= 500 ? "ERR_BAD_RESPONSE" : "ERR_BAD_REQUEST", config, {}, response);
}
const body = (code: string, message = "m", details?: unknown) =>
  JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) } });
const map = (error: AxiosError, secrets: string[] = []) => mapAxiosError(error, 1234, secrets);

describe("answers with a status", () => {
  it.each([
    [401, AuthenticationError, "AUTHENTICATION_FAILED"],
    [403, PermissionDeniedError, "PERMISSION_DENIED"],
    [400, RequestRejectedError, "REQUEST_REJECTED"],
    [404, RequestRejectedError, "REQUEST_REJECTED"],
    [409, RequestRejectedError, "REQUEST_REJECTED"],
    [422, RequestRejectedError, "REQUEST_REJECTED"],
    [499, RequestRejectedError, "REQUEST_REJECTED"],
    [429, RateLimitError, "RATE_LIMITED"],
    [500, ServerError, "SERVER_ERROR"],
    [599, ServerError, "SERVER_ERROR"],
    [300, ContractError, "REDIRECT"],
    [307, ContractError, "REDIRECT"],
    [399, ContractError, "REDIRECT"],
    [200, RequestRejectedError, "REQUEST_REJECTED"],
  ])("%i → %p (%s)", (status, type, code) => {
    const error = map(answered(status, body("X")));
    expect(error).toBeInstanceOf(type);
    expect(error.code).toBe(code);
    if (error instanceof ContractError) expect(error.message).toContain(`(${status})`);
    else expect(error.details).toMatchObject({ status, serverCode: "X" });
  });

  it("409 is retried only as IDEMPOTENCY_IN_FLIGHT", () => {
    const error = map(answered(409, body("IDEMPOTENCY_IN_FLIGHT")));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect((error as IdempotencyConflictError).retryable).toBe(true);
    expect((map(answered(409, body("OTHER"))) as RequestRejectedError).retryable).toBe(false);
  });

  it("only a 409 is IDEMPOTENCY_IN_FLIGHT", () => {
    expect(map(answered(400, body("IDEMPOTENCY_IN_FLIGHT")))).toBeInstanceOf(RequestRejectedError);
  });

  it("429 reads Retry-After", () => {
    expect((map(answered(429, "", { "retry-after": "2" })) as RateLimitError).retryAfterMs).toBe(2000);
    expect((map(answered(429, "")) as RateLimitError).retryAfterMs).toBeUndefined();
  });

  it("keeps the server's code, message (500 characters at most) and details", () => {
    const error = map(answered(400, body("BAD", "x".repeat(600), { field: "a", list: [1, { b: 2 }] })));
    expect(error.details).toEqual({
      status: 400,
      serverCode: "BAD",
      serverMessage: "x".repeat(500),
      serverDetails: { field: "a", list: [1, { b: 2 }] },
    });
    expect(error.message).toContain(`Server said: ${"x".repeat(500)}`);
    expect(error.message).not.toContain("x".repeat(501));
  });

  it("a body that is not the protocol's error shape, or not JSON, leaves only the status", () => {
    for (const data of ["<html>", "", "{}", JSON.stringify({ error: { code: 1 } })])
      expect(map(answered(400, data)).details).toEqual({ status: 400 });
    expect(map(answered(400, body("NO_DETAILS"))).details).toStrictEqual({
      status: 400,
      serverCode: "NO_DETAILS",
      serverMessage: "m",
    });
  });
});

describe("the API key echoed back is scrubbed", () => {
  const KEY = "sk_key_1";
  it("from code, message, details values, keys and arrays, every occurrence", () => {
    const details = { [`k_${KEY}`]: `${KEY} and ${KEY}`, list: [KEY, 1, null, true], n: 5 };
    const error = map(answered(400, body(`C_${KEY}`, `m ${KEY} ${KEY}`, details)), [KEY]);
    expect(error.details).toEqual({
      status: 400,
      serverCode: "C_[REDACTED]",
      serverMessage: "m [REDACTED] [REDACTED]",
      serverDetails: { "k_[REDACTED]": "[REDACTED] and [REDACTED]", list: ["[REDACTED]", 1, null, true], n: 5 },
    });
  });

  it("every given form of it", () => {
    const error = map(answered(400, body("C", `${KEY} / sk%2Fx`)), [KEY, "sk%2Fx"]);
    expect(error.details).toMatchObject({ serverMessage: "[REDACTED] / [REDACTED]" });
  });

  it("before the 500-character cut, so no part of it is left at the edge", () => {
    const error = map(answered(400, body("C", `${"y".repeat(495)}${KEY}`)), [KEY]);
    expect((error.details as { serverMessage: string }).serverMessage).toBe(`${"y".repeat(495)}[REDA`);
  });

  it("details nested deeper than 20 levels are cut off, not walked", () => {
    let deep: unknown = KEY;
    for (let i = 0; i < 25; i++) deep = { d: deep };
    const error = map(answered(400, body("C", "m", deep)), [KEY]);
    let node = (error.details as { serverDetails: unknown }).serverDetails;
    let depth = 0;
    while (typeof node === "object" && node !== null) {
      node = (node as { d: unknown }).d;
      depth++;
    }
    expect(depth).toBe(20);
    expect(node).toBe("[REDACTED]");
  });

  it("through arrays too, to the same depth", () => {
    let deep: unknown = KEY;
    for (let i = 0; i < 25; i++) deep = [deep];
    const error = map(answered(400, body("C", "m", { d: deep })), [KEY]);
    let node = (error.details as { serverDetails: { d: unknown } }).serverDetails.d;
    let depth = 1;
    while (Array.isArray(node)) {
      node = node[0];
      depth++;
    }
    expect(depth).toBe(20);
    expect(node).toBe("[REDACTED]");
  });

  it("nothing is scrubbed when no secret is given", () => {
    expect(mapAxiosError(answered(400, body("C", "Stryker was here")), 1).details).toMatchObject({
      serverMessage: "Stryker was here",
    });
  });

  it("from a socket error's message", () => {
    const error = map(new AxiosError(`boom ${KEY}`, "ECONNRESET"), [KEY]);
    expect(error.message).not.toContain(KEY);
    expect((error.cause as Error).message).toBe("boom [REDACTED]");
  });
});

describe("failures without a complete answer", () => {
  it.each(["ETIMEDOUT", "ECONNABORTED"])("%s → TimeoutError with the attempt's timeout", (code) => {
    const error = map(new AxiosError("t", code));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.details).toEqual({ timeoutMs: 1234 });
  });

  it("a response without a complete body is a NetworkError, whatever its status", () => {
    for (const status of [200, 400, 503]) {
      const error = map(answered(status, undefined));
      expect(error).toBeInstanceOf(NetworkError);
      expect(error.details).toMatchObject({
        truncated: true,
        status,
        errno: "ERR_BAD_" + (status >= 500 ? "RESPONSE" : "REQUEST"),
      });
      expect(error.message).toContain(`(${status}) was cut short`);
      expect((error.cause as { code: string }).code).toBe(`ERR_BAD_${status >= 500 ? "RESPONSE" : "REQUEST"}`);
    }
    const bare = new AxiosError("aborted", undefined, config, {}, { status: 200, data: undefined } as AxiosResponse);
    expect(map(bare).details).toMatchObject({ errno: "TRUNCATED" });
  });

  it("over maxContentLength → ContractError RESPONSE_TOO_LARGE; another bad response is a NetworkError", () => {
    const big = map(new AxiosError("maxContentLength size of 102400 exceeded", "ERR_BAD_RESPONSE"));
    expect(big).toBeInstanceOf(ContractError);
    expect(big.code).toBe("RESPONSE_TOO_LARGE");
    expect(big.message).toContain("over 100 KiB");
    expect(MAX_RESPONSE_BYTES).toBe(102_400);
    expect(map(new AxiosError("stream has been aborted", "ERR_BAD_RESPONSE"))).toBeInstanceOf(NetworkError);
    expect(map(new AxiosError("maxContentLength size of 1 exceeded", "ERR_OTHER"))).toBeInstanceOf(NetworkError);
  });

  it("socket errors keep only code and message", () => {
    const error: DecionisError = map(new AxiosError("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED"));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.message).toBe("Could not reach the authority: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:1).");
    expect(error.details).toEqual({ errno: "ECONNREFUSED" });
    expect((error.cause as { code: string }).code).toBe("ECONNREFUSED");
    expect(error.cause).toEqual(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));
    const bare = map(new AxiosError("socket hang up"));
    expect(bare.message).toBe("Could not reach the authority: socket hang up.");
    expect(bare.details).toEqual({ errno: "" });
  });
});

describe("2xx bodies", () => {
  it("parse as JSON", () => {
    expect(parseBody('{"a":1}', 200)).toEqual({ a: 1 });
  });
  it.each([202, 204])("%i may be empty", (status) => {
    expect(parseBody("", status)).toBeUndefined();
    expect(parseBody(undefined, status)).toBeUndefined();
  });
  it.each([
    ["", "EMPTY_BODY"],
    [undefined, "EMPTY_BODY"],
    ["{oops", "NOT_JSON"],
  ])("%p at 200 → ContractError %s", (text, reason) => {
    let error: unknown;
    try {
      parseBody(text, 200);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).code).toBe(reason);
    expect((error as ContractError).message).toContain("200");
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-11-21T10:00:00Z");
  it.each([
    ["3", 3000],
    [" 3 ", 3000],
    ["0", 0],
    ["0.5", 500],
    ["10", 10_000],
    ["12.5", 12_500],
    ["1.0001", 1001],
    ["Sat, 21 Nov 2026 10:00:05 GMT", 5000],
    ["Sat, 21 Nov 2026 09:00:00 GMT", 0],
    ["soon", undefined],
    ["", undefined],
    ["   ", undefined],
    ["-1", 0],
    ["1e3", undefined],
    ["3s", undefined],
    [undefined, undefined],
    [3, undefined],
  ])("%p → %p", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
  it("defaults to the current time", () => {
    const soon = new Date(Date.now() + 60_000).toUTCString();
    const ms = parseRetryAfter(soon)!;
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
});
