/**
 * `decionis/openai-agents` with the real `@openai/agents` runner, a scripted
 * `Model` (no network, tracing off) and a local authority on 127.0.0.1:0 with
 * examples/policies.json (agent-tools: refunds of 40 are allowed, 250 need
 * review, 5,000 are blocked).
 */
import { randomUUID } from "node:crypto";
import { Agent, RunState, Usage, run, setTracingDisabled, tool, type Model, type ModelRequest } from "@openai/agents";
import { z } from "zod";
import { BlockedError, DecionisClient, isDecionisError } from "../../src/index.js";
import { startLocalAuthority } from "../../src/local/index.js";
import { gateTool, gateTools, type EscalationStore } from "../../src/integrations/openai-agents/index.js";
import { POLICIES_FILE, startEnv } from "./ai-scenarios";

setTracingDisabled(true);

let env: Awaited<ReturnType<typeof startEnv>>;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env.stop();
});

/** Calls issue_refund once with `amount`, then says "done"; keeps what each tool call's result told it. */
class ScriptedModel implements Model {
  readonly callId = `call_${randomUUID()}`;
  readonly told: string[] = [];
  constructor(readonly amount: number) {}
  async getResponse(request: ModelRequest) {
    const items = Array.isArray(request.input) ? request.input : [];
    const results = items.filter((i: any) => i.type === "function_call_result" && i.callId === this.callId);
    if (results.length > 0) {
      this.told.push(...results.map((r: any) => JSON.stringify(r.output)));
      return {
        usage: new Usage(),
        output: [
          {
            type: "message" as const,
            role: "assistant" as const,
            status: "completed" as const,
            content: [{ type: "output_text" as const, text: "done" }],
          },
        ],
      };
    }
    return {
      usage: new Usage(),
      output: [
        {
          type: "function_call" as const,
          callId: this.callId,
          name: "issue_refund",
          arguments: JSON.stringify({ orderId: "A-1", amount: this.amount }),
          status: "completed" as const,
        },
      ],
    };
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("not streamed in these tests");
  }
}

function refundAgent(model: ScriptedModel, client: DecionisClient, store?: EscalationStore) {
  const refunds: number[] = [];
  const refund = tool({
    name: "issue_refund",
    description: "Refund an order",
    parameters: z.object({ orderId: z.string(), amount: z.number() }),
    execute: async ({ orderId, amount }) => {
      refunds.push(amount);
      return `Refunded ${amount} on ${orderId}`;
    },
  });
  const [gated] = gateTools([refund], {
    client,
    action: "ISSUE_REFUND",
    policy: "agent-tools",
    actor: { id: "support-agent", type: "AI_AGENT" },
    resource: (input: { orderId: string }) => `order:${input.orderId}`,
    context: { customer_tier: "gold" },
    ...(store === undefined ? {} : { store }),
  });
  const agent = new Agent({ name: "support", instructions: "Refund orders.", model, tools: [gated!] });
  return { agent, refunds };
}

const decisionsFor = (key: string) => env.authority.decisions().filter((d) => d.request.idempotency_key === key);

/** Runs until the approval interruption. */
async function pauseAt(amount: number, store?: EscalationStore) {
  const model = new ScriptedModel(amount);
  const { agent, refunds } = refundAgent(model, env.client, store);
  const first = await run(agent, "refund order A-1");
  expect(first.interruptions).toHaveLength(1);
  const [decision] = decisionsFor(model.callId);
  expect(decision?.decision.status).toBe("REVIEW_REQUIRED");
  return { model, agent, refunds, first, escalationId: decision!.escalation!.escalation_id };
}

test("allowed: the tool runs once and the model gets its result, under one decision", async () => {
  const model = new ScriptedModel(40);
  const { agent, refunds } = refundAgent(model, env.client);
  const result = await run(agent, "refund 40");
  expect(refunds).toEqual([40]);
  expect(model.told.join()).toContain("Refunded 40 on A-1");
  expect(result.finalOutput).toBe("done");
  expect(decisionsFor(model.callId).map((d) => d.decision.status)).toEqual(["ALLOW"]);
});

test("blocked: a guardrail rejects the call; the model reads the reason codes, explanation and dossier", async () => {
  const model = new ScriptedModel(5_000);
  const { agent, refunds } = refundAgent(model, env.client);
  const result = await run(agent, "refund 5000");
  expect(refunds).toEqual([]);
  expect(result.finalOutput).toBe("done");
  const told = model.told.join();
  expect(told).toContain("REFUND_LIMIT_EXCEEDED");
  expect(told).toContain("The agent refunds at most 500");
  expect(told).toContain(`${env.authority.url}/dossiers/dos_`);
  expect(told).not.toContain(env.authority.apiKey);
  expect(told).not.toContain("try again.");
  expect(decisionsFor(model.callId)).toHaveLength(1);
});

test("escalated: the run is interrupted; approved at the authority and through RunState, the tool runs once", async () => {
  const paused = await pauseAt(250);
  expect(paused.refunds).toEqual([]);
  await env.authority.approve(paused.escalationId, { by: "risk-officer" });
  for (const item of paused.first.interruptions) paused.first.state.approve(item);
  const resumed = await run(paused.agent, paused.first.state);
  expect(paused.refunds).toEqual([250]);
  expect(resumed.finalOutput).toBe("done");
  expect(decisionsFor(paused.model.callId)).toHaveLength(1);
});

test("escalated and rejected at the authority: approved through RunState, the tool never runs; the BlockedError surfaces", async () => {
  const paused = await pauseAt(250);
  await env.authority.reject(paused.escalationId, { by: "risk-officer" });
  for (const item of paused.first.interruptions) paused.first.state.approve(item);
  const failure: unknown = await run(paused.agent, paused.first.state).catch((e: unknown) => e);
  expect(paused.refunds).toEqual([]);
  const blocked = causeChain(failure).find((e) => e instanceof BlockedError);
  expect(blocked).toMatchObject({ status: "BLOCK", escalationStatus: "REJECTED" });
});

test("escalated and rejected through RunState: the tool never runs, the model reads the rejection", async () => {
  const paused = await pauseAt(250);
  for (const item of paused.first.interruptions) paused.first.state.reject(item);
  const resumed = await run(paused.agent, paused.first.state);
  expect(paused.refunds).toEqual([]);
  expect(resumed.finalOutput).toBe("done");
});

test("a restart between pause and resume: the serialised RunState and an escalation store resume the same decision", async () => {
  const saved = new Map<string, string>();
  const store: EscalationStore = {
    get: (k) => saved.get(k),
    set: (k, v) => saved.set(k, v),
    delete: (k) => saved.delete(k),
  };
  const paused = await pauseAt(250, store);
  const serialised = paused.first.state.toString();
  await env.authority.approve(paused.escalationId);
  // A new process: new client (empty memory), new tool objects, the state and the store read back.
  const restarted = new DecionisClient({ baseUrl: env.authority.url, apiKey: env.authority.apiKey, tenantId: "acme" });
  try {
    const again = refundAgent(paused.model, restarted, store);
    const state = await RunState.fromString(again.agent, serialised);
    for (const item of state.getInterruptions()) state.approve(item);
    const resumed = await run(again.agent, state);
    expect(again.refunds).toEqual([250]);
    expect(resumed.finalOutput).toBe("done");
    expect(decisionsFor(paused.model.callId)).toHaveLength(1);
    expect(saved.size).toBe(0);
  } finally {
    await restarted.close();
  }
});

test("authority down: the tool does not run and the run fails with the transport error", async () => {
  const down = await startLocalAuthority({ policies: POLICIES_FILE });
  const client = new DecionisClient({ baseUrl: down.url, apiKey: down.apiKey, tenantId: "acme", maxRetries: 0 });
  await down.stop();
  try {
    const model = new ScriptedModel(40);
    const { agent, refunds } = refundAgent(model, client);
    const failure: unknown = await run(agent, "refund 40").catch((e: unknown) => e);
    expect(refunds).toEqual([]);
    expect(causeChain(failure).some((e) => isDecionisError(e))).toBe(true);
  } finally {
    await client.close();
  }
});

test("gateTool refuses what is not a function tool", () => {
  expect(() => gateTool({ type: "hosted_tool", name: "web_search" } as never, { client: env.client })).toThrow(
    /function tool.*hosted_tool tool "web_search"/,
  );
});

/** The error and its causes (`cause`, and the Agents SDK's `error` field), outermost first. */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 10;) {
    chain.push(e);
    const next = (e as { cause?: unknown; error?: unknown }).cause ?? (e as { error?: unknown }).error;
    e = next === e ? undefined : next;
  }
  return chain;
}
