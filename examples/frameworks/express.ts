/**
 * An Express 5 route gated with `gateRoute`, and `decionisErrorHandler`
 * answering what was not allowed: 201 on ALLOW, 202 for a review, 403 for a
 * block, each refusal as application/problem+json.
 *
 *   npx tsx examples/frameworks/express.ts
 */
import type { AddressInfo } from "node:net";
import express from "express";
import { decionisErrorHandler, gateRoute } from "../../src/integrations/express/index.js";
import { runExample } from "../_local.js";

runExample(async ({ client }) => {
  const app = express();
  app.use(express.json());
  app.post(
    "/refunds/:orderId",
    gateRoute({
      client,
      action: "ISSUE_REFUND",
      policy: "agent-tools",
      actor: { id: "support-agent", type: "AI_AGENT" },
      resource: (req) => `order:${String(req.params["orderId"])}`,
      parameters: (req) => ({ amount: (req.body as { amount: number }).amount }),
      context: () => ({ customer_tier: "gold" }),
    }),
    (req, res) => {
      res.status(201).json({ refunded: (req.body as { amount: number }).amount });
    },
  );
  app.use(decionisErrorHandler());

  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const amount of [40, 200, 900]) {
      const res = await fetch(`${base}/refunds/ord_1`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ amount }),
      });
      const body = (await res.json()) as Record<string, unknown>;
      console.log(`refund ${amount}: ${res.status} ${res.headers.get("content-type") ?? ""} ${JSON.stringify(body)}`);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
