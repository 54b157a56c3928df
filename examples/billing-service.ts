/**
 * A service class with `@gated` class defaults: client, actor and policy are
 * said once for the class; each `@gate` method names only its action and what
 * the policy needs to see.
 *
 *   npx tsx examples/billing-service.ts
 */
import { BlockedError, gate, gated, getGatedMethods, type DecionisClient } from "../src/index.js";
import { runExample } from "./_local.js";

function billingService(client: DecionisClient) {
  @gated({ client, actor: { id: "billing-service", type: "SERVICE" }, policy: "billing" })
  class BillingService {
    private readonly openInvoices = new Map<string, number>([
      ["sub_1", 0],
      ["sub_2", 2],
    ]);

    @gate({
      action: "CANCEL_SUBSCRIPTION",
      resource: (subscriptionId: string) => subscriptionId,
      parameters: (subscriptionId: string) => ({ subscriptionId }),
      context(this: BillingService, subscriptionId: string) {
        return { open_invoices: this.openInvoices.get(subscriptionId) ?? 0 };
      },
    })
    async cancel(subscriptionId: string): Promise<string> {
      return `cancelled ${subscriptionId}`;
    }

    @gate({ action: "CHARGE_CARD", resource: (customerId: string) => customerId })
    async charge(customerId: string, amount: number): Promise<string> {
      return `charged ${customerId} ${amount}`;
    }
  }
  return BillingService;
}

runExample(async ({ client }) => {
  const BillingService = billingService(client);
  const billing = new BillingService();
  console.log(
    `gated methods: ${getGatedMethods(BillingService)
      .map((m) => String(m.name))
      .join(", ")}`,
  );
  console.log(await billing.charge("cus_42", 19.99));
  console.log(await billing.cancel("sub_1"));
  try {
    await billing.cancel("sub_2");
  } catch (error) {
    if (!(error instanceof BlockedError)) throw error;
    console.log(`sub_2 not cancelled: ${error.status} ${error.reasonCodes.join(", ")} (${error.dossierUrl ?? ""})`);
  }
});
