/**
 * A Fastify 5 route gated by the `gateRoute` preHandler (after body parsing
 * and schema validation), with `decionisPlugin` providing the client and
 * answering refusals as application/problem+json.
 *
 *   npx tsx examples/frameworks/fastify.ts
 */
import Fastify, { type FastifyRequest } from "fastify";
import { decionisPlugin, gateRoute } from "../../src/integrations/fastify/index.js";
import { runExample } from "../_local.js";

type RefundRequest = FastifyRequest<{ Params: { orderId: string }; Body: { amount: number } }>;

runExample(async ({ client }) => {
  const app = Fastify();
  await app.register(decionisPlugin, { client });
  app.post(
    "/refunds/:orderId",
    {
      schema: { body: { type: "object", required: ["amount"], properties: { amount: { type: "number" } } } },
      preHandler: gateRoute<RefundRequest>({
        action: "ISSUE_REFUND",
        policy: "agent-tools",
        actor: { id: "support-agent", type: "AI_AGENT" },
        resource: (req) => `order:${req.params.orderId}`,
        parameters: (req) => ({ amount: req.body.amount }),
        context: () => ({ customer_tier: "gold" }),
      }),
    },
    async (req: RefundRequest, reply) => reply.code(201).send({ refunded: req.body.amount }),
  );
  const base = await app.listen({ port: 0, host: "127.0.0.1" });
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
    await app.close();
  }
});
