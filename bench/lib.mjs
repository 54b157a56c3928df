// Shared pieces of the benchmark: the child-process server, the three clients, the
// measurement loop and a few statistics. Plain ESM over the built SDK (dist/esm).
import { fork } from "node:child_process";
import http from "node:http";
import os from "node:os";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import axios from "axios";
import axiosRetry from "axios-retry";
import { DecionisClient, gate } from "../dist/esm/index.js";

export const PATH = "/v1/authority/enforce-and-bind";

// ---------------------------------------------------------------------------------------------
// The authority, in a child process.

/**
 * Forks a bench script that says { type: "ready", ... } once up and answers every
 * { id, ... } request with a message of the same id. Resolves with the ready message and
 * `ask(message)`, which resolves with the answer.
 */
async function forkWithIpc(script) {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let nextId = 0;
  const ready = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${script} exited early (code ${code})`)));
    child.on("message", (msg) => {
      if (msg?.type === "ready") resolve(msg);
      else pending.get(msg?.id)?.(msg);
    });
  });
  // A child that dies answers what was asked of it with the error.
  child.once("exit", (code, signal) => {
    for (const answer of [...pending.values()]) answer({ error: `${script} exited (code ${code}, signal ${signal})` });
  });
  const ask = (message) =>
    new Promise((resolve) => {
      const id = ++nextId;
      pending.set(id, (msg) => {
        pending.delete(id);
        resolve(msg);
      });
      child.send({ ...message, id });
    });
  return { child, ready, ask };
}

/** Forks bench/server.mjs and resolves once it listens. */
export async function startServer() {
  const { child, ready, ask: send } = await forkWithIpc("./server.mjs");
  const port = ready.port;
  const ask = (type) => send({ type });
  let stopped = false;
  child.on("exit", (code, signal) => {
    if (!stopped) {
      console.error(`bench server died (code ${code}, signal ${signal})`);
      process.exit(2);
    }
  });
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    /** The server's own CPU (µs, user+system) and request count. */
    async usage() {
      const msg = await ask("cpu");
      return { cpuUs: msg.cpu.user + msg.cpu.system, requests: msg.requests };
    },
    /** Headers and body of the last request the server received. */
    async lastRequest() {
      return (await ask("last")).last;
    },
    stop() {
      stopped = true;
      child.kill();
    },
  };
}

/**
 * A client from a plain description (it crosses to bench/client.mjs as JSON): `kind` "raw" |
 * "axios" | "axiosSdk" (replaying the captured `body` and `headers`) or "gated" (the SDK, with
 * `extra` client options; `redisPort` claims its grants in a RedisReplayStore there).
 */
export async function makeClient(spec) {
  switch (spec.kind) {
    case "raw":
      return makeRaw(spec.port, spec.body, spec.headers);
    case "axios":
      return makeAxios(spec.baseUrl, spec.body, spec.headers);
    case "axiosSdk":
      return makeAxiosSdkConfig(spec.baseUrl, spec.body, spec.headers);
    case "gated": {
      const extra = { ...spec.extra };
      let quit = async () => {};
      if (spec.redisPort !== undefined) {
        const { Redis } = await import("ioredis");
        const { RedisReplayStore } = await import("../dist/esm/integrations/redis/index.js");
        const redis = new Redis(spec.redisPort, "127.0.0.1");
        extra.replayStore = new RedisReplayStore({ client: redis, keyPrefix: `bench:${process.pid}:` });
        quit = () => redis.quit();
      }
      const gated = makeGated(spec.baseUrl, extra);
      return {
        call: gated.call,
        close: async () => {
          await gated.close();
          await quit();
        },
      };
    }
    default:
      throw new Error(`unknown client kind ${spec.kind}`);
  }
}

/**
 * A client in a process of its own (bench/client.mjs): `measure(n, concurrency)` runs there and
 * reports that process's CPU. `spec` as client.mjs describes it.
 */
export async function forkClient(spec) {
  const { child, ask } = await forkWithIpc("./client.mjs");
  const call = async (message) => {
    const answer = await ask(message);
    if (answer.error !== undefined) throw new Error(`bench client ${spec.kind}: ${answer.error}`);
    return answer;
  };
  await call({ type: "init", spec });
  return {
    measure: async (n, concurrency) => (await call({ type: "measure", n, concurrency })).result,
    close: async () => {
      if (child.exitCode === null) await call({ type: "close" });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The clients. Each factory returns `call()`, one POST (or one gated call) per invocation.

export const ORDER = Object.freeze({ symbol: "EURUSD", qty: 1000 });

/** The gated call: `order.qty` behind an OPEN_POSITION gate on `client`. */
export function gateOrder(client) {
  return gate(async (order) => order.qty, {
    client,
    action: "OPEN_POSITION",
    actor: { id: "bench_bot", type: "TRADING_BOT" },
    resource: (o) => o.symbol,
    policy: "cfd-risk-policy",
  });
}

/**
 * The SDK client and gated function of the benchmark, as the issue describes them. `extra`
 * client options (e.g. `{ verify: "none" }`) make the context variants.
 */
export function makeGated(baseUrl, extra = {}) {
  const client = new DecionisClient({
    apiKey: "bench-key",
    baseUrl,
    tenantId: "bench_tenant",
    system: "broker",
    ...extra,
  });
  const f = gateOrder(client);
  return {
    client,
    call: async () => {
      const qty = await f(ORDER);
      if (qty !== ORDER.qty) throw new Error(`gated call returned ${qty}`);
    },
    close: () => client.close(),
  };
}

/** The headers the SDK sent, minus those the HTTP stack writes itself. */
export function replayHeaders(captured) {
  const headers = {};
  for (const [k, v] of Object.entries(captured))
    if (!["host", "connection", "content-length", "transfer-encoding"].includes(k)) headers[k] = v;
  return headers;
}

function checkAllow(data) {
  if (data?.status !== "ALLOW") throw new Error(`baseline got ${JSON.stringify(data).slice(0, 200)}`);
}

/** Raw node:http POST with a keep-alive agent; reads and JSON-parses the answer like the others do. */
export function makeRaw(port, body, headers) {
  const agent = new http.Agent({ keepAlive: true });
  const options = {
    agent,
    host: "127.0.0.1",
    port,
    method: "POST",
    path: PATH,
    headers: { ...headers, "content-length": Buffer.byteLength(body) },
  };
  const call = () =>
    new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("error", reject);
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`raw POST answered ${res.statusCode}`));
          try {
            checkAllow(JSON.parse(text));
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  return { call, close: () => agent.destroy() };
}

/**
 * Bare axios: its own instance with keep-alive agents, otherwise axios's defaults (JSON
 * response parsing, redirects followed). Headers split as the SDK splits them: fixed ones on
 * the instance, per-request ones on the call.
 */
export function makeAxios(baseUrl, body, headers, extra = {}, retry = false, agentOptions = {}) {
  const httpAgent = new http.Agent({ keepAlive: true, ...agentOptions });
  const { "idempotency-key": idem, "x-correlation-id": corr, authorization, ...fixed } = headers;
  const perCall = { "idempotency-key": idem, "x-correlation-id": corr, authorization };
  const ax = axios.create({ baseURL: baseUrl, httpAgent, headers: fixed, ...extra });
  // As the SDK's gateway installs it (its retry condition never fires on a 200).
  if (retry) axiosRetry(ax, { retries: 2, shouldResetTimeout: true, retryCondition: () => false, retryDelay: () => 0 });
  const parse = extra.responseType === "text" ? JSON.parse : (d) => d;
  const call = async () => {
    const res = await ax.post(PATH, body, { headers: { ...perCall } });
    checkAllow(parse(res.data));
  };
  return { call, close: () => httpAgent.destroy() };
}

/**
 * axios configured as the SDK's HTTP gateway configures it, without the SDK (and, with
 * `retry`, with axios-retry installed as the gateway installs it): isolates the SDK's own cost.
 */
export function makeAxiosSdkConfig(baseUrl, body, headers, retry = false) {
  const identity = (d) => d;
  return makeAxios(
    baseUrl,
    body,
    headers,
    {
      timeout: 10_000,
      maxContentLength: 100 * 1024,
      maxBodyLength: 1024 * 1024,
      maxRedirects: 0,
      responseType: "text",
      transformRequest: [identity],
      transformResponse: [identity],
      transitional: { clarifyTimeoutError: true, silentJSONParsing: false, forcedJSONParsing: false },
      proxy: false,
    },
    retry,
    // The gateway's agents keep axios's TCP keep-alive delay (src/gateway/http.ts).
    { keepAliveMsecs: 60_000 },
  );
}

// ---------------------------------------------------------------------------------------------
// Measurement.

v8.setFlagsFromString("--expose-gc");
/** A full GC between cells, so each cell pays for (most of) its own garbage. */
export const gc = vm.runInNewContext("gc");

/**
 * Runs `n` calls with `concurrency` in flight. Returns wall time, client CPU (this process,
 * user+system, all threads) and the sorted latencies.
 */
export async function measure(call, n, concurrency) {
  const latencies = new Float64Array(n);
  let next = 0;
  let failure;
  const worker = async () => {
    while (next < n && failure === undefined) {
      const i = next++;
      const t0 = performance.now();
      try {
        await call();
      } catch (error) {
        failure ??= error;
        return;
      }
      latencies[i] = performance.now() - t0;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (failure !== undefined) throw failure;
  latencies.sort();
  return { ...summary(n, wallMs, cpu.user + cpu.system, latencies), /** Sorted, ms. */ latencies };
}

/** The figures of `calls` calls that took `wallMs` and `cpuUs` in all, from their latencies (ms, sorted). */
export function summary(calls, wallMs, cpuUs, sorted) {
  return {
    calls,
    wallMs,
    callsPerSec: (calls * 1000) / wallMs,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    cpuUsPerCall: cpuUs / calls,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpu: cpus[0]?.model ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadavg: os.loadavg().map((l) => l.toFixed(2)),
  };
}

/** Left-aligned first column, right-aligned others. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) =>
    "| " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const sep = "| " + widths.map((w, i) => (i === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ") + " |";
  return [line(all[0]), sep, ...all.slice(1).map(line)].join("\n");
}

export function fmt(n, digits = 0) {
  if (!Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Parses `--name value` and `--flag` arguments. */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option ${a}`);
    if (typeof defaults[key] === "boolean") out[key] = true;
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      out[key] = typeof defaults[key] === "number" ? Number(v) : v;
    }
  }
  return out;
}
