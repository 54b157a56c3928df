/**
 * `npm run demo`: a local authority in this process, on a free port, with
 * examples/policies.json, and the trading bot sending its orders through it.
 * The demo also plays the risk officer who approves an escalated order.
 * Works offline.
 */
import { relative } from "node:path";
import { setDefaultClient } from "../src/index.js";
import type { LocalAuthority } from "../src/local/index.js";
import { POLICIES_FILE, withLocalAuthority } from "./_local.js";
import { tradeThreeOrders, tradeWithApproval } from "./trading-bot.js";

const TERMINAL = new Set(["GRANT_READY", "REJECTED", "EXPIRED", "CANCELLED", "BLOCKED", "FAILED"]);

/** The person: waits for a new pending escalation and approves it (at most ~10 s). */
async function riskOfficer(authority: LocalAuthority): Promise<string> {
  const known = new Set(authority.decisions().map((d) => d.escalation?.escalation_id));
  for (let tick = 0; tick < 100; tick++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pending = authority
      .decisions()
      .map((d) => d.escalation)
      .find((e) => e !== null && !known.has(e.escalation_id) && !TERMINAL.has(e.status));
    if (pending) {
      await authority.approve(pending.escalation_id, {
        by: "risk.officer@example.com",
        note: "Client hedge, approved",
      });
      return pending.escalation_id;
    }
  }
  throw new Error("no escalation to approve appeared");
}

async function main(): Promise<void> {
  await withLocalAuthority(async ({ authority, client }) => {
    setDefaultClient(client);
    console.log(
      `Decionis demo: local authority at ${authority.url} (policies: ${relative(process.cwd(), POLICIES_FILE)})\n`,
    );
    const broker = await tradeThreeOrders();
    await tradeWithApproval(broker, () => riskOfficer(authority));
    console.log(`The broker executed ${broker.filled.length} of 4 orders; nothing else ran.`);
    // The dossier links point at this process's authority: keep it up for a person
    // at a terminal, and say so when it goes (CI, pipes: exit by ourselves).
    if (process.stdout.isTTY && process.stdin.isTTY) {
      console.log(`\nThe dossier links above stay live at ${authority.url} until you press Ctrl-C.`);
      await new Promise<void>((resolve) =>
        process.once("SIGINT", () => {
          resolve();
        }),
      );
    } else {
      console.log(
        "\nThe local authority stops now: the dossier links above end with it (run in a terminal to keep them).",
      );
    }
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
