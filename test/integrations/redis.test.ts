/**
 * `decionis/redis` against a real redis-server (loopback, free port, persistence
 * off): one grant runs once across 8 processes, keys expire with the grant, and
 * every fault (stopped server, stall, odd reply, abort) runs nothing.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { Cluster, Redis } from "ioredis";
import { Redis as Redis5 } from "ioredis5";
import { createClient } from "redis";
import { createClient as createClient4 } from "redis4";
import { createClient as createClient5 } from "redis5";
import { ConfigurationError, InvalidReceiptError, type DecionisClient } from "../../src/index.js";
import { RedisReplayStore, type RedisClientLike } from "../../src/integrations/redis/index.js";
import {
  allowFor,
  decisionFor,
  escalationFor,
  sampleIntent,
  useTestAuthority,
  type RecordedRequest,
} from "../helpers/test-authority.js";
import { freePort, startFakeRedis, startRedisServer, type RedisServer } from "../helpers/redis-server.js";

const authority = useTestAuthority({ apiKey: "sk_redis" });
let redis: RedisServer;
/** Every client a test opens, disconnected after the file. */
const opened: { disconnect(): unknown }[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
}, 15_000);
afterAll(async () => {
  for (const c of opened) await Promise.resolve(c.disconnect()).catch(() => undefined);
  await redis.stop();
});

function ioredis(url = redis.url, options: Record<string, unknown> = {}): Redis {
  const c = new Redis(url, options);
  c.on("error", () => undefined); // reconnect noise of the fault tests
  opened.push(c);
  return c;
}
async function nodeRedis(url = redis.url) {
  const c = createClient({ url, socket: { reconnectStrategy: 50 } });
  c.on("error", () => undefined);
  opened.push({
    disconnect: () => {
      if (c.isOpen) c.destroy();
    },
  });
  return c.connect();
}

/** A gated call whose grant is claimed in `store`; resolves with what happened, counting runs. */
async function gatedCall(client: DecionisClient, signal?: AbortSignal) {
  let runs = 0;
  const started = performance.now();
  const error = await client
    .enforce(sampleIntent, { execute: () => ++runs, reportOutcome: false, ...(signal ? { signal } : {}) })
    .then(() => undefined)
    .catch((e: unknown) => e);
  return { runs, error, ms: performance.now() - started };
}

describe("RedisReplayStore options", () => {
  const fine = { call: () => Promise.resolve("OK") };
  it.each([
    ["no client", { client: undefined }, "client", /ioredis client .* or a node-redis client .*got undefined/],
    [
      "a client without call/sendCommand",
      { client: {} },
      "client",
      /got an object without call\(\) or sendCommand\(\)/,
    ],
    ["an empty keyPrefix", { client: fine, keyPrefix: "" }, "keyPrefix", /non-empty string .*got ""/],
    ["a numeric keyPrefix", { client: fine, keyPrefix: 7 }, "keyPrefix", /got 7/],
    ["timeoutMs 0", { client: fine, timeoutMs: 0 }, "timeoutMs", /whole number of ms from 1 .*got 0/],
    ["timeoutMs 1.5", { client: fine, timeoutMs: 1.5 }, "timeoutMs", /got 1.5/],
    ["timeoutMs NaN", { client: fine, timeoutMs: Number.NaN }, "timeoutMs", /got NaN/],
  ])("%s is refused up front, naming the option", (_case, options, option, message) => {
    expect(() => new RedisReplayStore(options as never)).toThrow(ConfigurationError);
    expect(() => new RedisReplayStore(options as never)).toThrow(
      expect.objectContaining({ option, message: expect.stringMatching(message) as unknown }),
    );
  });

  it("takes an ioredis Cluster as it comes", async () => {
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    expect(new RedisReplayStore({ client: cluster }).keyPrefix).toBe("decionis:jti:");
    await cluster.quit().catch(() => undefined);
  });

  it("loads with neither ioredis nor node-redis installed: the user brings the client", () => {
    jest.isolateModules(() => {
      for (const name of ["ioredis", "redis", "@redis/client"])
        jest.doMock(name, () => {
          throw new Error(`Cannot find module '${name}'`);
        });
      const loaded = jest.requireActual<{ RedisReplayStore: unknown }>("../../src/integrations/redis/index.js");
      expect(typeof loaded.RedisReplayStore).toBe("function");
    });
  });

  it("has documented defaults", () => {
    expect(new RedisReplayStore({ client: fine })).toMatchObject({ keyPrefix: "decionis:jti:", timeoutMs: 1000 });
  });
});

describe("each client claims with one SET PXAT NX", () => {
  // Both clients, the versions users run: the structural type takes each without a cast.
  const clients: [string, () => Promise<RedisClientLike>][] = [
    ["ioredis 6", () => Promise.resolve(ioredis())],
    [
      "ioredis 5",
      () => {
        const c = new Redis5(redis.url);
        opened.push(c);
        return Promise.resolve(c);
      },
    ],
    ["redis 6 (node-redis)", () => nodeRedis()],
    [
      "@redis/client 5",
      async () => {
        const c = createClient5({ url: redis.url });
        opened.push({
          disconnect: () => {
            if (c.isOpen) c.destroy();
          },
        });
        return c.connect();
      },
    ],
    [
      "@redis/client 1 (redis 4)",
      async () => {
        const c = createClient4({ url: redis.url });
        opened.push({ disconnect: () => (c.isOpen ? c.disconnect() : undefined) });
        await c.connect();
        return c;
      },
    ],
  ];
  it.each(clients)("%s: first claim true, then false; the key expires at the grant's expiry", async (name, make) => {
    const store = new RedisReplayStore({ client: await make(), keyPrefix: "t:claim:" });
    const jti = `jti-${name.replace(/\W/g, "")}-${Date.now()}`;
    const expiresAtMs = Date.now() + 60_000;
    expect(await store.claim(jti, expiresAtMs)).toBe(true);
    expect(await store.claim(jti, expiresAtMs)).toBe(false);
    expect(await store.claim(jti, expiresAtMs + 5000)).toBe(false);
    expect(redis.cli("PEXPIRETIME", `t:claim:${jti}`)).toBe(String(expiresAtMs));
    expect(redis.cli("GET", `t:claim:${jti}`)).toBe("1");
  });

  it("Redis forgets a key when its grant expires; an already expired grant is never claimed", async () => {
    const store = new RedisReplayStore({ client: ioredis(), keyPrefix: "t:exp:" });
    expect(await store.claim("short", Date.now() + 150)).toBe(true);
    expect(Number(redis.cli("PTTL", "t:exp:short"))).toBeLessThanOrEqual(150);
    const deadline = Date.now() + 3000;
    while (redis.cli("EXISTS", "t:exp:short") !== "0" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    expect(redis.cli("EXISTS", "t:exp:short")).toBe("0");
    // Redis answers OK to a PXAT in the past and keeps nothing: the store must not ask.
    expect(await store.claim("past", Date.now() - 1)).toBe(false);
    expect(await store.claim("past", Date.now() - 1)).toBe(false);
    expect(redis.cli("EXISTS", "t:exp:past")).toBe("0");
  });
});

describe("a gated call claims its grant in Redis", () => {
  it("runs once; the key lives exactly as long as the grant (plus the client's clock skew)", async () => {
    const client = authority.client({
      replayStore: new RedisReplayStore({ client: ioredis(), keyPrefix: "t:gate:" }),
      clockSkewMs: 5000,
    });
    const result = await gatedCall(client);
    expect(result).toMatchObject({ runs: 1, error: undefined });
    const keys = redis.cli("KEYS", "t:gate:*").split("\n");
    expect(keys).toHaveLength(1);
    const token = String(lastAllow!["execution_token"]);
    const grant = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti: string; exp: number };
    expect(keys[0]).toBe(`t:gate:${grant.jti}`);
    expect(redis.cli("PEXPIRETIME", keys[0]!)).toBe(String(grant.exp * 1000 + 5000));
  });

  it("8 processes race on one grant: exactly one runs, seven are refused as replays", async () => {
    // A replaying authority: every process that asks for escalation esc_fleet gets the very same signed grant.
    let escalated: RecordedRequest | undefined;
    authority.script({
      body: (r: RecordedRequest) => {
        escalated = r;
        return decisionFor(r, "ESCALATE", { escalation_id: "esc_fleet" });
      },
    });
    await authority
      .client()
      .enforce(sampleIntent)
      .catch(() => undefined);
    const granted = allowFor(escalated!, { decision_id: "dec_fleet" });
    authority.fallback = () => ({ body: escalationFor(escalated!, "esc_fleet", "GRANT_READY", granted) });

    // One bundle of the child (the SDK from src), run by 8 plain node processes: a tsx
    // start per process costs about 1 s of CPU, the bundle about 0.2 s.
    const root = path.join(__dirname, "../..");
    const child = path.join(root, ".tmp", `redis-race-child-${process.pid}.cjs`);
    await build({
      entryPoints: [path.join(root, "test/helpers/redis-race-child.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      packages: "external",
      outfile: child,
      logLevel: "error",
    });
    const procs = Array.from({ length: 8 }, (_, i) =>
      spawn(process.execPath, [child, authority.url, redis.url, i % 2 ? "node-redis" : "ioredis", "esc_fleet"], {
        stdio: ["pipe", "pipe", "pipe"],
      }),
    );
    const killer = setTimeout(() => {
      procs.forEach((p) => p.kill("SIGKILL"));
    }, 20_000);
    try {
      const outputs = procs.map((p) => {
        let out = "";
        p.stdout.on("data", (c: Buffer) => (out += c.toString()));
        p.stderr.on("data", (c: Buffer) => (out += c.toString()));
        const ready = new Promise<void>((resolve, reject) => {
          p.stdout.on("data", () => {
            if (out.includes("ready\n")) resolve();
          });
          p.on("exit", () => {
            reject(new Error(`child exited before ready: ${out}`));
          });
        });
        const exited = new Promise<string>((resolve) =>
          p.on("exit", () => {
            resolve(out);
          }),
        );
        return { ready, exited };
      });
      await Promise.all(outputs.map((o) => o.ready));
      for (const p of procs) p.stdin.end("go\n"); // all at once: the claims race in Redis
      const results = (await Promise.all(outputs.map((o) => o.exited))).map(
        (out) => JSON.parse(out.trim().split("\n").pop()!) as { ran: boolean; code?: string },
      );
      expect(results.filter((r) => r.ran)).toHaveLength(1);
      expect(results.filter((r) => !r.ran).map((r) => r.code)).toEqual(Array(7).fill("TOKEN_REPLAYED"));
    } finally {
      clearTimeout(killer);
      rmSync(child, { force: true });
    }
  }, 30_000);
});

let lastAllow: Record<string, unknown> | undefined;
beforeEach(() => {
  lastAllow = undefined;
  authority.fallback = (r) => {
    if (r.url !== "/v1/authority/enforce-and-bind") return { status: 202, body: { recorded: true } };
    lastAllow = allowFor(r);
    return { body: lastAllow };
  };
});

describe("fails closed", () => {
  const failed = (why: RegExp) => ({
    runs: 0,
    error: expect.objectContaining({
      code: "REPLAY_STORE_FAILED",
      message: expect.stringMatching(/replay store could not record the grant; nothing ran/) as unknown,
      details: expect.objectContaining({ cause: expect.stringMatching(why) as unknown }) as unknown,
    }) as unknown,
  });

  it.each([
    ["ioredis", (url: string) => Promise.resolve(ioredis(url))],
    ["node-redis", (url: string) => nodeRedis(url)],
  ])("%s: a stopped server runs nothing, within timeoutMs", async (_name, make) => {
    const server = await startRedisServer();
    let result;
    try {
      const store = new RedisReplayStore({ client: await make(server.url), timeoutMs: 300 });
      const client = authority.client({ replayStore: store });
      expect(await gatedCall(client)).toMatchObject({ runs: 1 });
      await server.stop();
      result = await gatedCall(client);
    } finally {
      await server.stop();
    }
    expect(result).toMatchObject(failed(/./));
    expect(result.error).toBeInstanceOf(InvalidReceiptError);
    expect(result.ms).toBeLessThan(2000);
  });

  it("a Redis that never was there runs nothing", async () => {
    const store = new RedisReplayStore({ client: ioredis(`redis://127.0.0.1:${await freePort()}`), timeoutMs: 200 });
    expect(await gatedCall(authority.client({ replayStore: store }))).toMatchObject(
      failed(/did not answer the claim within 200 ms|Redis failed the claim/),
    );
  });

  it.each([
    ["an integer", ":1\r\n", /integer 1|number 1/],
    ["QUEUED", "+QUEUED\r\n", /"QUEUED", not OK or nil/],
    ["an array", "*1\r\n$2\r\nOK\r\n", /an array of 1/],
    ["an error", "-READONLY You can't write against a read only replica.\r\n", /Redis failed the claim: READONLY/],
  ])("an unexpected reply (%s) runs nothing", async (_name, reply, why) => {
    const fake = await startFakeRedis(() => reply);
    try {
      for (const client of [ioredis(fake.url), await nodeRedis(fake.url)]) {
        const store = new RedisReplayStore({ client });
        expect(await gatedCall(authority.client({ replayStore: store }))).toMatchObject(failed(why));
      }
    } finally {
      await fake.close();
    }
  });

  it("a Redis that stalls past timeoutMs runs nothing, in bounded time", async () => {
    const store = new RedisReplayStore({ client: ioredis(), timeoutMs: 150 });
    const client = authority.client({ replayStore: store });
    redis.cli("CLIENT", "PAUSE", "3000", "WRITE"); // a real Redis holding every write
    try {
      const result = await gatedCall(client);
      expect(result).toMatchObject(failed(/did not answer the claim within 150 ms/));
      expect(result.ms).toBeLessThan(1500);
    } finally {
      redis.cli("CLIENT", "UNPAUSE");
    }
  });

  it("an abort while Redis stalls ends the call with the signal's reason; nothing runs", async () => {
    const fake = await startFakeRedis(() => undefined); // never answers SET
    try {
      const client = authority.client({ replayStore: new RedisReplayStore({ client: await nodeRedis(fake.url) }) });
      const controller = new AbortController();
      const reason = new Error("caller gave up");
      setTimeout(() => {
        controller.abort(reason);
      }, 100);
      const result = await gatedCall(client, controller.signal);
      expect(result).toMatchObject({ runs: 0, error: reason });
      expect(result.ms).toBeLessThan(900); // well before the store's own 1000 ms
    } finally {
      await fake.close();
    }
  });

  it("a client that throws at once runs nothing, its message redacted too", async () => {
    const throwing = {
      sendCommand: (): Promise<unknown> => {
        throw new Error("closed: redis://app:hunter2@10.0.0.5:6379");
      },
    };
    const result = await gatedCall(authority.client({ replayStore: new RedisReplayStore({ client: throwing }) }));
    expect(result).toMatchObject(failed(/Redis failed the claim: closed: redis:\/\/\*\*\*@10\.0\.0\.5/));
    expect(JSON.stringify(result.error)).not.toContain("hunter2");
  });

  it("never shows a password from the client's error", async () => {
    const leaky = { call: () => Promise.reject(new Error("connect redis://app:hunter2@10.0.0.5:6379 refused")) };
    const result = await gatedCall(authority.client({ replayStore: new RedisReplayStore({ client: leaky }) }));
    expect(result).toMatchObject(failed(/redis:\/\/\*\*\*@10\.0\.0\.5:6379 refused/));
    expect(JSON.stringify(result.error)).not.toContain("hunter2");
  });
});
