/**
 * What reaches the wire is exactly what was bound (asserted on the raw bytes a
 * real server receives), and an authority that echoes the API key back gets it
 * into none of our errors; for both transports (axios, undici).
 */
import { inspect } from "node:util";
import { ConfigurationError, DecionisError, RetryPolicy, VERSION, type IntentInput } from "../../src/index.js";
import { enforceRequest } from "../../src/gateway/gateway.js";
import { useTestAuthority, type Answer } from "../helpers/test-authority.js";
import { startByteServer } from "../helpers/raw-server.js";
import { TRANSPORTS, gatewayOf } from "./transports.js";

const KEY = "sk_live_ECHOED_0123456789abcdef";

describe.each(TRANSPORTS)("%s transport", (transport) => {
  describe("headers reach the server byte for byte", () => {
    const OK =
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 29\r\n\r\n{"status":"ok","version":"1"}';

    it("authorization, idempotency-key, correlation id, content type and user agent, once each", async () => {
      const server = await startByteServer(OK);
      const gateway = gatewayOf(transport, {
        baseUrl: server.url,
        apiKey: KEY,
        timeoutMs: 2000,
        retryPolicy: RetryPolicy.none(),
      });
      try {
        const body = '{"a":1,"b":"é"}';
        await gateway.enforceAndBind(enforceRequest(body, "ord-88412", "t:acme|c:x"));
        const consume = { execution_token: "a.b.c", intent_hash: `sha256:${"0".repeat(64)}`, consumed_by: "me" };
        await gateway.consumeToken(consume, { idempotencyKey: "consume-1" });
        await gateway.health();
        const [enforce, consumed, health] = server.raw;
        // Names are case-insensitive (axios writes Content-Type); values must arrive as given.
        const lines = (raw: string) =>
          raw
            .split("\r\n\r\n")[0]!
            .split("\r\n")
            .slice(1)
            .map((l) => l.slice(0, l.indexOf(":")).toLowerCase() + l.slice(l.indexOf(":")));
        const names = (raw: string) => lines(raw).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
        for (const raw of server.raw) expect(new Set(names(raw)).size).toBe(names(raw).length);
        expect(lines(enforce!)).toEqual(
          expect.arrayContaining([
            `authorization: Bearer ${KEY}`,
            "idempotency-key: ord-88412",
            "x-correlation-id: t:acme|c:x",
            "content-type: application/json",
            `user-agent: decionis-node/${VERSION}`,
          ]),
        );
        // The body bytes are the bound ones, UTF-8, unchanged.
        expect(Buffer.from(enforce!.split("\r\n\r\n")[1]!, "latin1").toString("utf8")).toBe(body);
        expect(lines(consumed!)).toEqual(expect.arrayContaining(["idempotency-key: consume-1"]));
        expect(consumed!.split("\r\n\r\n")[1]).toBe(JSON.stringify(consume));
        expect(lines(health!)).toEqual(expect.arrayContaining([`authorization: Bearer ${KEY}`]));
        expect(names(health!)).not.toContain("idempotency-key");
      } finally {
        await gateway.close();
        await server.close();
      }
    });

    it.each([
      ["a trailing newline", `${KEY}\n`],
      ["a trailing space", `${KEY} `],
      ["a leading tab", `\t${KEY}`],
      ["an inner space", "sk live"],
      ["a NUL", "sk\u0000live"],
      ["non-ASCII", "sk_lïve"],
    ])("an API key with %s is refused at construction, without the key in the error", (_what, apiKey) => {
      let error: unknown;
      try {
        gatewayOf(transport, {
          baseUrl: "http://127.0.0.1:1",
          apiKey,
          timeoutMs: 1000,
          retryPolicy: RetryPolicy.none(),
        });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).code).toBeDefined();
      expect(everyView(error)).not.toContain(apiKey.trim());
    });

    it("an enforce idempotency key axios would rewrite is refused before any byte is sent", async () => {
      const server = await startByteServer(OK);
      const gateway = gatewayOf(transport, {
        baseUrl: server.url,
        apiKey: KEY,
        timeoutMs: 2000,
        retryPolicy: RetryPolicy.none(),
      });
      try {
        const error = await gateway.enforceAndBind(enforceRequest("{}", "ord-1\r\n", "c")).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigurationError);
        expect(server.raw).toHaveLength(0);
      } finally {
        await gateway.close();
        await server.close();
      }
    });
  });

  function everyView(error: unknown): string {
    const parts: string[] = [];
    let current: unknown = error;
    for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
      parts.push(String(current), JSON.stringify(current) ?? "", inspect(current, { depth: 20, showHidden: true }));
      if (current instanceof Error) parts.push(current.stack ?? "", JSON.stringify(Object.entries(current)));
      current = (current as { cause?: unknown }).cause;
    }
    return parts.join("\n");
  }

  describe("an authority that echoes the API key back", () => {
    const authority = useTestAuthority({
      apiKey: KEY,
      retryPolicy: new RetryPolicy({ maxRetries: 1, baseDelayMs: 1 }),
      transport,
    });
    const intent: IntentInput = { actor: { id: "bot", type: "BOT" }, action: { type: "A", resource: "r" } };
    const echo = (status: number, code = "ECHO"): Answer => ({
      status,
      body: {
        error: {
          code: code,
          message: `bad key ${KEY} (Bearer ${KEY}, url-encoded ${encodeURIComponent(KEY)})`,
          details: { received: KEY, nested: [{ [KEY]: `authorization: Bearer ${KEY}` }] },
        },
      },
    });

    it.each([
      ["401", [echo(401)]],
      ["403", [echo(403)]],
      ["400", [echo(400)]],
      ["422", [echo(422, "IDEMPOTENCY_KEY_REUSED")]],
      ["503 twice (RetryExhaustedError)", [echo(503), echo(503)]],
      ["409 in flight twice", [echo(409, "IDEMPOTENCY_IN_FLIGHT"), echo(409, "IDEMPOTENCY_IN_FLIGHT")]],
      ["429 beyond the cap", [{ ...echo(429), headers: { "retry-after": "3600" } }]],
    ] as [string, Answer[]][])("%s: not in message, details, cause, toJSON or inspect", async (_what, answers) => {
      authority.script(...answers);
      const error = await authority
        .client()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DecionisError);
      const views = everyView(error);
      expect(views).not.toContain(KEY);
      expect(views).not.toContain(encodeURIComponent(KEY));
      expect(views).toContain("[REDACTED]");
    });

    it("a key in the error code is scrubbed too", async () => {
      authority.script(echo(400, `CODE_${KEY}`));
      const error = await authority
        .client()
        .enforce(intent)
        .catch((e: unknown) => e);
      expect(everyView(error)).not.toContain(KEY);
    });

    it("the rest of the server's message survives", async () => {
      authority.script(echo(400));
      const error = (await authority
        .client()
        .enforce(intent)
        .catch((e: unknown) => e)) as DecionisError;
      expect(error.message).toContain("bad key [REDACTED]");
      expect(error.details).toMatchObject({ serverDetails: { received: "[REDACTED]" } });
    });
  });
});
