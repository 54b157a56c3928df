// One bench client in a process of its own (forked by bench/run.mjs), so that what it costs is
// not what the other clients left behind in a shared process: their JIT feedback on shared
// code, their garbage and live heap, the per-process replay store's ids, the verifier thread.
// A production process runs one configured client; so does each of these.
//
// IPC: the runner sends { type: "init", spec } once (spec: see makeClient in lib.mjs), then
// { type: "measure", id, n, concurrency } and { type: "close", id }; each is answered with { id, ... }.
import { makeClient, measure } from "./lib.mjs";

let client;
process.on("message", async (msg) => {
  try {
    if (msg.type === "init") {
      client = await makeClient(msg.spec);
      await client.call(); // connects, fetches keys, proves the path answers
      process.send({ id: msg.id });
    } else if (msg.type === "measure") {
      const result = await measure(client.call, msg.n, msg.concurrency);
      process.send({ id: msg.id, result: { ...result, latencies: Array.from(result.latencies) } });
    } else if (msg.type === "close") {
      await client?.close();
      process.send({ id: msg.id });
      process.exit(0);
    }
  } catch (error) {
    process.send({ id: msg.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
// Never outlive the runner.
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
