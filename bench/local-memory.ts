/**
 * Heap per retained decision of the local authority (docs/local-authority.md,
 * "Retention"): N decisions of a small intent (one in three escalated) over
 * HTTP, journal on, heap measured after full GCs before and after.
 *
 *   node --expose-gc --import tsx bench/local-memory.ts [N=3000]
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalAuthority } from "../src/local/index.js";
import { POLICIES, rawRequest } from "../test/local/helpers.js";

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const n = Number(process.argv[2] ?? 3000);
  const dir = mkdtempSync(join(tmpdir(), "decionis-memory-"));
  const journal = join(dir, "journal.jsonl");
  const authority = await startLocalAuthority({ policies: POLICIES, journal, log: () => undefined });
  const post = (body: unknown) =>
    fetch(`${authority.url}/v1/authority/enforce-and-bind`, {
      method: "POST",
      headers: { authorization: `Bearer ${authority.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  for (let i = 0; i < 50; i++) await post(rawRequest());
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const journalBefore = statSync(journal).size;
  for (let i = 0; i < n; i++) await post(rawRequest({ context: { notional: i % 3 === 0 ? 500_000 : 1_000 } }));
  gc();
  gc();
  const heap = (process.memoryUsage().heapUsed - before) / n;
  const disk = (statSync(journal).size - journalBefore) / n;
  console.log(
    `${n} decisions: ${(heap / 1024).toFixed(1)} KiB of heap and ${(disk / 1024).toFixed(1)} KiB of journal each`,
  );
  await authority.stop();
  rmSync(dir, { recursive: true, force: true });
}

void main();
