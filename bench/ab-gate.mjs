// A/B of two builds of the SDK in one process: the same gated call (bench/lib.mjs gateOrder)
// from build A and build B, alternated over rounds with bare axios beside them, so that the
// machine's load drifts alike over both. Reports medians of per-round figures and of the
// per-round paired differences B − A.
//
//   node bench/ab-gate.mjs --a /tmp/old/dist/esm --b dist/esm            # over the loopback server
//   node bench/ab-gate.mjs --a /tmp/old/dist/esm --b dist/esm --local    # in-process gateway, no network
//
// --local answers every call at once with an ALLOW bound to the request's intent_hash from
// an in-process gateway (verify: "none": no grant to sign), so the figure is the SDK's own CPU
// per call and nothing else; the HTTP mode shows the same code in place, axios included.
import { pathToFileURL } from "node:url";
import path from "node:path";
import { gc, makeAxios, measure, median, parseArgs, replayHeaders, startServer, ORDER, fmt } from "./lib.mjs";

const opts = parseArgs(process.argv.slice(2), {
  a: "",
  b: "dist/esm",
  local: false,
  rounds: 10,
  calls1: 1000,
  calls64: 3000,
  callsLocal: 20000,
  verify: "both",
  only: "",
});
if (opts.a === "") throw new Error("--a <dist/esm of build A> is required");

async function load(dir) {
  return import(pathToFileURL(path.resolve(dir, "index.js")).href);
}
const builds = { A: await load(opts.a), B: await load(opts.b) };

function gateOn(sdk, client) {
  return sdk.gate(async (order) => order.qty, {
    client,
    action: "OPEN_POSITION",
    actor: { id: "bench_bot", type: "TRADING_BOT" },
    resource: (o) => o.symbol,
    policy: "cfd-risk-policy",
  });
}

function gatedCall(sdk, clientOptions) {
  const client = new sdk.DecionisClient({
    apiKey: "bench-key",
    tenantId: "bench_tenant",
    system: "broker",
    ...clientOptions,
  });
  const f = gateOn(sdk, client);
  return {
    call: async () => {
      if ((await f(ORDER)) !== ORDER.qty) throw new Error("gated call returned something else");
    },
    close: () => client.close(),
  };
}

/** An in-process gateway: an ALLOW bound to the request's hash, at once. */
function localGateway(prefix) {
  // Ids unique per gateway: both builds may share the process's replay store.
  let n = 0;
  return {
    async enforceAndBind(request) {
      const body = request.body;
      const at = body.indexOf('"intent_hash":"') + 15;
      const hash = body.slice(at, body.indexOf('"', at));
      const id = `${prefix}${String(++n).padStart(12, "0")}`;
      return {
        decision_id: `dec_${id}`,
        status: "ALLOW",
        should_execute: true,
        reason_codes: ["WITHIN_LIMITS"],
        action_hash: hash,
        execution_token: `tok_${id}`,
        execution_token_expires_at: new Date(Date.now() + 20_000).toISOString(),
        dossier_id: `dos_${id}`,
        escalation_id: null,
      };
    },
  };
}

const clients = {};
let server;
if (opts.local) {
  for (const [name, sdk] of Object.entries(builds))
    clients[`${name} none`] = gatedCall(sdk, { gateway: localGateway(name), verify: "none" });
} else {
  server = await startServer();
  const warm = gatedCall(builds.B, { baseUrl: server.baseUrl });
  await warm.call();
  const captured = await server.lastRequest();
  const headers = replayHeaders(captured.headers);
  clients["bare axios"] = makeAxios(server.baseUrl, captured.body, headers);
  await warm.close();
  for (const [name, sdk] of Object.entries(builds)) {
    if (opts.verify !== "none") clients[`${name} default`] = gatedCall(sdk, { baseUrl: server.baseUrl });
    if (opts.verify !== "signature")
      clients[`${name} none`] = gatedCall(sdk, { baseUrl: server.baseUrl, verify: "none" });
  }
}
const names = Object.keys(clients).filter((n) => opts.only === "" || n.includes(opts.only) || n === "bare axios");
const cells = opts.local
  ? [[opts.callsLocal, 1]]
  : [
      [opts.calls1, 1],
      [opts.calls64, 64],
    ];

const results = {}; // `${name}@${c}` → [{cpu, cps}]
for (const n of names) for (const [, c] of cells) results[`${n}@${c}`] = [];

// Warm-up: every client at every concurrency.
for (const n of names) for (const [calls, c] of cells) await measure(clients[n].call, Math.ceil(calls * 0.2), c);

for (let r = 0; r < opts.rounds; r++) {
  const order = names.map((_, i) => names[(i + r) % names.length]);
  if (r % 2) order.reverse();
  for (const [calls, c] of r % 2 ? [...cells].reverse() : cells)
    for (const n of order) {
      gc();
      const m = await measure(clients[n].call, calls, c);
      results[`${n}@${c}`].push({ cpu: m.cpuUsPerCall, cps: m.callsPerSec });
    }
  process.stderr.write(`round ${r + 1}/${opts.rounds}\r`);
}

const rows = [];
for (const [, c] of cells) {
  for (const n of names) {
    const rs = results[`${n}@${c}`];
    rows.push(
      `${n.padEnd(12)} @${String(c).padEnd(3)} cpu ${fmt(median(rs.map((x) => x.cpu)), 1).padStart(7)} µs/call` +
        `   ${fmt(median(rs.map((x) => x.cps))).padStart(7)} calls/s`,
    );
  }
  for (const v of ["default", "none"]) {
    const a = results[`A ${v}@${c}`];
    const b = results[`B ${v}@${c}`];
    if (a === undefined || b === undefined) continue;
    const diff = a.map((x, i) => b[i].cpu - x.cpu);
    const s = [...diff].sort((x, y) => x - y);
    rows.push(
      `  B − A ${v} @${c}: ${fmt(median(diff), 1)} µs/call (rounds ${fmt(s[0], 1)} … ${fmt(s[s.length - 1], 1)})` +
        `; throughput B/A ${fmt(median(a.map((x, i) => b[i].cps / x.cps)), 3)}`,
    );
    const bare = results[`bare axios@${c}`];
    if (bare !== undefined)
      for (const [k, xs] of [
        ["A", a],
        ["B", b],
      ])
        rows.push(
          `  ${k} ${v} / bare axios @${c}: CPU ${fmt(median(xs.map((x, i) => x.cpu / bare[i].cpu)), 3)}×, ` +
            `throughput ${fmt(median(xs.map((x, i) => x.cps / bare[i].cps)), 3)}`,
        );
  }
}
console.log(rows.join("\n"));
for (const n of names) await clients[n].close();
server?.stop();
process.exit(0);
