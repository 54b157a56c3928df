/**
 * The OpenAI Agents SDK with a gated tool, offline: a scripted model asks for
 * three refunds. The small one runs; the oversized one is rejected by the
 * gate's input guardrail and the model reads why; the medium one interrupts
 * the run. A risk officer approves it at the authority, the app approves the
 * interruption through `RunState`, the run resumes and the refund runs, once.
 *
 *   npx tsx examples/agents/openai-agents.ts
 *
 * In your project: `import { gateTools } from "decionis/openai-agents"`.
 */
import { Agent, Usage, run, setTracingDisabled, tool, type Model, type ModelRequest } from "@openai/agents";
import { z } from "zod";
import { gateTools } from "../../src/integrations/openai-agents/index.js";
import { runExample } from "../_local.js";

setTracingDisabled(true); // offline: no traces sent anywhere

/** A stand-in for a real model: three refund calls first, then a one-line answer. */
class ScriptedModel implements Model {
  async getResponse(request: ModelRequest) {
    const items = Array.isArray(request.input) ? request.input : [];
    const results = items.filter((i) => i.type === "function_call_result");
    if (results.length > 0) {
      for (const r of results)
        if (r.type === "function_call_result") console.log(`model read (${r.callId}): ${JSON.stringify(r.output)}`);
      const text = "Done.";
      return {
        usage: new Usage(),
        output: [
          {
            type: "message" as const,
            role: "assistant" as const,
            status: "completed" as const,
            content: [{ type: "output_text" as const, text }],
          },
        ],
      };
    }
    const call = (callId: string, orderId: string, amount: number) => ({
      type: "function_call" as const,
      callId,
      name: "issue_refund",
      arguments: JSON.stringify({ orderId, amount }),
      status: "completed" as const,
    });
    return {
      usage: new Usage(),
      output: [call("call_1", "A-1001", 40), call("call_2", "A-1002", 250), call("call_3", "A-1003", 5_000)],
    };
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("this example does not stream");
  }
}

runExample(async ({ authority, client }) => {
  const refund = tool({
    name: "issue_refund",
    description: "Refund an order",
    parameters: z.object({ orderId: z.string(), amount: z.number() }),
    execute: async ({ orderId, amount }) => {
      console.log(`payments API: refunded ${amount} on ${orderId}`);
      return `Refunded ${amount} on ${orderId}`;
    },
  });
  const agent = new Agent({
    name: "support",
    instructions: "Refund what the customer asks for.",
    model: new ScriptedModel(),
    tools: gateTools([refund], {
      client,
      action: "ISSUE_REFUND",
      policy: "agent-tools",
      actor: { id: "support-agent", type: "AI_AGENT" },
      resource: (input: { orderId: string }) => `order:${input.orderId}`,
      context: { customer_tier: "gold" },
    }),
  });

  let result = await run(agent, "Refund A-1001, A-1002 and A-1003.");
  for (const item of result.interruptions) {
    const call = item.rawItem.type === "function_call" ? item.rawItem.callId : "?";
    console.log(`paused: ${call} waits for a person`);
    // The person: a risk officer at the authority (here, programmatically)...
    const record = authority.decisions().find((d) => d.request.idempotency_key === call);
    await authority.approve(record!.escalation!.escalation_id, { by: "risk-officer" });
    console.log(`a risk officer approved ${record!.escalation!.escalation_id}`);
    // ...and the app's own approval, through RunState.
    result.state.approve(item);
  }
  result = await run(agent, result.state);
  console.log(`final: ${String(result.finalOutput)}`);
});
