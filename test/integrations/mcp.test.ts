/**
 * decionis/mcp against the real MCP SDK: an McpServer with a gated tool and
 * an MCP Client over the SDK's in-memory transport, in front of the local
 * authority. The client's elicitation handler plays the person.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ElicitRequestSchema, type ElicitRequest, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { DecionisClient } from "../../src/index.js";
import { registerGatedTool, type McpGateOptions } from "../../src/integrations/mcp/index.js";
import { clientFor, sleep, startHarness, useHarness, TENANT } from "../local/helpers.js";
import { REFUND_POLICIES, refusedUrl } from "./agents-fixtures.js";

const h = useHarness({ policies: REFUND_POLICIES });

interface Setup {
  refunds: { orderId: string; amount: number }[];
  elicitations: ElicitRequest["params"][];
  call(amount: number, options?: { signal?: AbortSignal }): Promise<{ isError?: boolean; text: string; meta: unknown }>;
  close(): Promise<void>;
}

/** A server with one gated refund tool, and a client that answers elicitations with `person`. */
async function setup(
  options: {
    person?: (request: ElicitRequest["params"]) => Promise<ElicitResult>;
    client?: DecionisClient;
    gate?: Partial<McpGateOptions>;
  } = {},
): Promise<Setup> {
  const refunds: Setup["refunds"] = [];
  const elicitations: Setup["elicitations"] = [];
  const server = new McpServer({ name: "shop", version: "1.0.0" });
  registerGatedTool(
    server,
    "issue_refund",
    { description: "Refund an order", inputSchema: { orderId: z.string(), amount: z.number() } },
    async ({ orderId, amount }) => {
      refunds.push({ orderId, amount });
      return { content: [{ type: "text", text: `refunded ${amount} on ${orderId}` }] };
    },
    {
      client: options.client ?? h.client,
      actor: { id: "support-agent", type: "AI_AGENT" },
      policy: "refunds",
      resource: (args) => `order:${args.orderId}`,
      ...options.gate,
    },
  );
  const mcp = new Client(
    { name: "host", version: "1.0.0" },
    { capabilities: options.person === undefined ? {} : { elicitation: { url: {} } } },
  );
  if (options.person !== undefined) {
    const person = options.person;
    mcp.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicitations.push(request.params);
      return person(request.params);
    });
  }
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(a), mcp.connect(b)]);
  return {
    refunds,
    elicitations,
    call: async (amount, callOptions = {}) => {
      const result = await mcp.callTool(
        { name: "issue_refund", arguments: { orderId: "A-1", amount } },
        undefined,
        callOptions,
      );
      const content = result.content as { type: string; text: string }[];
      return {
        ...(result.isError === undefined ? {} : { isError: result.isError as boolean }),
        text: content.map((c) => c.text).join("\n"),
        meta: result._meta,
      };
    },
    close: async () => {
      await mcp.close();
      await server.close();
    },
  };
}

const escalationOf = (request: ElicitRequest["params"]): string => (request as { elicitationId: string }).elicitationId;

test("allowed: the tool runs once and the client gets its result", async () => {
  const s = await setup();
  const result = await s.call(40);
  expect(result).toEqual({ text: "refunded 40 on A-1", meta: undefined });
  expect(s.refunds).toEqual([{ orderId: "A-1", amount: 40 }]);
  await s.close();
});

test("blocked: the tool does not run; the client gets isError with the reason codes, explanation and record, no stack, no key", async () => {
  const s = await setup();
  const result = await s.call(5_000);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(
    /^Tool "issue_refund" did not run: Decionis blocked it \(BLOCK\) \[REFUND_LIMIT_EXCEEDED\]\./,
  );
  expect(result.text).toContain("Refunds above 1,000 are not allowed");
  expect(result.text).toMatch(new RegExp(`Record: ${h.authority.url}/dossiers/dos_`));
  expect(result.text).not.toMatch(/\n\s+at |apiKey|Bearer/);
  expect(result.text).not.toContain(h.authority.apiKey);
  expect(result.meta).toMatchObject({
    "decionis/decision": { status: "BLOCK", reasonCodes: ["REFUND_LIMIT_EXCEEDED"] },
  });
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("escalated, client with URL elicitation: the person opens the dossier, approves at the authority, and the tool runs once", async () => {
  const s = await setup({
    person: async (request) => {
      // Nothing ran while the person looks.
      expect(s.refunds).toEqual([]);
      await h.authority.approve(escalationOf(request), { by: "risk-officer" });
      return { action: "accept" };
    },
  });
  const result = await s.call(250);
  expect(result).toEqual({ text: "refunded 250 on A-1", meta: undefined });
  expect(s.refunds).toEqual([{ orderId: "A-1", amount: 250 }]);
  expect(s.elicitations).toHaveLength(1);
  expect(s.elicitations[0]).toMatchObject({
    mode: "url",
    elicitationId: expect.stringMatching(/^esc_/),
    url: expect.stringMatching(new RegExp(`^${h.authority.url}/dossiers/dos_`)),
    message: expect.stringContaining("REFUND_NEEDS_APPROVAL"),
  });
  await s.close();
});

test("escalated, accepted in the client but rejected at the authority: the tool never runs", async () => {
  const s = await setup({
    person: async (request) => {
      await h.authority.reject(escalationOf(request), { by: "risk-officer" });
      return { action: "accept" };
    },
  });
  const result = await s.call(250);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(/the escalation esc_\w+ ended REJECTED/);
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("escalated, approved at the authority but declined in the client: the tool does not run (the client's approval is necessary)", async () => {
  const s = await setup({
    person: async (request) => {
      await h.authority.approve(escalationOf(request));
      return { action: "decline" };
    },
  });
  const result = await s.call(250);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(/needs a person's approval first \(ESCALATE, escalation esc_\w+\).*The person declined/);
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("escalated, accepted in the client with no grant at the authority: the wait ends and the tool does not run (never sufficient)", async () => {
  const s = await setup({ person: async () => ({ action: "accept" }), gate: { waitTimeoutMs: 50 } });
  const result = await s.call(250);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(/EscalationTimeoutError/);
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("escalated, client without URL elicitation: isError names the escalation and its record; nothing runs", async () => {
  const s = await setup();
  const result = await s.call(250);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(
    /needs a person's approval first \(ESCALATE, escalation esc_\w+\) \[REFUND_NEEDS_APPROVAL\]\. Refunds above 100 need a person\./,
  );
  expect(result.text).toContain(`Record: ${h.authority.url}/dossiers/dos_`);
  expect(result.meta).toMatchObject({ "decionis/decision": { status: "ESCALATE", escalationId: expect.any(String) } });
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("escalated, the client fails to ask a person: isError, nothing runs", async () => {
  const s = await setup({
    person: async () => {
      throw new Error("no browser here");
    },
  });
  const result = await s.call(250);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(
    /needs a person's approval first .*The client could not ask a person \(.*no browser here/,
  );
  expect(s.refunds).toEqual([]);
  await s.close();
});

test("a call the client cancels while the authority decides runs nothing, even on an ALLOW", async () => {
  const slow = await startHarness({ policies: REFUND_POLICIES, latencyMs: 300 });
  const s = await setup({ client: slow.client });
  const controller = new AbortController();
  const call = s.call(40, { signal: controller.signal });
  setTimeout(() => {
    controller.abort(new Error("user stopped the agent"));
  }, 50);
  await expect(call).rejects.toThrow();
  // The authority still answers (ALLOW); the handler must not run after it.
  const deadline = Date.now() + 3_000;
  while (slow.authority.decisions().length === 0 && Date.now() < deadline) await sleep(20);
  expect(slow.authority.decisions().map((d) => d.decision.status)).toEqual(["ALLOW"]);
  await sleep(100);
  expect(s.refunds).toEqual([]);
  await s.close();
  await slow.close();
});

test("authority down: the tool does not run and the client gets a tool error", async () => {
  const down = new DecionisClient({
    baseUrl: await refusedUrl(),
    apiKey: "sk_test_secret",
    tenantId: TENANT,
    maxRetries: 0,
  });
  const s = await setup({ client: down });
  const result = await s.call(40);
  expect(result.isError).toBe(true);
  expect(result.text).toMatch(
    /did not run: the Decionis authority gave no decision \(RetryExhaustedError: .*ECONNREFUSED/,
  );
  expect(result.text).not.toContain("sk_test_secret");
  expect(s.refunds).toEqual([]);
  await s.close();
  await down.close();
});

test("the handler's own error is reported by the SDK as for any tool, after an ALLOW", async () => {
  const server = new McpServer({ name: "shop", version: "1.0.0" });
  registerGatedTool(
    server,
    "flaky",
    {},
    () => {
      throw new Error("payments API down");
    },
    { client: clientFor(h.authority), actor: { id: "a", type: "AI_AGENT" }, policy: "refunds" },
  );
  const mcp = new Client({ name: "host", version: "1.0.0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(a), mcp.connect(b)]);
  const result = await mcp.callTool({ name: "flaky", arguments: {} });
  expect(result.isError).toBe(true);
  expect(JSON.stringify(result.content)).toContain("payments API down");
  await mcp.close();
  await server.close();
});
