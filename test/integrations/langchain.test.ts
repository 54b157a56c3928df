/**
 * decionis/langchain against the real packages: langchain's createAgent with
 * the middleware, and a LangGraph StateGraph with ToolNode and gated tools,
 * both driven by @langchain/core's fakeModel, with a MemorySaver checkpointer,
 * in front of the local authority.
 */
import { AIMessage, ToolMessage, type BaseMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { tool } from "@langchain/core/tools";
import {
  Command,
  END,
  InMemoryStore,
  interrupt,
  MemorySaver,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { createAgent } from "langchain";
import { z } from "zod";
import { DecionisClient } from "../../src/index.js";
import {
  decionisMiddleware,
  gateTool,
  gateTools,
  type DecionisApprovalRequest,
  type ToolGateOptions,
} from "../../src/integrations/langchain/index.js";
import { useHarness, TENANT } from "../local/helpers.js";
import { REFUND_POLICIES, refusedUrl } from "./agents-fixtures.js";

const h = useHarness({ policies: REFUND_POLICIES });

let refunds: { orderId: string; amount: number }[] = [];
beforeEach(() => {
  refunds = [];
});

const issueRefund = tool(
  async ({ orderId, amount }: { orderId: string; amount: number }) => {
    refunds.push({ orderId, amount });
    return `refunded ${amount} on ${orderId}`;
  },
  {
    name: "issue_refund",
    description: "Refund an order",
    schema: z.object({ orderId: z.string(), amount: z.number() }),
  },
);

const gateOptions = (extra: Partial<ToolGateOptions> = {}): ToolGateOptions => ({
  client: h.client,
  actor: { id: "support-agent", type: "AI_AGENT" },
  policy: "refunds",
  resource: (args) => `order:${String(args["orderId"])}`,
  ...extra,
});

let thread = 0;
/** A createAgent run with the middleware: the model asks for one refund, then says "done". */
function agentRun(amount: number, options: Partial<ToolGateOptions> = {}) {
  const callId = `call_${++thread}`;
  const model = fakeModel()
    .respondWithTools([{ name: "issue_refund", args: { orderId: "A-1", amount }, id: callId }])
    .respond(new AIMessage("done"));
  const agent = createAgent({
    model,
    tools: [issueRefund],
    checkpointer: new MemorySaver(),
    middleware: [decionisMiddleware(gateOptions(options))],
  });
  const config = { configurable: { thread_id: `t${thread}` } };
  return {
    callId,
    model,
    start: () => agent.invoke({ messages: [{ role: "user", content: "refund A-1" }] }, config),
    resume: (answer: unknown) => agent.invoke(new Command({ resume: answer }), config),
    /** The tool message the model read on its second call. */
    seen: (): ToolMessage => {
      const messages = model.calls[1]?.messages ?? [];
      const found = messages.find((m: BaseMessage) => ToolMessage.isInstance(m));
      if (found === undefined) throw new Error("the model was not called with a tool message");
      return found;
    },
  };
}

const interruptOf = (result: { __interrupt__?: { value?: unknown }[] }): DecionisApprovalRequest =>
  result.__interrupt__?.[0]?.value as DecionisApprovalRequest;

const decisionsFor = (key: string) => h.authority.decisions().filter((d) => d.request.idempotency_key === key);

describe("createAgent with decionisMiddleware", () => {
  test("allowed: the tool runs once and the model gets its result", async () => {
    const run = agentRun(40);
    const result = await run.start();
    expect(refunds).toEqual([{ orderId: "A-1", amount: 40 }]);
    expect(run.seen().content).toBe("refunded 40 on A-1");
    expect(run.seen().status).toBe("success");
    expect(result.messages.at(-1)?.content).toBe("done");
    expect(decisionsFor(run.callId)).toHaveLength(1);
  });

  test("blocked: the tool does not run; the model gets an error ToolMessage with the reason codes, explanation and record", async () => {
    const run = agentRun(5_000);
    await run.start();
    expect(refunds).toEqual([]);
    const seen = run.seen();
    expect(seen.status).toBe("error");
    expect(seen.tool_call_id).toBe(run.callId);
    expect(seen.content).toMatch(
      /^Tool "issue_refund" did not run: Decionis blocked it \(BLOCK\) \[REFUND_LIMIT_EXCEEDED\]\./,
    );
    expect(seen.content).toContain("Refunds above 1,000 are not allowed");
    expect(seen.content).toContain(`Record: ${h.authority.url}/dossiers/dos_`);
    expect(seen.content).not.toMatch(/\n\s+at /);
    expect(seen.content).not.toContain(h.authority.apiKey);
    expect(seen.artifact).toMatchObject({ status: "BLOCK", reasonCodes: ["REFUND_LIMIT_EXCEEDED"] });
  });

  test("escalated: the run pauses; approved at the authority and resumed, the tool runs once under the one decision", async () => {
    const run = agentRun(250);
    const paused = await run.start();
    const request = interruptOf(paused);
    expect(request).toMatchObject({
      type: "decionis/escalation",
      status: "ESCALATE",
      tool: "issue_refund",
      toolCallId: run.callId,
      args: { orderId: "A-1", amount: 250 },
      escalationId: expect.stringMatching(/^esc_/),
      reasonCodes: ["REFUND_NEEDS_APPROVAL"],
      dossierUrl: expect.stringMatching(new RegExp(`^${h.authority.url}/dossiers/dos_`)),
    });
    expect(refunds).toEqual([]);
    expect(run.model.callCount).toBe(1);

    await h.authority.approve(request.escalationId, { by: "risk-officer" });
    const result = await run.resume({ approved: true });
    expect(refunds).toEqual([{ orderId: "A-1", amount: 250 }]);
    expect(run.seen().content).toBe("refunded 250 on A-1");
    expect(result.messages.at(-1)?.content).toBe("done");
    // One decision for the tool call: the pause and the run share it.
    expect(decisionsFor(run.callId)).toHaveLength(1);
  });

  test("escalated and rejected at the authority: approved in the app, the tool still never runs", async () => {
    const run = agentRun(250);
    const request = interruptOf(await run.start());
    await h.authority.reject(request.escalationId, { by: "risk-officer" });
    await run.resume({ approved: true });
    expect(refunds).toEqual([]);
    expect(run.seen().status).toBe("error");
    expect(run.seen().content).toMatch(/the escalation esc_\w+ ended REJECTED/);
  });

  test("escalated and declined in the app: approved at the authority, the tool does not run (the app's approval is necessary)", async () => {
    const run = agentRun(250);
    const request = interruptOf(await run.start());
    await h.authority.approve(request.escalationId);
    await run.resume({ approved: false });
    expect(refunds).toEqual([]);
    expect(run.seen().content).toMatch(/The person declined it in the app\.$/);
  });

  test("escalated, approved in the app with no grant at the authority: the tool does not run (never sufficient)", async () => {
    const run = agentRun(250, { waitTimeoutMs: 50 });
    await run.start();
    await run.resume({ approved: true });
    expect(refunds).toEqual([]);
    expect(run.seen().content).toMatch(/EscalationTimeoutError/);
  });

  test("authority down: the tool does not run and the model gets a tool error", async () => {
    const down = new DecionisClient({
      baseUrl: await refusedUrl(),
      apiKey: "sk_test_secret",
      tenantId: TENANT,
      maxRetries: 0,
    });
    const run = agentRun(40, { client: down });
    await run.start();
    expect(refunds).toEqual([]);
    expect(run.seen().status).toBe("error");
    expect(run.seen().content).toMatch(/gave no decision \(RetryExhaustedError: .*ECONNREFUSED/);
    expect(run.seen().content).not.toContain("sk_test_secret");
    await down.close();
  });

  test("two calls in one turn, one allowed and one escalated: the allowed one runs once, the other after its approval", async () => {
    const model = fakeModel()
      .respondWithTools([
        { name: "issue_refund", args: { orderId: "P-1", amount: 40 }, id: "par_1" },
        { name: "issue_refund", args: { orderId: "P-2", amount: 250 }, id: "par_2" },
      ])
      .respond(new AIMessage("done"));
    const agent = createAgent({
      model,
      tools: [issueRefund],
      checkpointer: new MemorySaver(),
      middleware: [decionisMiddleware(gateOptions())],
    });
    const config = { configurable: { thread_id: "parallel" } };
    const paused = await agent.invoke({ messages: [{ role: "user", content: "two refunds" }] }, config);
    expect(refunds).toEqual([{ orderId: "P-1", amount: 40 }]);
    const request = interruptOf(paused);
    expect(request.toolCallId).toBe("par_2");
    await h.authority.approve(request.escalationId);
    await agent.invoke(new Command({ resume: { approved: true } }), config);
    expect(refunds).toEqual([
      { orderId: "P-1", amount: 40 },
      { orderId: "P-2", amount: 250 },
    ]);
    const seen = (model.calls[1]?.messages ?? []).filter((m: BaseMessage) => ToolMessage.isInstance(m));
    expect(seen.map((m) => m.content)).toEqual(["refunded 40 on P-1", "refunded 250 on P-2"]);
  });

  test("an interrupt raised inside an allowed tool passes through the gate: the run pauses with the tool's own value", async () => {
    const confirming = tool(
      async ({ amount }: { amount: number }) => {
        const ok: unknown = interrupt({ ask: `confirm ${amount}?` });
        return `confirmed: ${JSON.stringify(ok)}`;
      },
      { name: "issue_refund", description: "x", schema: z.object({ orderId: z.string(), amount: z.number() }) },
    );
    const model = fakeModel()
      .respondWithTools([{ name: "issue_refund", args: { orderId: "I-1", amount: 5 }, id: "own_interrupt" }])
      .respond(new AIMessage("done"));
    const agent = createAgent({
      model,
      tools: [confirming],
      checkpointer: new MemorySaver(),
      middleware: [decionisMiddleware(gateOptions())],
    });
    const paused = await agent.invoke(
      { messages: [{ role: "user", content: "refund" }] },
      { configurable: { thread_id: "own-interrupt" } },
    );
    expect(paused.__interrupt__?.[0]?.value).toEqual({ ask: "confirm 5?" });
  });

  test("a run aborted while the authority decides: the abort passes through and the tool does not run, even on an ALLOW", async () => {
    const controller = new AbortController();
    // Aborts while the intent is being built: the request still goes out and is allowed.
    const gated = gateTool(
      issueRefund,
      gateOptions({
        context: () => {
          controller.abort(new Error("user cancelled"));
          return {};
        },
      }),
    );
    await expect(
      gated.invoke(
        { id: "abort_1", name: "issue_refund", args: { orderId: "X-1", amount: 5 }, type: "tool_call" },
        { signal: controller.signal },
      ),
    ).rejects.toThrow("user cancelled");
    expect(refunds).toEqual([]);
    expect(decisionsFor("abort_1").map((d) => d.decision.status)).toEqual(["ALLOW"]);
  });

  test("a model that repeats a paused call's id in another thread, with other arguments, gets nothing from its escalation", async () => {
    const store = new InMemoryStore();
    const agentFor = (amount: number) =>
      createAgent({
        model: fakeModel()
          .respondWithTools([{ name: "issue_refund", args: { orderId: "D-1", amount }, id: "dup_1" }])
          .respond(new AIMessage("done")),
        tools: [issueRefund],
        checkpointer: new MemorySaver(),
        store,
        middleware: [decionisMiddleware(gateOptions())],
      });
    const first = agentFor(250);
    const threadA = { configurable: { thread_id: "dup-a" } };
    const request = interruptOf(await first.invoke({ messages: [{ role: "user", content: "refund" }] }, threadA));
    await h.authority.approve(request.escalationId);

    const second = agentFor(900);
    const threadB = { configurable: { thread_id: "dup-b" } };
    const b = await second.invoke({ messages: [{ role: "user", content: "refund" }] }, threadB);
    expect(b.__interrupt__).toBeUndefined();
    const seen = b.messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage;
    expect(seen.status).toBe("error");
    expect(seen.content).toMatch(/IDEMPOTENCY_KEY_REUSED|already used/);
    expect(refunds).toEqual([]);

    await first.invoke(new Command({ resume: { approved: true } }), threadA);
    expect(refunds).toEqual([{ orderId: "D-1", amount: 250 }]);
  });

  test("with the caller's own idempotency key: the same pause, approval and one run, under that key", async () => {
    const run = agentRun(260, { idempotencyKey: (args) => `own-${String(args["orderId"])}-260` });
    const request = interruptOf(await run.start());
    expect(refunds).toEqual([]);
    await h.authority.approve(request.escalationId);
    await run.resume({ approved: true });
    expect(refunds).toEqual([{ orderId: "A-1", amount: 260 }]);
    expect(decisionsFor("own-A-1-260")).toHaveLength(1);
  });

  test("tools outside `tools` are not gated", async () => {
    const run = agentRun(5_000, { tools: ["something_else"] } as Partial<ToolGateOptions>);
    await run.start();
    expect(refunds).toEqual([{ orderId: "A-1", amount: 5_000 }]);
  });
});

describe("a resume in another process", () => {
  /** A createAgent run in a fresh copy of every module (a new process), over the same checkpointer and store. */
  function inNewProcess(saver: MemorySaver, store: InMemoryStore | undefined) {
    let resume: ((config: unknown) => Promise<{ messages: BaseMessage[] }>) | undefined;
    jest.isolateModules(() => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const lc = require("langchain") as typeof import("langchain");
      const graph = require("@langchain/langgraph") as typeof import("@langchain/langgraph");
      const testing = require("@langchain/core/testing") as typeof import("@langchain/core/testing");
      const messages = require("@langchain/core/messages") as typeof import("@langchain/core/messages");
      const adapter =
        require("../../src/integrations/langchain/index.js") as typeof import("../../src/integrations/langchain/index.js");
      /* eslint-enable @typescript-eslint/no-require-imports */
      const agent = lc.createAgent({
        model: testing.fakeModel().respond(new messages.AIMessage("done")),
        tools: [issueRefund],
        checkpointer: saver,
        ...(store === undefined ? {} : { store }),
        middleware: [adapter.decionisMiddleware(gateOptions())],
      });
      resume = (config) => agent.invoke(new graph.Command({ resume: { approved: true } }), config as never) as never;
    });
    return resume!;
  }

  async function pauseHere(store: InMemoryStore | undefined, threadId: string) {
    const saver = new MemorySaver();
    const model = fakeModel().respondWithTools([
      { name: "issue_refund", args: { orderId: "R-1", amount: 250 }, id: threadId },
    ]);
    const agent = createAgent({
      model,
      tools: [issueRefund],
      checkpointer: saver,
      ...(store === undefined ? {} : { store }),
      middleware: [decionisMiddleware(gateOptions())],
    });
    const config = { configurable: { thread_id: threadId } };
    const request = interruptOf(await agent.invoke({ messages: [{ role: "user", content: "refund" }] }, config));
    await h.authority.approve(request.escalationId);
    return { saver, config };
  }

  test("with the graph's store: the new process finds the escalation, runs the tool once, under the one decision", async () => {
    const store = new InMemoryStore();
    const { saver, config } = await pauseHere(store, "restart_store");
    const result = await inNewProcess(saver, store)(config);
    expect(refunds).toEqual([{ orderId: "R-1", amount: 250 }]);
    expect(result.messages.find((m) => ToolMessage.isInstance(m))?.content).toBe("refunded 250 on R-1");
    expect(decisionsFor("restart_store")).toHaveLength(1);
    expect(await store.get(["decionis", "escalations"], "restart_store:issue_refund:restart_store")).toBeNull();
  });

  test("without a store: the new process cannot know the escalation; the authority refuses the used key and nothing runs", async () => {
    const { saver, config } = await pauseHere(undefined, "restart_nostore");
    const result = await inNewProcess(saver, undefined)(config);
    expect(refunds).toEqual([]);
    const seen = result.messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage;
    expect(seen.status).toBe("error");
    expect(seen.content).toMatch(/IDEMPOTENCY_KEY_REUSED|already used/);
    expect(decisionsFor("restart_nostore")).toHaveLength(1);
  });
});

describe("gateTool in a LangGraph StateGraph with ToolNode", () => {
  /** model → tools → model, with the gated tool; `amounts` are the refunds the model asks for, in one turn. */
  function graphRun(amounts: number[]) {
    const calls = amounts.map((amount, i) => ({
      name: "issue_refund",
      args: { orderId: `B-${i}`, amount },
      id: `g${++thread}`,
    }));
    const model = fakeModel().respondWithTools(calls).respond(new AIMessage("done"));
    const [gated] = gateTools([issueRefund], gateOptions());
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("model", async (state) => ({ messages: [await model.invoke(state.messages)] }))
      .addNode("tools", new ToolNode([gated!]))
      .addEdge(START, "model")
      .addConditionalEdges("model", (state) =>
        (state.messages.at(-1) as AIMessage).tool_calls?.length ? "tools" : END,
      )
      .addEdge("tools", "model")
      .compile({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: `g${thread}` } };
    return {
      calls,
      start: () => graph.invoke({ messages: [{ role: "user", content: "refunds" }] }, config),
      resume: (answer: unknown) => graph.invoke(new Command({ resume: answer }), config),
      toolMessages: (): ToolMessage[] =>
        (model.calls[1]?.messages ?? []).filter((m: BaseMessage) => ToolMessage.isInstance(m)),
    };
  }

  test("allowed and blocked calls of one turn: one runs, the other is an error ToolMessage", async () => {
    const run = graphRun([40, 5_000]);
    await run.start();
    expect(refunds).toEqual([{ orderId: "B-0", amount: 40 }]);
    const [ok, blocked] = run.toolMessages();
    expect(ok?.content).toBe("refunded 40 on B-0");
    expect(blocked?.status).toBe("error");
    expect(blocked?.content).toContain("REFUND_LIMIT_EXCEEDED");
  });

  test("escalated: interrupt(), then resume after the approval runs the tool once", async () => {
    const run = graphRun([250]);
    const paused = await run.start();
    const request = interruptOf(paused as never);
    expect(request.toolCallId).toBe(run.calls[0]!.id);
    expect(refunds).toEqual([]);
    await h.authority.approve(request.escalationId);
    await run.resume({ approved: true });
    expect(refunds).toEqual([{ orderId: "B-0", amount: 250 }]);
    expect(run.toolMessages()[0]?.content).toBe("refunded 250 on B-0");
    expect(decisionsFor(run.calls[0]!.id)).toHaveLength(1);
  });

  test("invoked directly with a tool call: the same gate, and a ToolMessage for the call", async () => {
    const gated = gateTool(issueRefund, gateOptions());
    const out = (await gated.invoke({
      id: "direct_1",
      name: "issue_refund",
      args: { orderId: "C-1", amount: 5_000 },
      type: "tool_call",
    })) as ToolMessage;
    expect(out.status).toBe("error");
    expect(out.tool_call_id).toBe("direct_1");
    expect(refunds).toEqual([]);
    const allowed = (await gated.invoke({
      id: "direct_2",
      name: "issue_refund",
      args: { orderId: "C-2", amount: 10 },
      type: "tool_call",
    })) as ToolMessage;
    expect(allowed.content).toBe("refunded 10 on C-2");
    expect(refunds).toEqual([{ orderId: "C-2", amount: 10 }]);
  });

  test("a tool's own error and an interrupt raised inside the tool pass through the gate untouched", async () => {
    const failing = gateTool(
      tool(
        async () => {
          throw new Error("payments API down");
        },
        { name: "issue_refund", description: "x", schema: z.object({ amount: z.number() }) },
      ),
      gateOptions(),
    );
    await expect(
      failing.invoke({ id: "own_1", name: "issue_refund", args: { amount: 1 }, type: "tool_call" }),
    ).rejects.toThrow("payments API down");
  });
});
