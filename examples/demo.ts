/**
 * `npm run demo`: a local authority in this process, on a free port, with
 * examples/policies.json, and the trading bot sending three orders through it.
 * Works offline.
 */
import { relative } from "node:path";
import { setDefaultClient } from "../src/index.js";
import { POLICIES_FILE, withLocalAuthority } from "./_local.js";
import { tradeThreeOrders } from "./trading-bot.js";

async function main(): Promise<void> {
  await withLocalAuthority(async ({ authority, client }) => {
    setDefaultClient(client);
    console.log(
      `Decionis demo: local authority at ${authority.url} (policies: ${relative(process.cwd(), POLICIES_FILE)})\n`,
    );
    const broker = await tradeThreeOrders();
    console.log(`The broker executed ${broker.filled.length} of 3 orders; nothing else ran.`);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
