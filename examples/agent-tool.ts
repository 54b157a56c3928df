/**
 * An AI agent's tool wrapped with `gate(fn, options)`: the model can call the
 * tool as often as it likes; the refund reaches the payments API only when the
 * authority allows that exact call.
 *
 *   npx tsx examples/agent-tool.ts
 */
import { BlockedError, gate } from "../src/index.js";
import { runExample } from "./_local.js";

interface RefundArgs {
  orderId: string;
  amount: number;
  reason: string;
}

/** The tool as the agent framework sees it: plain JSON arguments in, a string for the model out. */
async function issueRefund(args: RefundArgs): Promise<string> {
  return `Refunded ${args.amount} on order ${args.orderId}`;
}

runExample(async ({ client }) => {
  const refundTool = gate(issueRefund, {
    client,
    action: "ISSUE_REFUND",
    policy: "agent-tools",
    actor: { id: "support-agent", type: "AI_AGENT", trustLevel: "supervised" },
    resource: (args) => `order:${args.orderId}`,
    parameters: (args) => ({ amount: args.amount, reason: args.reason }),
    context: () => ({ customer_tier: "gold", channel: "chat" }),
  });

  // What an agent loop does with each tool call the model makes.
  const toolCalls: RefundArgs[] = [
    { orderId: "A-1001", amount: 40, reason: "late delivery" },
    { orderId: "A-1002", amount: 250, reason: "damaged item" },
    { orderId: "A-1003", amount: 5_000, reason: "customer asked nicely" },
  ];
  for (const args of toolCalls) {
    try {
      console.log(`tool result: ${await refundTool(args)}`);
    } catch (error) {
      if (!(error instanceof BlockedError)) throw error;
      // Hand the model something it can act on instead of an exception.
      console.log(
        `tool result: not done (${error.status}: ${error.reasonCodes.join(", ")}). ${error.explanation ?? ""}`,
      );
    }
  }
});
