/**
 * The Vercel AI SDK (`ai` 7) with a gated tool, offline: a scripted model
 * asks for three refunds at once. The small one runs, the oversized one is
 * denied (the model reads why), the medium one pauses the run for a person;
 * a risk officer approves it at the authority, the app approves it in the
 * framework, the run resumes and the refund runs, once.
 *
 *   npx tsx examples/agents/ai.ts        (ai 7 asks for Node >= 22)
 *
 * In your project: `import { gateTools, toolApproval } from "decionis/ai"`.
 */
import { generateText, jsonSchema, tool, type ModelMessage } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { gateTools, toolApproval } from "../../src/integrations/ai/index.js";
import { runExample } from "../_local.js";

interface Refund {
  orderId: string;
  amount: number;
}

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** A stand-in for a real model: three refund calls first, then a one-line answer. */
const model = new MockLanguageModelV4({
  doGenerate: async ({ prompt }) => {
    if (prompt.at(-1)?.role === "tool")
      return {
        content: [{ type: "text", text: "Done." }],
        finishReason: { unified: "stop", raw: "stop" },
        usage,
        warnings: [],
      };
    const call = (id: string, orderId: string, amount: number) => ({
      type: "tool-call" as const,
      toolCallId: id,
      toolName: "issueRefund",
      input: JSON.stringify({ orderId, amount }),
    });
    return {
      content: [call("call_1", "A-1001", 40), call("call_2", "A-1002", 250), call("call_3", "A-1003", 5_000)],
      finishReason: { unified: "tool-calls", raw: "tool_calls" },
      usage,
      warnings: [],
    };
  },
});

runExample(async ({ authority, client }) => {
  const tools = gateTools(
    {
      issueRefund: tool({
        description: "Refund an order",
        inputSchema: jsonSchema<Refund>({
          type: "object",
          properties: { orderId: { type: "string" }, amount: { type: "number" } },
          required: ["orderId", "amount"],
        }),
        execute: async ({ orderId, amount }) => {
          console.log(`payments API: refunded ${amount} on ${orderId}`);
          return `Refunded ${amount} on ${orderId}`;
        },
      }),
    },
    {
      client,
      action: "ISSUE_REFUND",
      policy: "agent-tools",
      actor: { id: "support-agent", type: "AI_AGENT" },
      resource: (input: Refund) => `order:${input.orderId}`,
      context: { customer_tier: "gold" },
    },
  );

  const messages: ModelMessage[] = [{ role: "user", content: "Refund A-1001, A-1002 and A-1003." }];
  const first = await generateText({ model, tools, toolApproval: toolApproval(tools), messages });
  for (const part of first.content) {
    if (part.type === "tool-result") console.log(`result:  ${String(part.output)}`);
    if (part.type === "tool-approval-request" && part.isAutomatic !== true)
      console.log(`paused:  ${part.toolCall.toolCallId}: ${part.reason ?? ""}`);
  }
  const denial = first.finalStep.response.messages
    .flatMap((m) => (m.role === "tool" ? m.content : []))
    .find((p) => p.type === "tool-result" && p.output.type === "execution-denied");
  if (denial?.type === "tool-result" && denial.output.type === "execution-denied")
    console.log(`the model read: ${denial.output.reason ?? ""}`);

  // The person: a risk officer at the authority (here, programmatically), and the app's own approval.
  const request = first.content.find((p) => p.type === "tool-approval-request" && p.isAutomatic !== true);
  if (request?.type !== "tool-approval-request") throw new Error("expected a paused refund");
  const escalationId = /escalation (esc_\w+)/.exec(request.reason ?? "")![1]!;
  await authority.approve(escalationId, { by: "risk-officer" });
  console.log(`a risk officer approved ${escalationId}`);

  const second = await generateText({
    model,
    tools,
    toolApproval: toolApproval(tools),
    messages: [
      ...messages,
      ...first.finalStep.response.messages,
      { role: "tool", content: [{ type: "tool-approval-response", approvalId: request.approvalId, approved: true }] },
    ],
  });
  console.log(`model:   ${second.text}`);
});
