/**
 * Faults of the wire, each against a real server on 127.0.0.1:0: lost answers
 * after a consume or an outcome (idempotency-key), dripping bodies (wall-clock
 * timeout), bodies cut short after the status line, and headers axios would
 * rewrite. Each asserts that nothing ran and which error was raised, for both
 * transports (axios, undici).
 */
import {
  ConfigurationError,
  DecionisClient,
  NetworkError,
  RetryExhaustedError,
  RetryPolicy,
  TimeoutError,
  type ClientOptions,
  type Transport,
} from "../../src/index.js";
import { allowFor, jwks, sampleIntent, useTestAuthority, type RecordedRequest } from "../helpers/test-authority.js";
import { drip, startRawServer, type RawRequest, type RawServer } from "../helpers/raw-server.js";
import { TRANSPORTS, gatewayOf } from "./transports.js";

const fast = new RetryPolicy({ maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function answerWith(res: import("node:http").ServerResponse, body: unknown): void {
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const enforces = (server: RawServer) => server.requests.filter((r) => r.url === "/v1/authority/enforce-and-bind");

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
}

type Answer = (res: import("node:http").ServerResponse, req: RawRequest) => void;

/**
 * A raw authority for one describe block: each test's queued `answers` first, then honest
 * ALLOWs (and the JWKS); its clients are closed and the server stopped after each test.
 */
function useRawAuthority(transport: Transport): {
  answers: Answer[];
  clientOf: (options: ClientOptions) => DecionisClient;
  server: () => RawServer;
} {
  let server: RawServer;
  const answers: Answer[] = [];
  const clients: DecionisClient[] = [];
  beforeEach(async () => {
    answers.length = 0;
    server = await startRawServer((req, res) => {
      const answer = answers.shift();
      if (req.url === "/.well-known/jwks.json") answerWith(res, jwks);
      else if (answer !== undefined) answer(res, req);
      else answerWith(res, allowFor({ ...req, json: JSON.parse(req.body) }));
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
  });
  const clientOf = (options: ClientOptions): DecionisClient => {
    const client = new DecionisClient({
      apiKey: "sk_test",
      baseUrl: server.url,
      tenantId: "acme",
      transport,
      ...options,
    });
    clients.push(client);
    return client;
  };
  return { answers, clientOf, server: () => server };
}

describe.each(TRANSPORTS)("%s transport", (transport) => {
  const authority = useTestAuthority({ retryPolicy: fast, transport });

  describe("idempotency-key on consume-token (protocol 4)", () => {
    /** Consumes on first sight, loses that answer once, then replays it for the same key only. */
    function keyedConsume(): { consumes: RecordedRequest[] } {
      const consumes: RecordedRequest[] = [];
      const used = new Map<string, { key: string | undefined; answer: unknown }>();
      let dropped = false;
      authority.fallback = (req) => {
        if (req.url === "/v1/authority/enforce-and-bind") return { body: allowFor(req) };
        if (req.url !== "/v1/execution/consume-token") return { status: 404 };
        consumes.push(req);
        const key = req.headers["idempotency-key"] as string | undefined;
        const token = req.json.execution_token as string;
        const seen = used.get(token);
        if (seen !== undefined) {
          if (key !== undefined && seen.key === key) return { body: seen.answer };
          return { status: 409, body: { error: { code: "TOKEN_ALREADY_CONSUMED", message: "used" } } };
        }
        const c = claimsOf(token);
        const answer = {
          valid: true,
          claims: { jti: c.jti, decision_id: c.decision_id, dossier_id: c.dossier_id, exp: c.exp, binding: c.binding },
        };
        used.set(token, { key, answer });
        if (!dropped) {
          dropped = true;
          return { drop: true };
        }
        return { body: answer };
      };
      return { consumes };
    }

    it("a lost answer after a successful consume is replayed, not TOKEN_CONSUMED: the action runs once", async () => {
      const { consumes } = keyedConsume();
      const client = authority.client({ verify: "consume" });
      let runs = 0;
      await expect(client.enforce(sampleIntent, { execute: () => ++runs })).resolves.toBe(1);
      expect(runs).toBe(1);
      expect(consumes).toHaveLength(2);
      const key = consumes[0]!.headers["idempotency-key"];
      expect(key).toMatch(UUID);
      expect(consumes[1]!.headers["idempotency-key"]).toBe(key);
      expect(consumes[1]!.body).toBe(consumes[0]!.body);
    });

    it("each consume call gets its own key", async () => {
      const { consumes } = keyedConsume();
      const client = authority.client({ verify: "consume", retryPolicy: RetryPolicy.none() });
      await client.enforce(sampleIntent, { execute: () => 1 }).catch(() => undefined);
      await client.enforce(sampleIntent, { execute: () => 2 });
      expect(consumes).toHaveLength(2);
      expect(consumes[0]!.headers["idempotency-key"]).not.toBe(consumes[1]!.headers["idempotency-key"]);
    });

    it("a caller-given key is sent as given; one axios would rewrite is refused before sending", async () => {
      const gateway = gatewayOf(transport, {
        baseUrl: authority.url,
        apiKey: "sk_test",
        timeoutMs: 1000,
        retryPolicy: fast,
      });
      try {
        const body = { execution_token: "t", intent_hash: `sha256:${"0".repeat(64)}`, consumed_by: "me" };
        await gateway.consumeToken(body, { idempotencyKey: "consume-ord-1" }).catch(() => undefined);
        expect(authority.requests[0]!.headers["idempotency-key"]).toBe("consume-ord-1");
        for (const bad of [" k", "k\t", "k\n", "k\u0000x", "ключ", "", "k".repeat(181)]) {
          const error = await gateway.consumeToken(body, { idempotencyKey: bad }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ConfigurationError);
          expect((error as ConfigurationError).message).toMatch(/idempotency-key/);
        }
        expect(authority.requests).toHaveLength(1);
      } finally {
        await gateway.close();
      }
    });
  });

  describe("idempotency-key on outcome reports (protocol 6)", () => {
    it("an outcome whose answer is lost is retried with the same key and stored once", async () => {
      const stored = new Map<string, unknown>();
      const outcomes: RecordedRequest[] = [];
      let dropped = false;
      authority.fallback = (req) => {
        if (req.url === "/v1/authority/enforce-and-bind") return { body: allowFor(req) };
        outcomes.push(req);
        // A keyless report cannot be matched to an earlier one: stored again.
        const key = (req.headers["idempotency-key"] as string | undefined) ?? `none-${outcomes.length}`;
        if (!stored.has(key)) stored.set(key, req.json);
        if (!dropped) {
          dropped = true;
          return { drop: true };
        }
        return { status: 202, body: { recorded: true } };
      };
      const client = new DecionisClient({
        apiKey: "sk_test",
        baseUrl: authority.url,
        tenantId: "acme",
        retryPolicy: fast,
        transport,
        reportOutcome: true,
        verify: "none",
      });
      await client.enforce(sampleIntent, { execute: () => "done" });
      await client.close();
      expect(outcomes).toHaveLength(2);
      expect(outcomes[0]!.headers["idempotency-key"]).toMatch(UUID);
      expect(outcomes[1]!.headers["idempotency-key"]).toBe(outcomes[0]!.headers["idempotency-key"]);
      expect(stored.size).toBe(1);
    });
  });

  describe("timeoutMs bounds a whole attempt by the wall clock (protocol 1)", () => {
    const { answers, clientOf, server } = useRawAuthority(transport);

    it("a body dripping one byte at a time ends at the deadline with TimeoutError, nothing ran", async () => {
      answers.push((res) => {
        drip(res, 10);
      });
      const client = clientOf({ timeoutMs: 150, retryPolicy: RetryPolicy.none() });
      let ran = false;
      const started = performance.now();
      const error = await client
        .enforce(sampleIntent, {
          execute: () => {
            ran = true;
          },
        })
        .catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).cause).toBeInstanceOf(TimeoutError);
      expect((error as RetryExhaustedError).cause.details).toMatchObject({ timeoutMs: 150 });
      expect(ran).toBe(false);
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(1000);
    });

    it("the next attempt gets a fresh deadline and can succeed", async () => {
      answers.push((res) => {
        drip(res, 10);
      });
      const client = clientOf({ timeoutMs: 150, retryPolicy: fast });
      await expect(client.enforce(sampleIntent)).resolves.toMatchObject({ status: "ALLOW" });
      expect(enforces(server())).toHaveLength(2);
    });

    it("headers that never come are bounded the same way", async () => {
      answers.push(() => undefined);
      const client = clientOf({ timeoutMs: 100, retryPolicy: RetryPolicy.none() });
      const error = await client.enforce(sampleIntent).catch((e: unknown) => e);
      expect((error as RetryExhaustedError).cause).toBeInstanceOf(TimeoutError);
    });

    it("a SHADOW background request is bounded the same way: onError gets the TimeoutError", async () => {
      answers.push((res) => {
        drip(res, 10);
      });
      const errors: unknown[] = [];
      const started = performance.now();
      let resolveReported!: () => void;
      const reported = new Promise<void>((r) => (resolveReported = r));
      const client = clientOf({
        timeoutMs: 150,
        retryPolicy: RetryPolicy.none(),
        mode: "SHADOW",
        hooks: {
          onError: ({ error }) => {
            errors.push(error);
            resolveReported();
          },
        },
      });
      await expect(client.enforce(sampleIntent, { execute: () => "ran in shadow" })).resolves.toBe("ran in shadow");
      await reported;
      expect(performance.now() - started).toBeLessThan(1000);
      expect((errors[0] as RetryExhaustedError).cause).toBeInstanceOf(TimeoutError);
    });

    it("an abort during a dripping body still rejects with the signal's reason", async () => {
      answers.push((res) => {
        drip(res, 10);
      });
      const client = clientOf({ timeoutMs: 5_000 });
      const reason = new Error("caller gave up");
      const error = await client.enforce(sampleIntent, { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
      expect((error as Error).name).toBe("TimeoutError");
      expect(error).not.toBeInstanceOf(RetryExhaustedError);
      const controller = new AbortController();
      answers.push((res) => {
        drip(res, 10);
      });
      setTimeout(() => {
        controller.abort(reason);
      }, 50);
      await expect(client.enforce(sampleIntent, { signal: controller.signal })).rejects.toBe(reason);
    });
  });

  describe("a body cut short after the status line is a NetworkError, retried (protocol 1)", () => {
    const { answers, clientOf, server } = useRawAuthority(transport);

    const shortBody = (status: number) => (res: import("node:http").ServerResponse) => {
      res.writeHead(status, { "content-type": "application/json", "content-length": "500" });
      res.write('{"decision_id":"dec_1",');
      setImmediate(() => res.destroy());
    };
    const brokenChunks = (status: number) => (res: import("node:http").ServerResponse) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.write('{"error":{"code":"x",');
      setImmediate(() => res.destroy());
    };

    it.each([
      ["200, Content-Length larger than what arrives", shortBody(200)],
      ["503, Content-Length larger than what arrives", shortBody(503)],
      ["400, Content-Length larger than what arrives", shortBody(400)],
      ["200, chunked stream destroyed", brokenChunks(200)],
      ["401, chunked stream destroyed", brokenChunks(401)],
    ])("%s → NetworkError, nothing ran", async (_what, answer) => {
      answers.push(answer);
      const client = clientOf({ retryPolicy: RetryPolicy.none() });
      let ran = false;
      const error = await client
        .enforce(sampleIntent, {
          execute: () => {
            ran = true;
          },
        })
        .catch((e: unknown) => e);
      expect(ran).toBe(false);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      const cause = (error as RetryExhaustedError).cause;
      expect(cause).toBeInstanceOf(NetworkError);
      expect(cause.details).toMatchObject({ truncated: true });
    });

    it.each([
      ["Content-Length", shortBody(200)],
      ["chunked", brokenChunks(503)],
    ])("a cut-short answer (%s) is retried and the retry can succeed", async (_what, answer) => {
      answers.push(answer);
      const client = clientOf({ retryPolicy: fast });
      await expect(client.enforce(sampleIntent)).resolves.toMatchObject({ status: "ALLOW" });
      const [first, second] = enforces(server());
      expect(enforces(server())).toHaveLength(2);
      expect(second!.body).toBe(first!.body);
    });
  });
  describe("the 100 KiB cap cuts the stream; sockets are kept alive (protocol 1)", () => {
    let server: RawServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it("an endless body is cut past 100 KiB: RESPONSE_TOO_LARGE, the socket closed, nothing ran", async () => {
      let written = 0;
      let closed = false;
      server = await startRawServer((req, res) => {
        if (req.url === "/.well-known/jwks.json") {
          answerWith(res, jwks);
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }); // chunked: no length to refuse up front
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        res.on("close", () => (closed = true));
        // Bounded: 64 MiB at most, written as fast as the client reads.
        const pump = (): void => {
          while (!closed && written < 64 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      const client = new DecionisClient({
        apiKey: "sk_test",
        baseUrl: server.url,
        tenantId: "acme",
        transport,
        retryPolicy: RetryPolicy.none(),
      });
      let ran = false;
      const error = await client
        .enforce(sampleIntent, {
          execute: () => {
            ran = true;
          },
        })
        .catch((e: unknown) => e);
      await client.close();
      expect(ran).toBe(false);
      expect(error).toMatchObject({ code: "RESPONSE_TOO_LARGE" });
      for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
      expect(closed).toBe(true);
      expect(written).toBeLessThan(64 * 1024 * 1024);
    });

    it("calls in a row reuse their sockets", async () => {
      const sockets = new Set<unknown>();
      server = await startRawServer((req, res, socket) => {
        sockets.add(socket);
        if (req.url === "/.well-known/jwks.json") answerWith(res, jwks);
        else answerWith(res, allowFor({ ...req, json: JSON.parse(req.body) }));
      });
      // verify "none": no key fetch running beside the first call on a second socket.
      const client = new DecionisClient({
        apiKey: "sk_test",
        baseUrl: server.url,
        tenantId: "acme",
        transport,
        verify: "none",
      });
      for (let i = 0; i < 6; i++)
        await expect(client.enforce(sampleIntent)).resolves.toMatchObject({ status: "ALLOW" });
      await client.close();
      expect(server.requests.length).toBe(6);
      // undici ends a response before its socket is free again, so a call sent at once
      // takes a second socket: two at most, each reused, never one per call.
      expect(sockets.size).toBeLessThanOrEqual(2);
    });
  });
});
