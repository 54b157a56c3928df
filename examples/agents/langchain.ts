/**
 * A LangChain `createAgent` support agent whose tools are gated by
 * `decionisMiddleware`, driven by a scripted model (`fakeModel`). A small
 * refund runs, a large one comes back to the model as an error ToolMessage
 * with its reasons, and one that needs review pauses the run (`interrupt()`).
 * The supervisor approves at the authority, the app resumes the run with
 * `Command({ resume: { approved: true } })`, and only then does it run.
 *
 *   npx tsx examples/agents/langchain.ts
 */
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { tool } from "@langchain/core/tools";
import { Command, MemorySaver } from "@langchain/langgraph";
import { createAgent } from "langchain";
import { z } from "zod";
import { decionisMiddleware, type DecionisApprovalRequest } from "../../src/integrations/langchain/index.js";
import { runExample } from "../_local.js";

const issueRefund = tool(
  async ({ orderId, amount }: { orderId: string; amount: number }) => `Refunded ${amount} on order ${orderId}`,
  {
    name: "issue_refund",
    description: "Refund an order",
    schema: z.object({ orderId: z.string(), amount: z.number() }),
  },
);

runExample(async ({ authority, client }) => {
  // The model's script: two refunds at once, then one more, then an answer.
  const model = fakeModel()
    .respondWithTools([
      { name: "issue_refund", args: { orderId: "A-1001", amount: 40 }, id: "call_1" },
      { name: "issue_refund", args: { orderId: "A-1003", amount: 5_000 }, id: "call_2" },
    ])
    .respondWithTools([{ name: "issue_refund", args: { orderId: "A-1002", amount: 250 }, id: "call_3" }])
    .respond(new AIMessage("All three refunds handled."));

  const agent = createAgent({
    model,
    tools: [issueRefund],
    checkpointer: new MemorySaver(), // interrupts need one
    middleware: [
      // In your project: `import { decionisMiddleware } from "decionis/langchain"`.
      decionisMiddleware({
        client,
        action: "ISSUE_REFUND",
        policy: "agent-tools",
        actor: { id: "support-agent", type: "AI_AGENT" },
        resource: (args) => `order:${String(args["orderId"])}`,
        context: () => ({ customer_tier: "gold" }),
      }),
    ],
  });
  const thread = { configurable: { thread_id: "support-42" } };

  const paused = await agent.invoke({ messages: [{ role: "user", content: "Refund my three orders" }] }, thread);
  const request = paused.__interrupt__?.[0]?.value as DecionisApprovalRequest;
  console.log(`run paused: ${request.tool} ${JSON.stringify(request.args)} needs approval (${request.status})`);
  console.log(`  escalation ${request.escalationId}, dossier ${request.dossierUrl ?? "-"}`);

  // Here the supervisor reads the dossier and approves at the authority; then the app resumes the run.
  await authority.approve(request.escalationId, { by: "supervisor" });
  const done = await agent.invoke(new Command({ resume: { approved: true } }), thread);

  for (const message of done.messages) {
    if (ToolMessage.isInstance(message))
      console.log(`${message.tool_call_id} ${message.status}: ${String(message.content)}`);
  }
  console.log(`model: ${String(done.messages.at(-1)?.content)}`);
});
