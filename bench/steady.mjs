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

export async function main(argv) {
  const opts = parseArgs(argv, { seconds: 90, window: 10, inFlight: 64 });
  // Windows are counted in calls, sized from the warm-up's rate so that each lasts about `window` seconds.
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
    const rate = (await measure(gated.call, 4000, opts.inFlight)).callsPerSec;
    const perWindow = Math.round(rate * opts.window);
    console.log(
      `about ${opts.seconds} s of gated calls at ${opts.inFlight} in flight, in windows of ${perWindow} calls ` +
        `(about ${opts.window} s; grants live 30 s)\n`,
    );
    const rows = [];
    let elapsedMs = 0;
    while (elapsedMs < opts.seconds * 1000) {
      const w = await measure(gated.call, perWindow, opts.inFlight);
      const from = elapsedMs / 1000;
      elapsedMs += w.wallMs;
      rows.push([`${fmt(from)}–${fmt(elapsedMs / 1000)} s`, fmt(w.callsPerSec), fmt(w.cpuUsPerCall)]);
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
