/**
 * A NestJS app: `DecionisModule.forRoot` provides the client (and makes it
 * the default of `@gate` on services), `@Gate` gates a route on the request,
 * and the module's filter answers refusals as application/problem+json.
 * Nest needs `experimentalDecorators` and `emitDecoratorMetadata`:
 *
 *   npx tsx --tsconfig tsconfig.legacy.json examples/frameworks/nestjs.ts
 *
 * (tsx does not emit decorator metadata, so the injections here name their
 * tokens with `@Inject`; under `tsc` they are not needed.)
 */
import "reflect-metadata";
import type { AddressInfo } from "node:net";
import { Body, Controller, Inject, Injectable, Module, Param, Post } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { gate } from "../../src/index.js";
import { DecionisModule, Gate } from "../../src/integrations/nestjs/index.js";
import { runExample } from "../_local.js";

interface RefundBody {
  amount: number;
}
type RefundRequest = { params: { orderId: string }; body: RefundBody };

@Injectable()
class RefundsService {
  // No client named: DecionisModule made its client the default.
  @gate({
    action: "ISSUE_REFUND",
    policy: "agent-tools",
    actor: { id: "refunds-service", type: "AI_AGENT" },
    resource: (orderId: string) => `order:${orderId}`,
    parameters: (_orderId: string, amount: number) => ({ amount }),
    context: () => ({ customer_tier: "gold" }),
  })
  async refund(orderId: string, amount: number): Promise<string> {
    return `refunded ${amount} on ${orderId}`;
  }
}

@Controller("refunds")
class RefundsController {
  constructor(@Inject(RefundsService) private readonly refunds: RefundsService) {}

  /** Gated on the request by @Gate. */
  @Post(":orderId")
  @Gate<RefundRequest>({
    action: "ISSUE_REFUND",
    policy: "agent-tools",
    actor: { id: "support-agent", type: "AI_AGENT" },
    resource: (req) => `order:${req.params.orderId}`,
    parameters: (req) => ({ amount: req.body.amount }),
    context: () => ({ customer_tier: "gold" }),
  })
  create(@Param("orderId") orderId: string, @Body() body: RefundBody): { refunded: number; orderId: string } {
    return { refunded: body.amount, orderId };
  }

  /** Not gated here: the service method it calls is. */
  @Post(":orderId/service")
  viaService(@Param("orderId") orderId: string, @Body() body: RefundBody): Promise<string> {
    return this.refunds.refund(orderId, body.amount);
  }
}

runExample(async ({ authority }) => {
  @Module({
    imports: [DecionisModule.forRoot({ baseUrl: authority.url, apiKey: authority.apiKey, tenantId: "acme" })],
    controllers: [RefundsController],
    providers: [RefundsService],
  })
  class AppModule {}

  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, "127.0.0.1");
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  try {
    for (const [path, amount] of [
      ["/refunds/ord_1", 40],
      ["/refunds/ord_1", 200],
      ["/refunds/ord_1", 900],
      ["/refunds/ord_2/service", 40],
      ["/refunds/ord_2/service", 900],
    ] as const) {
      const res = await fetch(base + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ amount }),
      });
      const text = await res.text();
      console.log(`${path} ${amount}: ${res.status} ${res.headers.get("content-type") ?? ""} ${text}`);
    }
  } finally {
    await app.close();
  }
});
