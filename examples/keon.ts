/**
 * The same gates in front of a Keon runtime, offline: a Keon test server on a
 * free port stands in for the Keon Runtime API v1. Shows a gated local
 * function (allowed, then denied), Keon's decide + remote execute, a receipt
 * refused before any request, and decideAndExecute.
 *
 *   npx tsx examples/keon.ts
 *
 * In your project: `import { createKeonClient } from "decionis/keon"` and
 * `import { startKeonTestServer } from "decionis/keon/testing"`.
 */
import { BlockedError, InvalidReceiptError, MissingReceiptError, type IntentInput } from "../src/index.js";
import { createKeonClient, ExecutionDeniedError, keonReceipt } from "../src/integrations/keon/index.js";
import { startKeonTestServer } from "../src/integrations/keon/testing.js";

interface Refund {
  orderId: string;
  amountMinor: number;
}

async function main(): Promise<void> {
  // The stand-in runtime: refunds up to 100.00 are allowed, larger ones denied.
  const runtime = await startKeonTestServer({
    decide: (request) =>
      typeof request.context?.amountMinor === "number" && request.context.amountMinor > 100_00
        ? { decision: "deny", reason: "Refunds above 100.00 need a manager", appliedPolicies: ["refund-limit"] }
        : { decision: "allow", appliedPolicies: ["refund-limit"] },
    execute: (request) => ({ workflow: request.action, started: true }),
  });
  const keon = createKeonClient({ baseUrl: runtime.url, apiKey: runtime.apiKey!, tenantId: "tenant-123" });
  console.log(`Keon test runtime at ${runtime.url}`);

  try {
    // 1. A local function behind a gate: it runs here, once, only on allow.
    const refund = keon.gate(async (r: Refund) => `refunded ${r.orderId} (${r.amountMinor / 100})`, {
      action: "refund",
      actor: { id: "billing-bot", type: "SERVICE" },
      resource: (r) => `order:${r.orderId}`,
      parameters: (r) => ({ orderId: r.orderId, amountMinor: r.amountMinor }),
      context: (r) => ({ amountMinor: r.amountMinor }),
    });
    console.log(`1. ${await refund({ orderId: "o-1", amountMinor: 40_00 })}`);
    try {
      await refund({ orderId: "o-2", amountMinor: 900_00 });
    } catch (error) {
      if (!(error instanceof ExecutionDeniedError)) throw error;
      console.log(`   denied: ${error.status} ${error.decisionId}: ${error.explanation ?? ""}`);
    }

    // 2. Keon's own execution: decide, then POST /execute with the receipt.
    const intent: IntentInput = {
      actor: { id: "user-456", type: "USER" },
      action: { type: "execute_workflow", resource: "workflow:workflow-789" },
      parameters: { workflowId: "workflow-789", inputs: { param1: "value1" } },
      context: { environment: "production" },
    };
    const receipt = await keon.decide(intent);
    console.log(`2. decide: ${keonReceipt(receipt)?.decision ?? "?"} ${receipt.decisionId}`);
    const result = await keon.execute(receipt, {
      action: "execute_workflow",
      parameters: { workflowId: "workflow-789", inputs: { param1: "value1" } },
    });
    console.log(`   execute: ${result.status} ${result.executionId} ${JSON.stringify(result.result)}`);

    // 3. Refused before any request: no receipt, a used receipt.
    for (const attempt of [
      () => keon.execute(undefined, { action: "execute_workflow" }),
      () => keon.execute(receipt),
    ]) {
      try {
        await attempt();
      } catch (error) {
        if (!(error instanceof MissingReceiptError || error instanceof InvalidReceiptError)) throw error;
        console.log(`3. refused: ${error.name} ${error.code}`);
      }
    }

    // 4. decideAndExecute, as in Keon's SDK.
    const done = await keon.decideAndExecute(intent);
    console.log(`4. decideAndExecute: ${done.status} ${done.executionId}`);
    try {
      await keon.decideAndExecute({ ...intent, context: { amountMinor: 500_00 } });
    } catch (error) {
      if (!(error instanceof BlockedError)) throw error;
      console.log(`   denied: ${error.explanation ?? ""}`);
    }
    console.log(`The runtime executed ${runtime.executions.length} actions; requests seen: ${runtime.requests.length}`);
  } finally {
    await keon.close();
    await runtime.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
