/**
 * The AI SDK adapter's scenarios, written once and run against both majors:
 * v6 under jest (ai-v6.test.ts, Node 20) and v7 under Node 22's test runner
 * (node22/ai-v7.ts, `ai` 7 needs Node >= 22). Each drives the real
 * `generateText` with the SDK's own MockLanguageModel and a local authority
 * on 127.0.0.1:0 with examples/policies.json (agent-tools: refunds of 40 are
 * allowed, 250 need review, 5,000 are blocked).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { DecionisClient } from "../../src/index.js";
import { startLocalAuthority, type LocalAuthority } from "../../src/local/index.js";
import { gateTools, toolApproval, type EscalationStore } from "../../src/integrations/ai/index.js";

export const POLICIES_FILE = join(__dirname, "..", "..", "examples", "policies.json");

/** What the scenarios need of an `ai` major: its generateText, jsonSchema and mock model class. */
export interface AiSdk {
  major: 6 | 7;
  generateText: (options: any) => Promise<any>;
  jsonSchema: (schema: any) => any;
  MockLanguageModel: new (options: any) => any;
}

interface Env {
  authority: LocalAuthority;
  client: DecionisClient;
}

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** A model that calls issueRefund once with `amount`, then answers with what the tool told it. */
function scriptedModel(sdk: AiSdk, toolCallId: string, amount: number): { model: any; seen: () => any[] } {
  const prompts: any[] = [];
  const model = new sdk.MockLanguageModel({
    doGenerate: async (options: any) => {
      prompts.push(options.prompt);
      const last = options.prompt.at(-1);
      if (last?.role === "tool" && last.content.some((p: any) => p.type === "tool-result"))
        return {
          content: [{ type: "text", text: "done" }],
          finishReason: { unified: "stop", raw: "stop" },
          usage,
          warnings: [],
        };
      return {
        content: [
          {
            type: "tool-call",
            toolCallId,
            toolName: "issueRefund",
            input: JSON.stringify({ orderId: "A-1", amount }),
          },
        ],
        finishReason: { unified: "tool-calls", raw: "tool_calls" },
        usage,
        warnings: [],
      };
    },
  });
  // What the model was told about the tool call: the tool-result parts of its prompts.
  const seen = () =>
    prompts.flatMap((p: any[]) =>
      p.filter((m) => m.role === "tool").flatMap((m) => m.content.filter((c: any) => c.type === "tool-result")),
    );
  return { model, seen };
}

/** The tools as an app writes them, and a count of real refunds. */
function refundTools(sdk: AiSdk, client: DecionisClient, store?: EscalationStore) {
  const refunds: number[] = [];
  const tools = gateTools(
    {
      issueRefund: {
        description: "Refund an order",
        inputSchema: sdk.jsonSchema({
          type: "object",
          properties: { orderId: { type: "string" }, amount: { type: "number" } },
          required: ["orderId", "amount"],
        }),
        execute: async (input: { orderId: string; amount: number }) => {
          refunds.push(input.amount);
          return `Refunded ${input.amount} on ${input.orderId}`;
        },
      },
    },
    {
      client,
      action: "ISSUE_REFUND",
      policy: "agent-tools",
      actor: { id: "support-agent", type: "AI_AGENT" },
      resource: (input: { orderId: string }) => `order:${input.orderId}`,
      context: { customer_tier: "gold" },
      ...(store === undefined ? {} : { store }),
    },
  );
  return { tools, refunds };
}

/** v7 takes the approval statuses from `toolApproval`; v6 only from the tools' own `needsApproval`. */
function approvalOption(sdk: AiSdk, tools: Record<string, unknown>): Record<string, unknown> {
  return sdk.major === 7 ? { toolApproval: toolApproval(tools) } : {};
}

const decisionsFor = (authority: LocalAuthority, key: string) =>
  authority.decisions().filter((d) => d.request.idempotency_key === key);

function modelText(part: any): string {
  return JSON.stringify(part.output);
}

/** Runs until the approval request, and returns what resuming needs. */
async function pauseAt(sdk: AiSdk, env: Env, amount: number, store?: EscalationStore) {
  const id = `call_${randomUUID()}`;
  const { model, seen } = scriptedModel(sdk, id, amount);
  const { tools, refunds } = refundTools(sdk, env.client, store);
  const messages: any[] = [{ role: "user", content: "refund order A-1" }];
  const first = await sdk.generateText({ model, tools, messages, ...approvalOption(sdk, tools) });
  const request = first.content.find((p: any) => p.type === "tool-approval-request");
  assert.ok(request, `the run pauses for approval; got ${JSON.stringify(first.content.map((p: any) => p.type))}`);
  const [decision] = decisionsFor(env.authority, id);
  assert.equal(decision?.decision.status, "REVIEW_REQUIRED");
  const escalationId = decision.escalation!.escalation_id;
  const resume = (approved: boolean, withTools = tools) =>
    sdk.generateText({
      model,
      tools: withTools,
      ...approvalOption(sdk, withTools),
      messages: [
        ...messages,
        ...first.response.messages,
        { role: "tool", content: [{ type: "tool-approval-response", approvalId: request.approvalId, approved }] },
      ],
    });
  return { id, first, request, escalationId, refunds, seen, resume, tools };
}

/** The scenarios, each independent; `env()` is the running authority and a client of it. */
export function aiScenarios(sdk: AiSdk, env: () => Env): Record<string, () => Promise<void>> {
  return {
    "allowed: the tool runs once and the model gets its result, under one decision": async () => {
      const { authority, client } = env();
      const id = `call_${randomUUID()}`;
      const { model, seen } = scriptedModel(sdk, id, 40);
      const { tools, refunds } = refundTools(sdk, client);
      const result = await sdk.generateText({
        model,
        tools,
        prompt: "refund 40",
        stopWhen: () => false,
        ...approvalOption(sdk, tools),
      });
      assert.deepEqual(refunds, [40]);
      assert.match(modelText(seen()[0]), /Refunded 40 on A-1/);
      assert.equal(result.text, "done");
      const decisions = decisionsFor(authority, id);
      assert.equal(decisions.length, 1, "the approval check and the run share one decision");
      assert.equal(decisions[0]!.decision.status, "ALLOW");
    },

    "blocked: the tool never runs and the model reads the reason codes, explanation and dossier": async () => {
      const { authority, client } = env();
      const id = `call_${randomUUID()}`;
      const { model, seen } = scriptedModel(sdk, id, 5_000);
      const { tools, refunds } = refundTools(sdk, client);
      await sdk.generateText({
        model,
        tools,
        prompt: "refund 5000",
        stopWhen: () => false,
        ...approvalOption(sdk, tools),
      });
      assert.deepEqual(refunds, []);
      const told = seen()[0];
      // v7: the framework's own denial; v6 has none, so the refusal is the tool error.
      assert.equal(told.output.type, sdk.major === 7 ? "execution-denied" : "error-text");
      const text = modelText(told);
      assert.match(text, /REFUND_LIMIT_EXCEEDED/);
      assert.match(text, /The agent refunds at most 500/);
      assert.match(text, new RegExp(`${authority.url}/dossiers/dos_`));
      assert.doesNotMatch(text, new RegExp(authority.apiKey));
      assert.doesNotMatch(text, /\n\s+at /, "no stack");
      assert.equal(decisionsFor(authority, id).length, 1);
    },

    "escalated: the run pauses; approved at the authority and in the app, it resumes and the tool runs once":
      async () => {
        const e = env();
        const paused = await pauseAt(sdk, e, 250);
        assert.deepEqual(paused.refunds, [], "nothing runs while the run is paused");
        if (sdk.major === 7) {
          assert.match(paused.request.reason, new RegExp(paused.escalationId));
          assert.match(paused.request.reason, /\/dossiers\/dos_/);
        }
        await e.authority.approve(paused.escalationId, { by: "risk-officer" });
        const resumed = await paused.resume(true);
        assert.deepEqual(paused.refunds, [250]);
        assert.equal(resumed.text, "done");
        assert.match(modelText(paused.seen().at(-1)), /Refunded 250 on A-1/);
        assert.equal(decisionsFor(e.authority, paused.id).length, 1, "one decision for the whole tool call");
      },

    "escalated and rejected at the authority: approved in the app, the tool still never runs": async () => {
      const e = env();
      const paused = await pauseAt(sdk, e, 250);
      await e.authority.reject(paused.escalationId, { by: "risk-officer" });
      await paused.resume(true);
      assert.deepEqual(paused.refunds, []);
      const told = modelText(paused.seen().at(-1));
      assert.match(told, /REJECTED/);
    },

    "escalated and denied in the app: the tool never runs": async () => {
      const e = env();
      const paused = await pauseAt(sdk, e, 250);
      await e.authority.approve(paused.escalationId);
      await paused.resume(false);
      assert.deepEqual(paused.refunds, []);
      assert.equal(paused.seen().at(-1).output.type, "execution-denied");
    },

    "a restart between pause and resume: with a store the same decision resumes; without one nothing runs":
      async () => {
        const e = env();
        const saved = new Map<string, string>();
        const store: EscalationStore = {
          get: (k) => saved.get(k),
          set: (k, v) => saved.set(k, v),
          delete: (k) => saved.delete(k),
        };
        const paused = await pauseAt(sdk, e, 250, store);
        await e.authority.approve(paused.escalationId);
        // A new process: a new client (empty memory), new tool objects, the same store.
        const restarted = new DecionisClient({
          baseUrl: e.authority.url,
          apiKey: e.authority.apiKey,
          tenantId: "acme",
        });
        try {
          const again = refundTools(sdk, restarted, store);
          await paused.resume(true, again.tools);
          assert.deepEqual(again.refunds, [250]);
          assert.equal(decisionsFor(e.authority, paused.id).length, 1, "the restarted process asked nothing new");

          const second = await pauseAt(sdk, e, 250);
          await e.authority.approve(second.escalationId);
          const forgetful = refundTools(sdk, restarted);
          await second.resume(true, forgetful.tools);
          assert.deepEqual(forgetful.refunds, [], "without the store, the same key with a new intent is refused");
          // v6 re-checks the approval on resume and denies what no longer asks for one; v7 reports the refusal.
          assert.match(second.seen().at(-1).output.type, /^(execution-denied|error-text)$/);
        } finally {
          await restarted.close();
        }
      },

    "authority down: the tool does not run and the framework reports a tool error": async () => {
      const down = await startLocalAuthority({ policies: POLICIES_FILE });
      const client = new DecionisClient({ baseUrl: down.url, apiKey: down.apiKey, tenantId: "acme", maxRetries: 0 });
      await down.stop();
      try {
        const { model, seen } = scriptedModel(sdk, `call_${randomUUID()}`, 40);
        const { tools, refunds } = refundTools(sdk, client);
        await sdk.generateText({
          model,
          tools,
          prompt: "refund 40",
          stopWhen: () => false,
          ...approvalOption(sdk, tools),
        });
        assert.deepEqual(refunds, []);
        const told = seen()[0];
        assert.equal(told.output.type, "error-text");
        assert.match(modelText(told), /authority/i);
      } finally {
        await client.close();
      }
    },
  };
}

/** Starts the authority and client the scenarios share. */
export async function startEnv(): Promise<Env & { stop(): Promise<void> }> {
  const authority = await startLocalAuthority({ policies: POLICIES_FILE });
  const client = new DecionisClient({
    baseUrl: authority.url,
    apiKey: authority.apiKey,
    tenantId: "acme",
    maxRetries: 0,
  });
  return {
    authority,
    client,
    stop: async () => {
      await client.close();
      await authority.stop();
    },
  };
}
