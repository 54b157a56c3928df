/**
 * The whole Keon path over real HTTP: the public API (createKeonClient, gate,
 * enforce, decide, execute, decideAndExecute) against the Keon test server on
 * 127.0.0.1. Every refusal is checked to have run nothing.
 */
import { inspect } from "node:util";
import {
  AuthenticationError,
  BlockedError,
  ConfigurationError,
  ContractError,
  DecionisClient,
  InvalidCorrelationIdError,
  InvalidReceiptError,
  MissingReceiptError,
  RetryExhaustedError,
  RetryPolicy,
  ServerError,
  TimeoutError,
  ValidationError,
  gate,
  type IntentInput,
} from "../../src/index";
import {
  ExecutionDeniedError,
  KeonGateway,
  createKeonClient,
  keonReceipt,
  subjectHash,
  type KeonClient,
  type KeonClientOptions,
} from "../../src/integrations/keon/index";
import {
  startKeonTestServer,
  type KeonTestFault,
  type KeonTestServer,
  type KeonTestServerOptions,
} from "../../src/integrations/keon/testing";

const KEY = "keon_live_SUPERSECRET_0123456789";
const TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-TOKEN.sig";
const fast = new RetryPolicy({ maxRetries: 2, baseDelayMs: 1, maxDelayMs: 20 });

let server: KeonTestServer;
let clients: KeonClient[] = [];

async function start(options: KeonTestServerOptions = {}): Promise<KeonTestServer> {
  server = await startKeonTestServer({
    apiKey: KEY,
    decide: (r) =>
      r.context?.deny === true ? { decision: "deny", reason: "Amount above the tenant's limit" } : "allow",
    execute: (r) => ({ echoed: r.parameters ?? null }),
    ...options,
  });
  return server;
}

function client(options: Partial<KeonClientOptions> = {}): KeonClient {
  const c = createKeonClient({
    baseUrl: server.url,
    ...(options.bearerToken === undefined ? { apiKey: KEY } : {}),
    tenantId: "tenant-123",
    retryPolicy: fast,
    ...options,
  });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.stop();
});

const intent = (over: Partial<IntentInput> = {}): IntentInput => ({
  actor: { id: "user-456", type: "USER" },
  action: { type: "execute_workflow", resource: "workflow:workflow-789" },
  parameters: { workflowId: "workflow-789", inputs: { amount: 40 } },
  context: { environment: "production" },
  ...over,
});

const decides = (): number => server.requests.filter((r) => r.path === "decide").length;
const executes = (): number => server.requests.filter((r) => r.path === "execute").length;

function everyView(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    parts.push(String(current), JSON.stringify(current) ?? "", inspect(current, { depth: 20, showHidden: true }));
    if (current instanceof Error) parts.push(current.stack ?? "");
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

describe("decide → a gated local function", () => {
  test("allow: the function runs once, locally, after one POST /decide of the mapped intent", async () => {
    await start();
    const keon = client();
    const ran: unknown[] = [];
    const run = keon.gate(
      async (workflowId: string, amount: number) => {
        ran.push([workflowId, amount]);
        return `ran ${workflowId}`;
      },
      {
        action: "execute_workflow",
        actor: { id: "user-456", type: "USER" },
        resource: (workflowId) => `workflow:${workflowId}`,
        parameters: (workflowId, amount) => ({ workflowId, amount }),
        context: () => ({ environment: "production" }),
      },
    );
    await expect(run("workflow-789", 40)).resolves.toBe("ran workflow-789");
    expect(ran).toEqual([["workflow-789", 40]]);
    expect(decides()).toBe(1);
    expect(executes()).toBe(0);
    const sent = server.requests[0]!;
    const body = sent.body as Record<string, unknown>;
    expect(body).toEqual({
      correlationId: expect.stringMatching(/^t:tenant-123\|c:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/),
      tenantId: "tenant-123",
      actorId: "user-456",
      action: "execute_workflow",
      resourceType: "workflow",
      resourceId: "workflow-789",
      subjectHash: subjectHash({ workflowId: "workflow-789", amount: 40 }),
      context: { environment: "production" },
    });
    expect(sent.headers["x-correlation-id"]).toBe(body.correlationId);
    expect(sent.headers["x-api-key"]).toBe(KEY);
    expect(sent.headers.authorization).toBeUndefined();
  });

  test("a decorated method runs on allow and not on deny", async () => {
    await start();
    const keon = client();
    const calls: number[] = [];
    class Payments {
      @gate({
        client: keon,
        action: "refund",
        actor: { id: "billing-bot", type: "SERVICE" },
        resource: (orderId: string) => `order:${orderId}`,
        context: (_orderId: string, amount: number) => ({ deny: amount > 100 }),
      })
      async refund(orderId: string, amount: number): Promise<string> {
        calls.push(amount);
        return `refunded ${orderId}`;
      }
    }
    const payments = new Payments();
    await expect(payments.refund("o-1", 40)).resolves.toBe("refunded o-1");
    await expect(payments.refund("o-2", 500)).rejects.toBeInstanceOf(BlockedError);
    expect(calls).toEqual([40]);
  });

  test("deny: nothing runs; BlockedError (alias ExecutionDeniedError) with status BLOCK, the reason and the receipt id", async () => {
    await start();
    const keon = client();
    const fn = jest.fn();
    const error = (await keon
      .enforce(intent({ context: { deny: true } }), { execute: fn })
      .catch((e: unknown) => e)) as BlockedError;
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(BlockedError);
    expect(error).toBeInstanceOf(ExecutionDeniedError);
    expect(ExecutionDeniedError).toBe(BlockedError);
    expect(error.status).toBe("BLOCK");
    expect(error.explanation).toBe("Amount above the tenant's limit");
    expect(error.decisionId).toMatch(/^dr-[0-9a-f-]{36}$/);
    expect(server.receipts.has(error.decisionId)).toBe(true);
    expect(error.message).toContain("Amount above the tenant's limit");
    expect(keonReceipt(error.decision)).toMatchObject({ decision: "deny", receiptId: error.decisionId });
  });

  test("a bearer token goes as Authorization: Bearer, and no X-API-Key", async () => {
    await start({ bearerToken: TOKEN, apiKey: undefined });
    const keon = client({ bearerToken: TOKEN });
    await expect(keon.enforce(intent())).resolves.toMatchObject({ status: "ALLOW" });
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.requests[0]!.headers["x-api-key"]).toBeUndefined();
  });

  test("an expired receipt runs nothing", async () => {
    await start({ decide: () => ({ decision: "allow", expiresInMs: -1_000 }) });
    const fn = jest.fn();
    await expect(client().enforce(intent(), { execute: fn })).rejects.toMatchObject({
      name: "InvalidReceiptError",
      code: "TOKEN_EXPIRED",
    });
    expect(fn).not.toHaveBeenCalled();
  });

  test("a receipt that expires between decide and execute runs nothing", async () => {
    await start({ decide: () => ({ decision: "allow", expiresInMs: 150 }) });
    const keon = client();
    const receipt = await keon.decide(intent());
    await new Promise((r) => setTimeout(r, 200));
    const fn = jest.fn();
    await expect(keon.execute(receipt, fn)).rejects.toMatchObject({ code: "TOKEN_EXPIRED" });
    await expect(keon.execute(receipt, { action: "execute_workflow" })).rejects.toBeInstanceOf(InvalidReceiptError);
    expect(fn).not.toHaveBeenCalled();
    expect(executes()).toBe(0);
  });

  test("a receipt without expiresAt lives as long as the intent, no longer", async () => {
    await start({ decide: () => ({ decision: "allow", expiresInMs: null }) });
    const keon = client({ intentTtlMs: 5_000 });
    const before = Date.now();
    const receipt = await keon.decide(intent());
    const expiry = receipt.executionTokenExpiresAt!.getTime();
    expect(expiry).toBeGreaterThan(before + 4_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  test.each([
    ["tenantId", { tenantId: "tenant-999" }],
    ["actorId", { actorId: "someone-else" }],
    ["correlationId", { correlationId: "t:tenant-123|c:01932b3c-4d5e-7890-abcd-ef1234567890" }],
    // A hostile runtime echoing the key where the tenant belongs: refused, and the key stays out of the error.
    ["tenantId", { tenantId: KEY }],
  ])("a receipt for another %s runs nothing", async (field, override) => {
    await start();
    const keon = client();
    const correlationId = "t:tenant-123|c:01932b3c-4d5e-7890-abcd-ef1234567899";
    // A hostile runtime: a well-formed allow, for someone else.
    server.fail("decide", {
      status: 200,
      json: {
        success: true,
        data: {
          receiptId: "dr-01932b3c-4d5e-7890-abcd-ef1234567890",
          decision: "allow",
          correlationId,
          tenantId: "tenant-123",
          actorId: "user-456",
          decidedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + 30_000).toISOString(),
          ...override,
        },
      },
    });
    const fn = jest.fn();
    const error = await keon.enforce(intent({ correlationId }), { execute: fn }).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error).toMatchObject({ code: "TOKEN_CLAIMS_INVALID", details: { field } });
    expect(everyView(error)).not.toContain(KEY);
  });
});

describe("Keon's remote execution", () => {
  test("execute(receipt, { action, parameters }) → POST /execute with the receipt id, a typed ExecutionResult", async () => {
    await start();
    const keon = client();
    const receipt = await keon.decide(intent());
    expect(receipt.allowed).toBe(true);
    const result = await keon.execute(receipt, {
      action: "execute_workflow",
      parameters: { inputs: { amount: 40 }, workflowId: "workflow-789" },
    });
    expect(result).toMatchObject({
      executionId: expect.stringMatching(/^exec-/),
      decisionReceiptId: receipt.decisionId,
      correlationId: receipt.correlationId,
      status: "completed",
      result: { echoed: { inputs: { amount: 40 }, workflowId: "workflow-789" } },
    });
    expect(result.executedAt).toBeInstanceOf(Date);
    expect(server.executions).toHaveLength(1);
    const sent = server.requests.find((r) => r.path === "execute")!;
    expect(sent.body).toEqual({
      correlationId: receipt.correlationId,
      decisionReceiptId: receipt.decisionId,
      tenantId: "tenant-123",
      actorId: "user-456",
      action: "execute_workflow",
      parameters: { inputs: { amount: 40 }, workflowId: "workflow-789" },
    });
    expect(sent.headers["x-correlation-id"]).toBe(receipt.correlationId);
    // Used once: a second execution is refused here, without a request.
    await expect(keon.execute(receipt, {})).rejects.toMatchObject({ code: "RECEIPT_ALREADY_USED" });
    expect(executes()).toBe(1);
  });

  test("no receipt, a deny and an unknown receipt throw before any request", async () => {
    await start();
    const keon = client();
    await expect(keon.execute(undefined, { action: "execute_workflow" })).rejects.toBeInstanceOf(MissingReceiptError);
    await expect(keon.execute(null, {})).rejects.toBeInstanceOf(MissingReceiptError);
    const denied = await keon.decide(intent({ context: { deny: true } }));
    expect(denied.status).toBe("BLOCK");
    await expect(keon.execute(denied, { action: "execute_workflow" })).rejects.toBeInstanceOf(ExecutionDeniedError);
    const other = client();
    const foreign = await other.decide(intent());
    await expect(keon.execute(foreign, {})).rejects.toMatchObject({ code: "RECEIPT_UNKNOWN" });
    await expect(keon.execute({ ...foreign }, {})).rejects.toMatchObject({ code: "RECEIPT_UNKNOWN" });
    expect(executes()).toBe(0);
  });

  test("another action or other parameters are refused before the receipt is used; the right call then runs", async () => {
    await start();
    const keon = client();
    const receipt = await keon.decide(intent());
    await expect(keon.execute(receipt, { action: "delete_workflow" })).rejects.toMatchObject({
      code: "TOKEN_BINDING_MISMATCH",
    });
    await expect(
      keon.execute(receipt, { parameters: { workflowId: "workflow-789", inputs: { amount: 4000 } } }),
    ).rejects.toMatchObject({ code: "TOKEN_BINDING_MISMATCH" });
    expect(executes()).toBe(0);
    // Defaults: the decided action and parameters.
    await expect(keon.execute(receipt)).resolves.toMatchObject({ status: "completed" });
    expect(server.executions[0]!.parameters).toEqual({ inputs: { amount: 40 }, workflowId: "workflow-789" });
  });

  test("a receipt used by a local run cannot be executed remotely, and the reverse", async () => {
    await start();
    const keon = client();
    const local = await keon.decide(intent());
    await keon.execute(local, () => "ran locally");
    await expect(keon.execute(local, {})).rejects.toBeInstanceOf(InvalidReceiptError);
    const remote = await keon.decide(intent());
    await keon.execute(remote, {});
    const fn = jest.fn();
    await expect(keon.execute(local, {})).rejects.toMatchObject({ code: "RECEIPT_ALREADY_USED" });
    await expect(keon.execute(remote, fn)).rejects.toMatchObject({ code: "RECEIPT_ALREADY_USED" });
    expect(fn).not.toHaveBeenCalled();
    expect(executes()).toBe(1);
  });

  test("an aborted signal sends nothing and leaves the receipt usable", async () => {
    await start();
    const keon = client();
    const receipt = await keon.decide(intent());
    const controller = new AbortController();
    controller.abort(new Error("caller gave up"));
    await expect(keon.execute(receipt, {}, { signal: controller.signal })).rejects.toThrow("caller gave up");
    expect(executes()).toBe(0);
    await expect(keon.execute(receipt, {})).resolves.toMatchObject({ status: "completed" });
  });

  test("decideAndExecute: allow executes once; deny throws ExecutionDeniedError and sends no /execute", async () => {
    await start();
    const keon = client();
    await expect(keon.decideAndExecute(intent())).resolves.toMatchObject({ status: "completed" });
    await expect(keon.decideAndExecute(intent({ context: { deny: true } }))).rejects.toMatchObject({
      name: "BlockedError",
      status: "BLOCK",
      explanation: "Amount above the tenant's limit",
    });
    expect(decides()).toBe(2);
    expect(executes()).toBe(1);
  });

  test("Keon's envelope codes on /execute map onto the SDK's classes", async () => {
    await start();
    const keon = client();
    const cases: [KeonTestFault, (e: unknown) => void][] = [
      [
        {
          status: 403,
          json: { success: false, error: { code: "EXECUTION_DENIED", message: "No", details: { receiptId: "dr-x" } } },
        },
        (e) => {
          expect(e).toMatchObject({ name: "BlockedError", status: "BLOCK", decisionId: "dr-x", explanation: "No" });
        },
      ],
      [
        { status: 400, json: { success: false, error: { code: "INVALID_DECISION_RECEIPT", message: "used" } } },
        (e) => {
          expect(e).toMatchObject({ name: "InvalidReceiptError", code: "TOKEN_NOT_VALID" });
        },
      ],
      [
        { status: 400, json: { success: false, error: { code: "MISSING_DECISION_RECEIPT", message: "none" } } },
        (e) => {
          expect(e).toBeInstanceOf(InvalidReceiptError);
        },
      ],
      [
        {
          status: 400,
          json: { success: false, error: { code: "VALIDATION_ERROR", message: "bad", details: { field: "action" } } },
        },
        (e) => {
          expect(e).toMatchObject({ name: "ValidationError", path: "action" });
        },
      ],
      [
        { status: 400, json: { success: false, error: { code: "INVALID_CORRELATION_ID", message: "bad" } } },
        (e) => {
          expect(e).toBeInstanceOf(InvalidCorrelationIdError);
        },
      ],
      [
        { status: 401, json: { success: false, error: { code: "UNAUTHORIZED", message: "who" } } },
        (e) => {
          expect(e).toBeInstanceOf(AuthenticationError);
          // A Keon user set no DECIONIS_API_KEY: the message names the key they gave.
          expect((e as Error).message).toContain("the apiKey or bearerToken given to the Keon client");
          expect((e as Error).message).not.toContain("DECIONIS_API_KEY");
        },
      ],
      // Not retried: the action may have run.
      [
        { status: 503 },
        (e) => {
          expect(e).toBeInstanceOf(ServerError);
        },
      ],
    ];
    for (const [fault, check] of cases) {
      const receipt = await keon.decide(intent());
      server.fail("execute", fault);
      check(await keon.execute(receipt, {}).catch((e: unknown) => e));
    }
    expect(executes()).toBe(cases.length);
    expect(server.executions).toHaveLength(0);
  });

  test("/execute is retried after a 429 (Keon did not act), with the same body and correlation id", async () => {
    await start();
    const keon = client();
    const receipt = await keon.decide(intent());
    server.fail("execute", { status: 429, headers: { "retry-after": "0" } });
    await expect(keon.execute(receipt, {})).resolves.toMatchObject({ status: "completed" });
    const sent = server.requests.filter((r) => r.path === "execute");
    expect(sent).toHaveLength(2);
    expect(sent[1]!.body).toEqual(sent[0]!.body);
    expect(server.executions).toHaveLength(1);
  });
});

describe("faults", () => {
  test("429 and 5xx on /decide are retried with the same correlation id and body; then it runs once", async () => {
    await start();
    const onRetry = jest.fn();
    const keon = client({ hooks: { onRetry } });
    server.fail("decide", { status: 503 }, { status: 429, headers: { "retry-after": "0" } });
    const fn = jest.fn(() => "ok");
    await expect(keon.enforce(intent(), { execute: fn })).resolves.toBe("ok");
    expect(fn).toHaveBeenCalledTimes(1);
    expect(onRetry.mock.calls.map(([e]: [{ error: Error }]) => e.error.name)).toEqual([
      "ServerError",
      "RateLimitError",
    ]);
    const sent = server.requests.filter((r) => r.path === "decide");
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((r) => r.headers["x-correlation-id"])).size).toBe(1);
    expect(new Set(sent.map((r) => JSON.stringify(r.body))).size).toBe(1);
  });

  test("retries run out: RetryExhaustedError, nothing runs", async () => {
    await start();
    server.fail("decide", { status: 500 }, { status: 502 }, { status: 504 });
    const fn = jest.fn();
    const error = await client()
      .enforce(intent(), { execute: fn })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(error).toMatchObject({ attempts: 3 });
    expect(fn).not.toHaveBeenCalled();
  });

  test("a Retry-After beyond the policy's cap is not waited for", async () => {
    await start();
    server.fail("decide", { status: 429, headers: { "retry-after": "120" } });
    await expect(client().enforce(intent())).rejects.toMatchObject({ name: "RateLimitError", retryAfterMs: 120_000 });
    expect(decides()).toBe(1);
  });

  test("no answer within timeoutMs: TimeoutError, nothing runs", async () => {
    await start();
    server.fail("decide", { status: 200, delayMs: 500, json: {} });
    const fn = jest.fn();
    const error = await client({ timeoutMs: 50, retryPolicy: RetryPolicy.none() })
      .enforce(intent(), { execute: fn })
      .catch((e: unknown) => e);
    expect((error as RetryExhaustedError).cause).toBeInstanceOf(TimeoutError);
    expect(fn).not.toHaveBeenCalled();
  });

  const CID = "t:tenant-123|c:01932b3c-4d5e-7890-abcd-ef1234567899";
  const receipt = (over: object = {}): KeonTestFault["json"] => ({
    success: true,
    data: {
      receiptId: "dr-01932b3c-4d5e-7890-abcd-ef1234567890",
      correlationId: CID,
      decision: "allow",
      tenantId: "tenant-123",
      actorId: "user-456",
      decidedAt: new Date().toISOString(),
      ...over,
    },
  });
  test.each<[string, KeonTestFault]>([
    ["not JSON", { status: 200, text: "<html>ok</html>" }],
    ["empty body", { status: 200, text: "" }],
    ["no envelope", { status: 200, json: { decision: "allow" } }],
    ["success without data", { status: 200, json: { success: true } }],
    ["success false on a 200", { status: 200, json: { success: false, error: { code: "X", message: "no" } } }],
    ["decision not allow/deny", { status: 200, json: receipt({ decision: "maybe" }) }],
    ["receipt id not dr-<uuidv7>", { status: 200, json: receipt({ receiptId: "dr-1" }) }],
    ["receipt id uuidv4", { status: 200, json: receipt({ receiptId: "dr-01932b3c-4d5e-4890-abcd-ef1234567890" }) }],
    ["expiresAt not a date", { status: 200, json: receipt({ expiresAt: "tomorrow" }) }],
    ["expiresAt without offset", { status: 200, json: receipt({ expiresAt: "2099-01-01T00:00:00" }) }],
    ["over 100 KiB", { status: 200, json: receipt({ reason: "x".repeat(110 * 1024) }) }],
    ["a redirect", { status: 302, headers: { location: "http://127.0.0.1:1/steal" } }],
  ])("a malformed answer fails closed: %s", async (_what, fault) => {
    await start();
    const keon = client();
    server.fail("decide", fault);
    const fn = jest.fn();
    const error = await keon.enforce(intent({ correlationId: CID }), { execute: fn }).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(BlockedError);
    expect((error as Error).name).toMatch(/ContractError|InvalidReceiptError|RequestRejectedError/);
    expect(decides()).toBe(1);
  });

  test("the well-formed answer those faults start from runs (so each fault is what fails)", async () => {
    await start();
    server.fail("decide", { status: 200, json: receipt() });
    const fn = jest.fn(() => "ran");
    await expect(client().enforce(intent({ correlationId: CID }), { execute: fn })).resolves.toBe("ran");
  });

  test("the same allow receipt id twice runs once", async () => {
    await start();
    const keon = client();
    const correlationId = CID;
    // A receipt id of its own: grants are single-use per process, across clients and tests.
    const answer = receipt({
      receiptId: "dr-01932b3c-4d5e-7890-abcd-ef12345678ff",
      expiresAt: new Date(Date.now() + 30_000).toISOString(),
    });
    server.fail("decide", { status: 200, json: answer }, { status: 200, json: answer });
    const fn = jest.fn();
    await keon.enforce(intent({ correlationId }), { execute: fn });
    await expect(keon.enforce(intent({ correlationId }), { execute: fn })).rejects.toBeInstanceOf(ContractError);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("input and configuration, before any request", () => {
  test("a tenant id Keon refuses, and a resource without a type or id", async () => {
    await start();
    expect(() => client({ tenantId: "acme corp" })).toThrow(ConfigurationError);
    const keon = client();
    await expect(keon.enforce(intent({ tenantId: "acme.corp" }))).rejects.toMatchObject({
      name: "ValidationError",
      path: "tenantId",
    });
    await expect(keon.enforce(intent({ action: { type: "x", resource: "workflow:" } }))).rejects.toMatchObject({
      name: "ValidationError",
      path: "action.resource",
    });
    expect(server.requests).toHaveLength(0);
  });

  test("a resource without a colon is typed by the target system; a custom mapper wins", async () => {
    await start();
    await client({ system: "billing" }).enforce(intent({ action: { type: "refund", resource: "order-7" } }));
    expect(server.requests[0]!.body).toMatchObject({ resourceType: "billing", resourceId: "order-7" });
    await client({ resource: (r) => ({ type: "order", id: r.toUpperCase() }) }).enforce(
      intent({ action: { type: "refund", resource: "order-7" } }),
    );
    expect(server.requests[1]!.body).toMatchObject({ resourceType: "order", resourceId: "ORDER-7" });
  });

  test("exactly one of apiKey and bearerToken; https or loopback; neither credential in the error", async () => {
    await start();
    const bad: [Partial<KeonClientOptions>, string][] = [
      [{ apiKey: KEY, bearerToken: TOKEN }, "apiKey"],
      [{ apiKey: undefined }, "apiKey"],
      [{ apiKey: `${KEY}\n` }, "apiKey"],
      [{ baseUrl: "http://keon.example.com/runtime/v1" }, "baseUrl"],
      [{ baseUrl: `https://user:${KEY}@keon.example.com/` }, "baseUrl"],
    ];
    for (const [options, option] of bad) {
      const error = (() => {
        try {
          createKeonClient({ baseUrl: server.url, apiKey: KEY, ...options });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error).toMatchObject({ option });
      expect(everyView(error)).not.toContain(KEY);
      expect(everyView(error)).not.toContain(TOKEN);
    }
  });

  test("a KeonGateway passed to a DecionisClient gates as well", async () => {
    await start();
    const gateway = new KeonGateway({ baseUrl: server.url, apiKey: KEY });
    const plain = new DecionisClient({ gateway, tenantId: "tenant-123", verify: "none" });
    const fn = jest.fn(() => 1);
    await expect(plain.enforce(intent(), { execute: fn })).resolves.toBe(1);
    expect(JSON.stringify(gateway)).not.toContain(KEY);
    expect(inspect(gateway, { depth: 10, showHidden: true })).not.toContain(KEY);
    await plain.close();
  });
});

describe("the credential appears in no error", () => {
  const echo = (status: number) => ({
    status,
    json: {
      success: false,
      error: { code: "ECHO", message: `you sent ${KEY} ${TOKEN}`, details: { key: KEY, token: TOKEN } },
    },
  });
  test.each<[string, KeonTestFault[]]>([
    ["401", [echo(401)]],
    ["403", [echo(403)]],
    ["400", [echo(400)]],
    ["500 exhausted", [echo(500), echo(500), echo(500)]],
    ["not JSON", [{ status: 200, text: `oops ${KEY} ${TOKEN}` }]],
  ])("%s", async (_what, faults) => {
    await start();
    for (const [secret, keon] of [
      [KEY, client()],
      [TOKEN, client({ bearerToken: TOKEN, apiKey: undefined })],
    ] as const) {
      server.fail("decide", ...faults);
      const error = await keon.enforce(intent()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(everyView(error)).not.toContain(secret);
    }
  });

  test("nor in a deny's reason, nor in the client", async () => {
    await start({ decide: () => ({ decision: "deny", reason: `key ${KEY} is not allowed` }) });
    const keon = client();
    const error = await keon.enforce(intent()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedError);
    expect(everyView(error)).not.toContain(KEY);
    expect(everyView(error)).toContain("[redacted]");
    expect(JSON.stringify(keon)).not.toContain(KEY);
    expect(inspect(keon, { depth: 10, showHidden: true })).not.toContain(KEY);
  });
});

test("ValidationError comes from the canonical form before any request (lone surrogate)", async () => {
  await start();
  await expect(client().enforce(intent({ parameters: { note: "\ud800" } }))).rejects.toBeInstanceOf(ValidationError);
  expect(server.requests).toHaveLength(0);
});
