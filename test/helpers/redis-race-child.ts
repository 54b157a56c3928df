/**
 * One process of a fleet (test/integrations/redis.test.ts): its own DecionisClient,
 * Redis connection and RedisReplayStore. It fetches the granted escalation,
 * says "ready", waits for "go" on stdin, then tries to run under the grant and
 * prints what happened as one JSON line.
 *
 * Run as one esbuild bundle (see the test), so it loads quickly 8 times over.
 * argv: authority URL, Redis URL, "ioredis" | "node-redis", escalation id.
 */
import { DecionisClient, isDecionisError } from "../../src/index.js";
import { RedisReplayStore } from "../../src/integrations/redis/index.js";

const [authorityUrl = "", redisUrl = "", kind = "", escalationId = ""] = process.argv.slice(2);

async function main(): Promise<void> {
  // Only the client this process uses is loaded: 8 processes start on 2 cores.
  const ioredis = kind === "ioredis" ? new (await import("ioredis")).Redis(redisUrl) : undefined;
  const nodeRedis =
    kind === "node-redis" ? await (await import("@redis/client")).createClient({ url: redisUrl }).connect() : undefined;
  const store = new RedisReplayStore({ client: ioredis ?? nodeRedis! });
  const client = new DecionisClient({
    apiKey: "sk_fleet",
    baseUrl: authorityUrl,
    tenantId: "acme",
    replayStore: store,
  });
  const receipt = await client.waitForDecision(escalationId);
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) =>
    process.stdin.once("data", () => {
      resolve();
    }),
  );
  let result: Record<string, unknown>;
  try {
    await client.execute(receipt, () => undefined, { reportOutcome: false });
    result = { ran: true, pid: process.pid };
  } catch (error) {
    result = { ran: false, code: isDecionisError(error) ? error.code : String(error) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await client.close();
  if (ioredis !== undefined) await ioredis.quit();
  if (nodeRedis !== undefined) await nodeRedis.quit();
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ ran: false, crashed: String(error) })}\n`);
  process.exitCode = 1;
});
