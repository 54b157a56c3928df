/**
 * The low-level API, no decorator: `client.enforce` (ALLOW or throw, and run),
 * `client.decide` (any status, no throw) with `client.execute` (run once under
 * an ALLOW receipt).
 *
 *   npx tsx examples/low-level.ts
 */
import { BlockedError, type IntentInput } from "../src/index.js";
import { runExample } from "./_local.js";

const intent = (to: string): IntentInput => ({
  actor: { id: "support-agent", type: "AI_AGENT" },
  action: { type: "SEND_EMAIL", resource: `mailbox:${to}` },
  parameters: { to, subject: "Your refund" },
  policyRefs: ["agent-tools"],
});

async function sendEmail(to: string): Promise<string> {
  return `sent to ${to}`;
}

runExample(async ({ client }) => {
  // enforce: returns the ALLOW decision, or throws BlockedError.
  const decision = await client.enforce(intent("ana@acme.example"));
  console.log(
    `enforce: ${decision.status} ${decision.reasonCodes.join(", ")} (grant until ${decision.executionTokenExpiresAt?.toISOString() ?? "-"})`,
  );

  // enforce with execute: runs the action once, only on ALLOW, and returns its result.
  console.log(
    `enforce+execute: ${await client.enforce(intent("ben@acme.example"), { execute: () => sendEmail("ben@acme.example") })}`,
  );

  // decide: any status comes back; nothing runs until you execute an ALLOW receipt.
  for (const to of ["cleo@acme.example", "someone@elsewhere.example"]) {
    const receipt = await client.decide(intent(to));
    console.log(`decide(${to}): ${receipt.status} ${receipt.reasonCodes.join(", ")}`);
    try {
      console.log(`  execute: ${await client.execute(receipt, () => sendEmail(to))}`);
    } catch (error) {
      if (!(error instanceof BlockedError)) throw error;
      console.log(
        `  execute refused: ${error.status}, escalation ${error.escalationId ?? "-"}, dossier ${error.dossierUrl ?? "-"}`,
      );
    }
  }
});
