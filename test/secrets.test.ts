/**
 * The API key never leaves the client: not in an error's message, details,
 * cause chain, JSON form or inspection, nor in the client's own.
 */
import { inspect } from "node:util";
import {
  DecionisClient,
  DecionisError,
  RetryPolicy,
  ConfigurationError,
  type IntentInput,
  type ClientOptions,
} from "../src/index.js";
import { decisionFor, useTestAuthority, type Answer, type RecordedRequest } from "./helpers/test-authority.js";

const KEY = "sk_live_SUPERSECRET_0123456789";

const authority = useTestAuthority();

const intent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
};

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

const errorBody = (code: string) => ({ error: { code, message: `echo ${code}` } });

const faults: [string, Partial<ClientOptions>, Answer[]][] = [
  ["401", {}, [{ status: 401, body: errorBody("UNAUTHENTICATED") }]],
  ["403", {}, [{ status: 403, body: errorBody("FORBIDDEN") }]],
  ["422", {}, [{ status: 422, body: errorBody("IDEMPOTENCY_KEY_REUSED") }]],
  [
    "503 exhausted",
    { retryPolicy: new RetryPolicy({ maxRetries: 1, baseDelayMs: 1 }) },
    [{ status: 503 }, { status: 503 }],
  ],
  ["429", { retryPolicy: RetryPolicy.none() }, [{ status: 429, headers: { "retry-after": "1" } }]],
  ["dropped", { retryPolicy: RetryPolicy.none() }, [{ drop: true }]],
  ["timeout", { retryPolicy: RetryPolicy.none(), timeoutMs: 50 }, [{ delayMs: 200 }]],
  ["not JSON", {}, [{ body: "<html/>" }]],
  ["oversize", {}, [{ body: "x".repeat(200 * 1024) }]],
  ["schema", {}, [{ body: { status: "ALLOW" } }]],
  ["blocked", {}, [{ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") }]],
];

describe("the API key appears in no error", () => {
  it.each(faults)("%s", async (_what, options, answers) => {
    authority.script(...answers);
    const client = authority.client({ apiKey: KEY, ...options });
    const error = await client.enforce(intent).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecionisError);
    const views = everyView(error);
    expect(views).not.toContain(KEY);
    // No AxiosError object and no request headers anywhere (stack frames of our own mapAxiosError are fine).
    expect(views).not.toMatch(/\bAxiosError\b|Bearer|authorization['"]?\s*:/i);
  });

  it("refused connections", async () => {
    const client = new DecionisClient({
      apiKey: KEY,
      baseUrl: "http://127.0.0.1:1",
      tenantId: "acme",
      retryPolicy: RetryPolicy.none(),
    });
    const error = await client.enforce(intent).catch((e: unknown) => e);
    await client.close();
    expect(everyView(error)).not.toContain(KEY);
  });

  it("configuration errors, even when the key is passed where a URL belongs", () => {
    const error = (() => {
      try {
        return new DecionisClient({ apiKey: KEY, baseUrl: `https://user:${KEY}@api.decionis.com` });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(everyView(error)).not.toContain(KEY);
    const typeError = (() => {
      try {
        return new DecionisClient({ apiKey: 42 as unknown as string });
      } catch (e) {
        return e;
      }
    })();
    expect(typeError).toBeInstanceOf(ConfigurationError);
  });

  it("nor in the client's own JSON or inspection", () => {
    const client = authority.client({ apiKey: KEY });
    expect(JSON.stringify(client)).not.toContain(KEY);
    expect(inspect(client, { depth: 20, showHidden: true })).not.toContain(KEY);
  });
});
