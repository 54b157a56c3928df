/**
 * The HTTP gateway against a real server on 127.0.0.1:0: headers, the error
 * table of protocol 2.6, retries with the byte-identical body and key,
 * Retry-After, per-attempt timeouts, dropped connections and size limits;
 * each against both transports (axios, undici).
 */
import {
  AuthenticationError,
  ContractError,
  IdempotencyConflictError,
  NetworkError,
  PermissionDeniedError,
  RateLimitError,
  RequestRejectedError,
  RetryExhaustedError,
  RetryPolicy,
  ServerError,
  TimeoutError,
  VERSION,
  type ClientOptions,
} from "../src/index.js";
import { parseRetryAfter } from "../src/gateway/http.js";
import { sampleIntent, useTestAuthority } from "./helpers/test-authority.js";
import { TRANSPORTS } from "./gateway/transports.js";

const intent = sampleIntent;

const errorBody = (code: string, message = code) => ({ error: { code, message, details: {} } });

describe.each(TRANSPORTS)("%s transport", (transport) => {
  const authority = useTestAuthority({
    apiKey: "sk_http_secret",
    retryPolicy: new RetryPolicy({ maxRetries: 2, baseDelayMs: 5, maxDelayMs: 50 }),
    transport,
  });

  const makeClient = (options: ClientOptions = {}) => authority.client(options);

  describe("requests", () => {
    it("carry the protocol headers", async () => {
      await makeClient().enforce({ ...intent, idempotencyKey: "ord-1" });
      const req = authority.requests[0]!;
      expect(req.method).toBe("POST");
      expect(req.url).toBe("/v1/authority/enforce-and-bind");
      expect(req.headers["authorization"]).toBe("Bearer sk_http_secret");
      expect(req.headers["content-type"]).toBe("application/json");
      expect(req.headers["idempotency-key"]).toBe("ord-1");
      expect(req.headers["x-correlation-id"]).toBe(req.json.correlation_id);
      expect(req.headers["user-agent"]).toBe(`decionis-node/${VERSION}`);
      expect(req.headers["connection"]).toBe("keep-alive");
    });

    it("keep a pooled socket's TCP keep-alive as set, not flipped on every request", async () => {
      // axios sets (true, 60 s) on each request's socket and Node's agent sets its own
      // keepAliveMsecs when the socket goes back to the pool: unless they agree, every
      // request costs setsockopt calls (8 per request on Linux at Node 20).
      const net = await import("node:net");
      const client = makeClient();
      await client.enforce(intent);
      const spy = jest.spyOn(net.Socket.prototype, "setKeepAlive");
      try {
        for (let i = 0; i < 4; i++) await client.enforce(intent);
        const settings = new Set(
          spy.mock.calls.map(([enable, delay]) => `${enable}/${Math.floor((delay ?? 0) / 1000)}`),
        );
        // axios sets it on every request (so the spy sees it); undici once per socket.
        if (transport === "axios") expect([...settings]).toEqual(["true/60"]);
        else expect(settings.size).toBeLessThanOrEqual(1);
      } finally {
        spy.mockRestore();
      }
    });

    it("keep the package version in the user agent", () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      expect(VERSION).toBe((require("../package.json") as { version: string }).version);
    });
  });

  describe("retries", () => {
    it.each([500, 502, 503, 504])(
      "retry %i with the byte-identical body and the same idempotency key",
      async (status) => {
        authority.script({ status, body: errorBody("UNAVAILABLE") }, { status, body: errorBody("UNAVAILABLE") });
        const retries: number[] = [];
        const client = makeClient({ hooks: { onRetry: (e) => retries.push(e.attempt) } });
        await expect(client.enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
        expect(authority.requests).toHaveLength(3);
        const [first, ...rest] = authority.requests;
        for (const r of rest) {
          expect(r.body).toBe(first!.body);
          expect(r.headers["idempotency-key"]).toBe(first!.headers["idempotency-key"]);
        }
        expect(retries).toEqual([1, 2]);
      },
    );

    it("retry a dropped connection (NetworkError)", async () => {
      authority.script({ drop: true });
      await expect(makeClient().enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
      expect(authority.requests).toHaveLength(2);
    });

    it("retry 409 IDEMPOTENCY_IN_FLIGHT", async () => {
      authority.script({ status: 409, body: errorBody("IDEMPOTENCY_IN_FLIGHT") });
      await expect(makeClient().enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
      expect(authority.requests).toHaveLength(2);
    });

    it("wait at least Retry-After on 429", async () => {
      authority.script({ status: 429, headers: { "retry-after": "1" }, body: errorBody("RATE_LIMITED") });
      const delays: number[] = [];
      const client = makeClient({
        retryPolicy: new RetryPolicy({ maxRetries: 1, baseDelayMs: 1, maxDelayMs: 2000 }),
        hooks: { onRetry: (e) => delays.push(e.delayMs) },
      });
      const started = Date.now();
      await expect(client.enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
      expect(Date.now() - started).toBeGreaterThanOrEqual(990);
      expect(delays).toEqual([1000]);
    });

    it("do not wait for a Retry-After beyond the policy's cap: RateLimitError at once", async () => {
      authority.script({ status: 429, headers: { "retry-after": "120" }, body: errorBody("RATE_LIMITED") });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).retryAfterMs).toBe(120_000);
      expect(authority.requests).toHaveLength(1);
    });

    it("give up with RetryExhaustedError carrying attempts and the last error", async () => {
      authority.script(...Array.from({ length: 3 }, () => ({ status: 503, body: errorBody("DOWN", "maintenance") })));
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).attempts).toBe(3);
      const cause = (error as RetryExhaustedError).cause;
      expect(cause).toBeInstanceOf(ServerError);
      expect((cause as ServerError).status).toBe(503);
      expect((cause as ServerError).serverCode).toBe("DOWN");
      expect((error as Error).message).toMatch(/maintenance/);
    });

    it("time out per attempt, retried, then TimeoutError", async () => {
      authority.script({ delayMs: 400 }, { delayMs: 400 });
      const client = makeClient({ timeoutMs: 100, retryPolicy: new RetryPolicy({ maxRetries: 1, baseDelayMs: 1 }) });
      const error = await client.enforce(intent).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).cause).toBeInstanceOf(TimeoutError);
      expect(authority.requests).toHaveLength(2);
    });

    it("a timed-out first attempt is retried and can succeed", async () => {
      authority.script({ delayMs: 300 });
      const client = makeClient({ timeoutMs: 100 });
      await expect(client.enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
    });

    it("with RetryPolicy.none(), one attempt", async () => {
      authority.script({ status: 503, body: errorBody("DOWN") });
      const error = await makeClient({ retryPolicy: RetryPolicy.none() })
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).attempts).toBe(1);
      expect(authority.requests).toHaveLength(1);
    });

    it("a refused connection is a NetworkError after retries", async () => {
      const client = makeClient({ baseUrl: "http://127.0.0.1:1" });
      const error = await client.enforce(intent).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).cause).toBeInstanceOf(NetworkError);
      expect((error as Error).message).toMatch(/ECONNREFUSED/);
    });
  });

  describe("errors that are not retried", () => {
    it.each([
      [400, "BAD_REQUEST", RequestRejectedError],
      [404, "NOT_FOUND", RequestRejectedError],
      [422, "IDEMPOTENCY_KEY_REUSED", RequestRejectedError],
      [409, "SOMETHING_ELSE", RequestRejectedError],
      [401, "UNAUTHENTICATED", AuthenticationError],
      [403, "FORBIDDEN", PermissionDeniedError],
      [501, "NOT_IMPLEMENTED", ServerError],
    ])("%i %s → %p, one attempt", async (status, code, type) => {
      authority.script({ status, body: errorBody(code, `server says ${code}`) });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as RequestRejectedError).status).toBe(status);
      expect((error as RequestRejectedError).serverCode).toBe(code);
      expect(authority.requests).toHaveLength(1);
    });

    it("422 IDEMPOTENCY_KEY_REUSED says what to do", async () => {
      authority.script({ status: 422, body: errorBody("IDEMPOTENCY_KEY_REUSED") });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/new key/);
    });

    it("IdempotencyConflictError is what a persistent 409 in-flight becomes", async () => {
      authority.script(...Array.from({ length: 3 }, () => ({ status: 409, body: errorBody("IDEMPOTENCY_IN_FLIGHT") })));
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect((error as RetryExhaustedError).cause).toBeInstanceOf(IdempotencyConflictError);
    });

    it("a redirect is not followed", async () => {
      authority.script({ status: 307, headers: { location: "http://127.0.0.1:1/steal" } });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContractError);
      expect(authority.requests).toHaveLength(1);
    });
  });

  describe("response bodies", () => {
    it("over 100 KiB are refused", async () => {
      authority.script({ body: (req: any) => ({ ...req.json, pad: "x".repeat(101 * 1024) }) });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContractError);
      expect((error as ContractError).code).toBe("RESPONSE_TOO_LARGE");
      expect(authority.requests).toHaveLength(1);
    });

    it("that are not JSON are a ContractError", async () => {
      authority.script({ body: "<html>oops</html>" });
      const error = await makeClient()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContractError);
      expect((error as ContractError).code).toBe("NOT_JSON");
    });

    it("that are empty are a ContractError", async () => {
      authority.script({ body: "" });
      await expect(makeClient().enforce(intent)).rejects.toBeInstanceOf(ContractError);
    });
  });

  describe("abort", () => {
    it("rejects with the signal's reason and sends no retry", async () => {
      authority.script({ delayMs: 500 });
      const controller = new AbortController();
      const reason = new Error("caller gave up");
      setTimeout(() => {
        controller.abort(reason);
      }, 50);
      await expect(makeClient().enforce(intent, { signal: controller.signal })).rejects.toBe(reason);
    });
  });
});

describe("Retry-After parsing", () => {
  it("reads seconds and HTTP dates", () => {
    const now = Date.parse("2026-11-21T10:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Sat, 21 Nov 2026 10:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sat, 21 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
