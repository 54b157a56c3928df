// The shared replay store in the bench (issue 12): a redis-server of its own (free loopback
// port, persistence off, stopped after), an ioredis client and a RedisReplayStore over it, and
// the claim's own cost measured on that store. Only when `redis-server` is on PATH
// (scripts/ensure-tools.sh installs Debian's package); the same start-up as
// test/helpers/redis-server.ts, in plain JS because the bench runs on dist/, not on the tests.
import { execFileSync, spawn } from "node:child_process";
import net from "node:net";
import { RedisReplayStore } from "../dist/esm/integrations/redis/index.js";
import { measure } from "./lib.mjs";

function hasRedisServer() {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts redis-server and connects a store to it; `undefined` (with a note) when there is no
 * redis-server. `close()` quits the client and kills the server.
 */
export async function startRedisStore() {
  if (!hasRedisServer()) {
    console.log("no redis-server on PATH: the Redis replay store rows are skipped (bash scripts/ensure-tools.sh)");
    return undefined;
  }
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    await new Promise((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10_000);
      child.stdout.on("data", (chunk) => {
        log += chunk;
        if (log.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${log}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const { Redis } = await import("ioredis");
  const client = new Redis(port, "127.0.0.1");
  const store = new RedisReplayStore({ client, keyPrefix: "bench:jti:" });
  return {
    port,
    store,
    /** The claim alone: one SET NX per claim, n claims at `concurrency` in flight, medians over `rounds`. */
    claimCost: async (n = 5000, rounds = 3) => {
      const out = {};
      for (const concurrency of [1, 64]) {
        const runs = [];
        for (let r = 0; r < rounds; r++) {
          let i = 0;
          const expiresAt = Date.now() + 60_000;
          runs.push(
            await measure(
              async () => {
                if (!(await store.claim(`claim-${concurrency}-${r}-${i++}`, expiresAt))) throw new Error("replayed");
              },
              n,
              concurrency,
            ),
          );
        }
        const mid = (f) => runs.map((x) => x[f]).sort((a, b) => a - b)[runs.length >> 1];
        out[concurrency] = { claimsPerSec: mid("callsPerSec"), p50Us: mid("p50") * 1000, cpuUs: mid("cpuUsPerCall") };
      }
      return out;
    },
    close: async () => {
      await client.quit().catch(() => client.disconnect());
      await stop();
    },
  };
}
