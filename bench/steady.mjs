// The gate in steady state: one client at 64 in flight for longer than a grant lives (30 s),
// in consecutive windows, so that costs which appear only once grants expire in numbers (the
// replay store sweeping them) show up. Bare axios is measured before and after for scale.
//
//   npm run bench -- --steady [--seconds 90] [--window 10] [--in-flight 64]
import {
  fmt,
  gc,
  machine,
  makeAxios,
  makeGated,
  measure,
  parseArgs,
  replayHeaders,
  startServer,
  table,
} from "./lib.mjs";

/** Runs `call` with `concurrency` in flight for `ms`; returns calls made, wall time and client CPU. */
async function runFor(call, ms, concurrency) {
  const deadline = performance.now() + ms;
  let calls = 0;
  let failure;
  const worker = async () => {
    while (performance.now() < deadline && failure === undefined) {
      try {
        await call();
        calls++;
      } catch (error) {
        failure ??= error;
      }
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (failure !== undefined) throw failure;
  return { calls, callsPerSec: (calls * 1000) / wallMs, cpuUsPerCall: (cpu.user + cpu.system) / calls };
}

export async function main(argv) {
  const opts = parseArgs(argv, { seconds: 90, window: 10, inFlight: 64 });
  const m = machine();
  console.log(`decionis steady state — ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg.join(" ")}`);
  const server = await startServer();
  const gated = makeGated(server.baseUrl);
  try {
    await gated.call();
    const captured = await server.lastRequest();
    const bare = makeAxios(server.baseUrl, captured.body, replayHeaders(captured.headers));
    const baseline = async () => {
      await measure(bare.call, 3000, opts.inFlight);
      gc();
      return measure(bare.call, 4000, opts.inFlight);
    };
    const before = await baseline();
    await measure(gated.call, 3000, opts.inFlight); // warm-up
    gc();
    console.log(
      `${opts.seconds} s of gated calls at ${opts.inFlight} in flight, in ${opts.window} s windows (grants live 30 s)\n`,
    );
    const rows = [];
    for (let t = 0; t < opts.seconds; t += opts.window) {
      const w = await runFor(gated.call, opts.window * 1000, opts.inFlight);
      rows.push([`${t}–${t + opts.window} s`, fmt(w.callsPerSec), fmt(w.cpuUsPerCall)]);
    }
    const after = await baseline();
    bare.close();
    console.log(table(["window", "gated calls/s", "gated CPU µs/call"], rows));
    console.log(
      `\nbare axios at ${opts.inFlight} in flight: ${fmt(before.callsPerSec)} calls/s, ${fmt(before.cpuUsPerCall)} µs/call before; ` +
        `${fmt(after.callsPerSec)} calls/s, ${fmt(after.cpuUsPerCall)} µs/call after.`,
    );
  } finally {
    await gated.close();
    server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
