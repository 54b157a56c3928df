/**
 * An MCP server whose refund tool is gated with `registerGatedTool`, and an
 * MCP host that calls it as a model would, over the SDK's in-memory
 * transport. A small refund runs, a large one is refused with its reasons,
 * and one that needs review opens the dossier in the host (URL elicitation):
 * the supervisor approves at the authority, and only then does it run.
 *
 *   npx tsx examples/agents/mcp.ts
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { registerGatedTool } from "../../src/integrations/mcp/index.js";
import { runExample } from "../_local.js";

runExample(async ({ authority, client }) => {
  // The server side: in your project, `import { registerGatedTool } from "decionis/mcp"`.
  const server = new McpServer({ name: "support-desk", version: "1.0.0" });
  registerGatedTool(
    server,
    "issue_refund",
    { description: "Refund an order", inputSchema: { orderId: z.string(), amount: z.number() } },
    async ({ orderId, amount }) => ({ content: [{ type: "text", text: `Refunded ${amount} on order ${orderId}` }] }),
    {
      client,
      action: "ISSUE_REFUND",
      policy: "agent-tools",
      actor: { id: "support-agent", type: "AI_AGENT" },
      resource: (args) => `order:${args.orderId}`,
      context: () => ({ customer_tier: "gold" }),
    },
  );

  // The host side: it declares URL elicitation, so escalations come to a person here.
  const host = new Client({ name: "support-host", version: "1.0.0" }, { capabilities: { elicitation: { url: {} } } });
  host.setRequestHandler(ElicitRequestSchema, async ({ params }) => {
    if (params.mode !== "url") return { action: "decline" };
    console.log(`host: asked to open ${params.url}`);
    // Here the supervisor reads the dossier and approves at the authority.
    await authority.approve(params.elicitationId, { by: "supervisor" });
    console.log(`host: the supervisor approved ${params.elicitationId}`);
    return { action: "accept" };
  });
  const [serverSide, hostSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverSide), host.connect(hostSide)]);

  // What the model asks for, one tool call after another.
  for (const args of [
    { orderId: "A-1001", amount: 40 },
    { orderId: "A-1003", amount: 5_000 },
    { orderId: "A-1002", amount: 250 },
  ]) {
    const result = await host.callTool({ name: "issue_refund", arguments: args });
    const text = (result.content as { text: string }[]).map((c) => c.text).join(" ");
    console.log(`${result.isError === true ? "tool error" : "tool result"}: ${text}`);
  }
  await host.close();
  await server.close();
});
