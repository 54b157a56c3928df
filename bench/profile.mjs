// The SDK's own CPU per call, without the network (`node bench/profile.mjs` or
// `npm run bench -- --profile`).
//
// 1. End to end with an in-process gateway that answers a valid ALLOW at once
//    (`new DecionisClient({ gateway })`): capture + canonical JSON + hash + response
//    validation + acceptance + the gate itself, in µs of CPU per call.
// 2. The pieces one by one (micro-benchmarks of exported and internal functions of dist/esm;
//    internal ones are skipped if a refactor moved them).
// 3. A V8 CPU profile (node:inspector) of (1), self time grouped by the SDK function that
//    caused it and the code that spent it (zod, node:crypto, V8 builtins, GC, ...), scaled to
//    µs per call.
// With --http, (3) is also taken over the loopback server at 64 in flight for the gated call
// and for axios configured as the SDK configures it, to show the transport's share (axios,
// axios-retry, node:http).
//
// With --grant-check, only the Ed25519 grant check, per backend (libsodium through sodium-native,
// and node:crypto): the primitive alone and verifyGrant (JWS + claims), in interleaved rounds
// (the backend order alternates per round) on the same token, medians and the per-round ratio
// sodium / node:crypto. Target: <= 0.6 (issue 12).
//
//   node bench/profile.mjs [--calls 20000] [--reps 5] [--top 25] [--http [--http-calls 5000] [--http-rounds 5]]
//   node bench/profile.mjs --grant-check [--calls 5000] [--rounds 15]
import { verify } from "node:crypto";
import { createRequire } from "node:module";
import { allowAnswer, JWKS, publicKey } from "./authority.mjs";
import { Session } from "node:inspector/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DecionisClient, HttpGateway, InMemoryReplayStore, RetryPolicy, canonicalJson } from "../dist/esm/index.js";
import {
  fmt,
  gateOrder,
  gc,
  machine,
  makeAxiosSdkConfig,
  makeGated,
  measure,
  median,
  ORDER,
  parseArgs,
  replayHeaders,
  startServer,
  table,
} from "./lib.mjs";

const DIST = fileURLToPath(new URL("../dist/", import.meta.url));

/** Internal modules of dist/esm; a missing one only drops its micro-benchmark. */
async function internal(path) {
  try {
    return await import(new URL(`../dist/esm/${path}`, import.meta.url).href);
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// An in-process authority: a valid ALLOW bound to the request's hash, with a signed grant
// (protocol 5), built without JSON.parse of the body (string slicing). Its own cost (mostly the
// Ed25519 signature) is measured apart and is not the SDK's.

function field(body, name, length) {
  const key = `"${name}":"`;
  const at = body.indexOf(key);
  if (at < 0) throw new Error(`request body has no ${name}`);
  return body.slice(at + key.length, at + key.length + length);
}

function allowFor(body) {
  return allowAnswer({
    hash: field(body, "intent_hash", 71),
    tenantId: field(body, "tenant_id", 12),
    expiresAt: field(body, "expires_at", 24),
    issuer: "profile-authority",
  });
}

/** Serves its keys, so the client verifies grant signatures by default, as with the HTTP gateway. */
const instantGateway = {
  enforceAndBind: (request) => Promise.resolve(allowFor(request.body)),
  getJwks: () => Promise.resolve(JWKS),
};

function makeInProcess(extra = {}) {
  const client = new DecionisClient({ gateway: instantGateway, tenantId: "bench_tenant", system: "broker", ...extra });
  const f = gateOrder(client);
  // What the gate above hands to client.enforce for ORDER.
  const input = {
    actor: { id: "bench_bot", type: "TRADING_BOT" },
    action: { type: "OPEN_POSITION", resource: ORDER.symbol },
    parameters: { args: [ORDER] },
    target: { operation: "anonymous" },
    policyRefs: ["cfd-risk-policy"],
  };
  return { client, f, input };
}

// ---------------------------------------------------------------------------------------------
// Timing.

/** CPU µs per iteration of an async step, run sequentially; median over reps. */
async function cpuPerCallAsync(step, calls, reps) {
  for (let i = 0; i < Math.min(calls, 5000); i++) await step();
  const out = [];
  for (let r = 0; r < reps; r++) {
    gc();
    const c0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) await step();
    const c = process.cpuUsage(c0);
    out.push((c.user + c.system) / calls);
  }
  return median(out);
}

/** CPU µs per iteration of a synchronous step; median over reps. */
function cpuPerCallSync(step, calls, reps) {
  let sink;
  for (let i = 0; i < Math.min(calls, 5000); i++) sink = step();
  const out = [];
  for (let r = 0; r < reps; r++) {
    gc();
    const c0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) sink = step();
    const c = process.cpuUsage(c0);
    out.push((c.user + c.system) / calls);
  }
  globalThis.__benchSink = sink;
  return median(out);
}

// ---------------------------------------------------------------------------------------------
// CPU profile attribution.

function where(frame) {
  const { url, functionName } = frame.callFrame;
  const fn = functionName || "(anonymous)";
  if (url === "") return null; // V8 builtin or a pseudo-frame
  if (url.includes("/node_modules/")) {
    const pkg = url.split("/node_modules/").at(-1).split("/");
    return { kind: "pkg", name: pkg[0].startsWith("@") ? `${pkg[0]}/${pkg[1]}` : pkg[0], fn };
  }
  if (url.startsWith("node:")) return { kind: "node", name: url, fn };
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  if (path.startsWith(DIST)) return { kind: "sdk", name: path.slice(DIST.length).replace(/^(esm|cjs)\//, ""), fn };
  if (path.includes("/bench/")) return { kind: "bench", name: path.split("/bench/").at(-1), fn };
  return { kind: "other", name: path, fn };
}

/**
 * Self time of every sample, keyed by "the innermost SDK function on the stack" and
 * "what spent it" (zod, node:crypto, a V8 builtin inside some module, GC, ...).
 */
function attribute(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyCache = new Map();
  const keyOf = (id) => {
    if (keyCache.has(id)) return keyCache.get(id);
    const leaf = nodes.get(id);
    const name = leaf.callFrame.functionName;
    let spent;
    let sdk;
    if (name === "(garbage collector)") spent = "GC";
    else if (name === "(program)") spent = "(program: VM/native outside JS)";
    else if (name === "(idle)" || name === "(root)") spent = null;
    let builtin = where(leaf) === null && spent === undefined ? name || "(anonymous builtin)" : undefined;
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const w = where(nodes.get(cur));
      if (w === null) continue;
      if (spent === undefined) {
        const owner =
          w.kind === "pkg" ? w.name : w.kind === "node" ? w.name : w.kind === "sdk" ? `SDK ${w.name}` : w.kind;
        spent = builtin === undefined ? owner : `${owner} → builtin ${builtin}`;
        if (w.kind === "sdk") spent = `SDK ${w.name} ${w.fn}` + (builtin === undefined ? "" : ` → builtin ${builtin}`);
      }
      // Work done inside the benchmark's own gateway is not the SDK's, whatever it called.
      if (w.kind === "bench" && sdk === undefined && spent !== "GC")
        spent = "bench code: in-process gateway or baseline client (not SDK)";
      if (w.kind === "sdk") {
        sdk = `${w.name} ${w.fn}`;
        break;
      }
    }
    const key = spent === null ? null : { sdk: sdk ?? "(outside the SDK)", spent: spent ?? "(unknown)" };
    keyCache.set(id, key);
    return key;
  };
  const byPair = new Map();
  const bySpent = new Map();
  const bySdk = new Map();
  let total = 0;
  const add = (map, k, t) => map.set(k, (map.get(k) ?? 0) + t);
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const t = timeDeltas[i + 1] ?? 0;
    const key = keyOf(samples[i]);
    if (key === null) continue;
    total += t;
    add(byPair, `${key.sdk}  ⟵  ${key.spent}`, t);
    add(bySpent, bucket(key.spent), t);
    add(bySdk, key.sdk, t);
  }
  return { total, byPair, bySpent, bySdk };
}

/** Coarse buckets for the summary. */
function bucket(spent) {
  if (spent.startsWith("zod")) return "zod";
  if (spent.startsWith("axios-retry")) return "axios-retry";
  if (spent.startsWith("axios")) return "axios";
  if (spent.startsWith("SDK ")) return spent.includes("→ builtin") ? "SDK → V8 builtins" : "SDK code";
  if (spent.startsWith("node:internal/crypto/sig")) return "node:crypto Ed25519 verify (grant)";
  if (spent.startsWith("node:internal/crypto/hash")) return "node:crypto sha256 (intent hash)";
  if (spent.startsWith("node:")) return spent.split(" ")[0].replace(/^node:internal\/.*/, "node internals");
  return spent.split(" →")[0];
}

async function profiled(run, intervalUs = 50) {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: intervalUs });
  await session.post("Profiler.start");
  await run();
  const { profile } = await session.post("Profiler.stop");
  await session.post("Profiler.disable");
  session.disconnect();
  return profile;
}

function printAttribution(title, profile, cpuUsPerCall, top) {
  const a = attribute(profile);
  const scale = (t) => (t / a.total) * cpuUsPerCall;
  const rows = (map, n) =>
    [...map.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([k, t]) => [k, fmt(scale(t), 1), `${fmt((t / a.total) * 100, 1)}%`]);
  console.log(`\n### ${title} — ${fmt(cpuUsPerCall, 1)} µs CPU per call, split by profile share\n`);
  console.log(table(["spent in", "µs/call", "share"], rows(a.bySpent, 20)));
  console.log();
  console.log(table(["innermost SDK function on the stack", "µs/call", "share"], rows(a.bySdk, 20)));
  console.log();
  console.log(table(["innermost SDK function  ⟵  spent in", "µs/call", "share"], rows(a.byPair, top)));
}

// ---------------------------------------------------------------------------------------------

/** CPU µs per call of `step` over `calls` calls (one sample, after the caller's warm-up). */
function cpuSample(step, calls) {
  let sink;
  const c0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) sink = step();
  const c = process.cpuUsage(c0);
  globalThis.__benchSink = sink;
  return (c.user + c.system) / calls;
}

/** --grant-check: the grant check's CPU per verification with each Ed25519 backend, interleaved. */
export async function grantCheck(opts) {
  const ed = await internal("grants/ed25519.js");
  const jws = await internal("grants/jws.js");
  if (!ed.verifyEd25519 || !jws.verifyGrant) throw new Error("dist/esm has no grants/ed25519.js: run npm run build");
  if (ed.ed25519Backend() !== "sodium")
    throw new Error("sodium-native does not load here: npm install sodium-native@4");
  const m = machine();
  console.log(`decionis grant check — ${m.nproc} CPUs (${m.cpu}), node ${m.node}, load average ${m.loadavg.join(" ")}`);
  console.log(
    `${opts.calls} checks per sample, ${opts.rounds} interleaved rounds; CPU = process.cpuUsage user+system.\n`,
  );
  const answer = allowAnswer({
    hash: `sha256:${"a".repeat(64)}`,
    tenantId: "bench_tenant",
    expiresAt: new Date(Date.now() + 120_000).toISOString(),
    issuer: "profile-authority",
  });
  const token = answer.execution_token;
  const [h, p, sig] = token.split(".");
  const expected = {
    intentHash: answer.action_hash,
    decisionId: answer.decision_id,
    dossierId: answer.dossier_id,
    tenantId: "bench_tenant",
    intentExpiresAtMs: undefined,
    clockSkewMs: 5_000,
    now: Date.now(),
  };
  const sodium = createRequire(import.meta.url)("sodium-native");
  const message = Buffer.from(`${h}.${p}`, "latin1");
  const sigBytes = Buffer.from(sig, "base64url");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
  const steps = {
    "the primitive alone (crypto_sign_verify_detached / crypto.verify)": (backend) =>
      backend === "sodium"
        ? () => sodium.crypto_sign_verify_detached(sigBytes, message, raw)
        : () => verify(null, message, publicKey, sigBytes),
    "Ed25519 check (verifyEd25519: decode, S < L, verify)": (backend) => () =>
      ed.verifyEd25519(`${h}.${p}`, sig, publicKey, backend),
    "verifyGrant inline (JWS + check + claims zod + checks)": () => () =>
      jws.verifyGrant(jws.readGrantHeader(token), publicKey, expected),
  };
  const backends = ["sodium", "node"];
  const rows = [];
  for (const [name, make] of Object.entries(steps)) {
    const samples = { sodium: [], node: [] };
    const ratios = [];
    for (const b of backends) {
      ed.setEd25519Backend(b);
      cpuSample(make(b), Math.min(opts.calls, 2000));
    }
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? backends : [...backends].reverse();
      const round = {};
      for (const b of order) {
        ed.setEd25519Backend(b);
        gc();
        round[b] = cpuSample(make(b), opts.calls);
        samples[b].push(round[b]);
      }
      ratios.push(round.sodium / round.node);
    }
    ed.setEd25519Backend("auto");
    rows.push([
      name,
      median(samples.sodium),
      median(samples.node),
      median(ratios),
      Math.min(...ratios),
      Math.max(...ratios),
    ]);
  }
  console.log("| step | sodium µs | node:crypto µs | sodium / node (median of rounds) | range |");
  console.log("| --- | ---: | ---: | ---: | --- |");
  for (const [name, so, no, ratio, lo, hi] of rows)
    console.log(
      `| ${name} | ${fmt(so, 1)} | ${fmt(no, 1)} | ${ratio.toFixed(2)} | ${lo.toFixed(2)}–${hi.toFixed(2)} |`,
    );
  console.log(
    `\ntarget: sodium / node:crypto <= 0.6 -> ${rows[1][3] <= 0.6 ? "met" : "NOT met"} (${rows[1][3].toFixed(2)}, the SDK's check)`,
  );
}

export async function main(argv) {
  if (argv.includes("--grant-check")) return grantCheck(parseArgs(argv, { grantCheck: true, calls: 5000, rounds: 15 }));
  const opts = parseArgs(argv, { calls: 20000, reps: 5, top: 25, http: false, httpCalls: 5000, httpRounds: 5 });
  const m = machine();
  console.log(`decionis profile — ${m.nproc} CPUs (${m.cpu}), node ${m.node}, load average ${m.loadavg.join(" ")}`);
  console.log(`${opts.calls} calls per measurement, median of ${opts.reps}; CPU = process.cpuUsage user+system.\n`);

  // A replay store big enough for every grant of this run (the default holds 100,000 unexpired
  // ids, fewer than this run claims within a grant's lifetime).
  const big = () => new InMemoryReplayStore({ maxEntries: 5_000_000 });
  const { client, f, input } = makeInProcess({ replayStore: big() });
  const unverified = makeInProcess({ verify: "none", replayStore: big() });
  const capture = await internal("intent/capture.js");
  const wire = await internal("gateway/wire.js");
  const canonical = await internal("intent/canonical.js");
  const ids = await internal("intent/ids.js");
  const decision = await internal("decision.js");
  const jws = await internal("grants/jws.js");

  // The capture defaults the client passes, and one captured intent to feed the pieces.
  const defaults = {
    tenantId: "bench_tenant",
    system: "broker",
    intentTtlMs: 60_000,
    mode: "ENFORCEMENT",
    now: Date.now,
  };
  const sample = capture.captureIntent?.(input, defaults);
  const sampleBody =
    sample?.body ??
    `{"tenant_id":"bench_tenant","expires_at":"2099-01-01T00:00:00.000Z","intent_hash":"sha256:${"0".repeat(64)}"}`;

  // 1 + 2.
  const rows = [];
  const gatewayUs = await cpuPerCallAsync(
    () => instantGateway.enforceAndBind({ body: sampleBody }),
    opts.calls,
    opts.reps,
  );
  const gatedTotal = await cpuPerCallAsync(() => f(ORDER), opts.calls, opts.reps);
  const gatedUs = gatedTotal - gatewayUs;
  const noneUs = (await cpuPerCallAsync(() => unverified.f(ORDER), opts.calls, opts.reps)) - gatewayUs;
  rows.push(["gated call, default (grant signature verified): SDK's own CPU", gatedUs]);
  rows.push(['gated call, verify: "none": SDK\'s own CPU', noneUs]);
  rows.push([
    "client.enforce(input, { execute }), default verification (no gate wrapper)",
    (await cpuPerCallAsync(() => client.enforce(input, { execute: () => ORDER.qty }), opts.calls, opts.reps)) -
      gatewayUs,
  ]);
  rows.push(["(the in-process gateway's ALLOW + Ed25519 signing, subtracted above)", gatewayUs]);
  if (capture.captureIntent) {
    rows.push([
      "captureIntent (input zod parse + canonical JSON + ids + sha256 + body)",
      cpuPerCallSync(() => capture.captureIntent(input, defaults), opts.calls, opts.reps),
    ]);
  }
  if (capture.recapture && capture.captureIntent) {
    // The re-check before running: the same input captured again with the first
    // capture's ids and instant, compared as canonical strings (no hash, no body).
    const captured = capture.captureIntent(input, defaults);
    rows.push([
      "recapture (the re-check before running: zod parse + canonical JSON + compare)",
      cpuPerCallSync(() => capture.recapture(input, defaults, captured), opts.calls, opts.reps),
    ]);
  }
  rows.push([
    "  canonicalJson(parameters)",
    cpuPerCallSync(() => canonicalJson({ args: [ORDER] }, "parameters"), opts.calls, opts.reps),
  ]);
  if (canonical.sha256Tagged && sample) {
    const canon = sample.body.slice(0, sample.body.indexOf(',"intent_hash"')) + "}";
    rows.push([
      `  sha256Tagged(canonical binding, ${Buffer.byteLength(canon)} B)`,
      cpuPerCallSync(() => canonical.sha256Tagged(canon), opts.calls, opts.reps),
    ]);
  }
  if (ids.uuidv7) {
    rows.push([
      "  uuidv7() ×2 (intent id, correlation id)",
      2 * cpuPerCallSync(() => ids.uuidv7(), opts.calls, opts.reps),
    ]);
  }
  rows.push([
    "  new Date().toISOString() ×2 (captured_at, expires_at)",
    2 * cpuPerCallSync(() => new Date(Date.now()).toISOString(), opts.calls, opts.reps),
  ]);
  // A fresh intent: the grant must not have expired before the micro-benchmarks that check it.
  const answer = allowFor(capture.captureIntent?.(input, defaults).body ?? sampleBody);
  if (wire.wireDecisionSchema) {
    rows.push([
      "wireDecisionSchema.safeParse(ALLOW) (response validation)",
      cpuPerCallSync(() => wire.wireDecisionSchema.safeParse(answer), opts.calls, opts.reps),
    ]);
    if (decision.toDecision) {
      const parsed = wire.wireDecisionSchema.parse(answer);
      const idsOf = { intentId: "x", idempotencyKey: "x", correlationId: "x" };
      rows.push([
        "toDecision (camelCase, frozen, Date)",
        cpuPerCallSync(() => decision.toDecision(parsed, answer, idsOf), opts.calls, opts.reps),
      ]);
    }
  }
  const text = JSON.stringify(answer);
  rows.push([
    `JSON.parse of the ALLOW body (${text.length} B; HTTP gateway)`,
    cpuPerCallSync(() => JSON.parse(text), opts.calls, opts.reps),
  ]);
  const [h, p, sig] = answer.execution_token.split(".");
  const signingInput = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(sig, "base64url");
  rows.push([
    "crypto.verify Ed25519 of the grant (the signature check alone)",
    cpuPerCallSync(() => verify(null, signingInput, publicKey, signature), opts.calls, opts.reps),
  ]);
  if (jws.readGrantHeader) {
    rows.push([
      "readGrantHeader (split, base64url, JSON, zod header; once per call)",
      cpuPerCallSync(() => jws.readGrantHeader(answer.execution_token), opts.calls, opts.reps),
    ]);
  }
  if (jws.verifyGrant) {
    const expected = {
      intentHash: answer.action_hash,
      decisionId: answer.decision_id,
      dossierId: answer.dossier_id,
      tenantId: "bench_tenant",
      intentExpiresAtMs: undefined,
      clockSkewMs: 5_000,
      now: Date.now(),
    };
    rows.push([
      "verifyGrant (Ed25519 inline + claims zod + checks), 1 in flight",
      await cpuPerCallAsync(
        () => jws.verifyGrant(jws.readGrantHeader(answer.execution_token), publicKey, expected),
        opts.calls,
        opts.reps,
      ),
    ]);
  }
  console.log("## SDK CPU per call, no network\n");
  console.log(
    table(
      ["what", "CPU µs/call"],
      rows.map(([k, v]) => [k, fmt(v, 2)]),
    ),
  );

  // 3. Scaled to the measured total, gateway included: its share shows as "bench".
  const profile = await profiled(async () => {
    for (let i = 0; i < opts.calls; i++) await f(ORDER);
  });
  printAttribution(
    "CPU profile of the gated call, in-process ALLOW (the gateway's signing shows as bench)",
    profile,
    gatedTotal,
    opts.top,
  );

  if (opts.http) await httpProfiles(opts, input);
}

/**
 * Over the loopback server: a ladder from axios (configured as the SDK configures it) up to
 * the gated call, one layer added per step, measured in interleaved rounds; then CPU
 * profiles of the bottom and top of the ladder.
 */
async function httpProfiles(opts, input) {
  const server = await startServer();
  const closers = [];
  try {
    const gated = makeGated(server.baseUrl);
    closers.push(gated.close);
    const unverified = makeGated(server.baseUrl, { verify: "none" });
    closers.push(unverified.close);
    await gated.call();
    const captured = await server.lastRequest();
    const headers = replayHeaders(captured.headers);
    const gateway = new HttpGateway({
      baseUrl: server.baseUrl,
      apiKey: "bench-key",
      timeoutMs: 10_000,
      retryPolicy: RetryPolicy.default(),
    });
    closers.push(() => gateway.close());
    const request = {
      body: captured.body,
      request: JSON.parse(captured.body),
      idempotencyKey: headers["idempotency-key"],
      correlationId: headers["x-correlation-id"],
    };
    const ladder = [
      { name: "axios, SDK's config", ...makeAxiosSdkConfig(server.baseUrl, captured.body, headers) },
      { name: "+ axios-retry installed", ...makeAxiosSdkConfig(server.baseUrl, captured.body, headers, true) },
      {
        name: "HttpGateway.enforceAndBind (SDK transport)",
        call: () => gateway.enforceAndBind(request),
      },
      {
        name: 'client.enforce, verify: "none" (+ capture, validation, acceptance)',
        call: () => unverified.client.enforce(input, { execute: () => ORDER.qty }),
      },
      {
        name: "client.enforce (+ grant signature check and replay claim)",
        call: () => gated.client.enforce(input, { execute: () => ORDER.qty }),
      },
      { name: "gated call (+ the gate)", ...gated },
    ];
    for (const c of ladder.slice(0, 2)) closers.push(c.close);

    for (const conc of [64, 1]) {
      const n = conc === 64 ? opts.httpCalls : Math.round(opts.httpCalls / 3);
      for (const c of ladder) await measure(c.call, Math.round(n / 5), conc);
      const cpu = new Map(ladder.map((c) => [c.name, []]));
      const tput = new Map(ladder.map((c) => [c.name, []]));
      for (let round = 0; round < opts.httpRounds; round++)
        for (let i = 0; i < ladder.length; i++) {
          const c = ladder[(i + round) % ladder.length];
          await measure(c.call, Math.round(n / 10), conc);
          gc();
          const r = await measure(c.call, n, conc);
          cpu.get(c.name).push(r.cpuUsPerCall);
          tput.get(c.name).push(r.callsPerSec);
        }
      let prev;
      const rows = ladder.map((c) => {
        const us = median(cpu.get(c.name));
        const row = [c.name, fmt(median(tput.get(c.name))), fmt(us, 1), prev === undefined ? "" : fmt(us - prev, 1)];
        prev = us;
        return row;
      });
      console.log(
        `\n## Ladder over HTTP, ${conc} in flight (${n} calls per cell, median of ${opts.httpRounds} interleaved rounds)\n`,
      );
      console.log(table(["layer", "calls/s", "client CPU µs/call", "added µs/call"], rows));
    }

    for (const c of [ladder.at(-1), ladder[1]]) {
      const cpus = [];
      for (let r = 0; r < 3; r++) cpus.push((await measure(c.call, opts.httpCalls, 64)).cpuUsPerCall);
      gc();
      const profile = await profiled(() => measure(c.call, opts.httpCalls, 64), 100);
      printAttribution(`CPU profile: ${c.name}, over HTTP, 64 in flight`, profile, median(cpus), opts.top);
    }
  } finally {
    for (const close of closers) await close();
    server.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error) => {
      console.error("profile failed:", error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
