/**
 * A journal past 512 MiB of text (the V8 string limit, where a whole-file read
 * fails) loads by streaming, in bounded memory, and the load is timed. The
 * file is generated with the journal's own writer: ~10,700 signed decision
 * lines of 50 KiB, all but the last few past retention, so loading drops them
 * as it goes and compaction shrinks the file to what is kept.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { verifyDossier } from "../../src/index.js";
import type { Authority, DossierState } from "../../src/local/authority.js";
import { sealDossier } from "../../src/local/dossier.js";
import { startLocalAuthority } from "../../src/local/index.js";
import { Journal } from "../../src/local/journal.js";
import { KeyRing } from "../../src/local/keys.js";
import { call, jwksOf, POLICIES, rawRequest } from "./helpers.js";

const TARGET_BYTES = 513 * 1024 * 1024;
const ROOT = join(__dirname, "..", "..");

interface ChildLoad {
  entries: number;
  bytes: number;
  ms: number;
  kept: string[];
  maxRssMiB: number;
}

/** Starts the local authority on `journal` in a child with a 160 MiB V8 heap, and reports its load. */
async function loadInChild(journal: string, keyFile: string): Promise<ChildLoad> {
  const script = `
    const { startLocalAuthority } = require(${JSON.stringify(join(ROOT, "src/local/index.ts"))});
    (async () => {
      const a = await startLocalAuthority({ policies: ${JSON.stringify(POLICIES)}, journal: ${JSON.stringify(journal)}, keyFile: ${JSON.stringify(keyFile)}, log: () => {} });
      const l = a.journalLoad;
      const kept = a.decisions().map((d) => d.decision.dossier_id);
      await a.stop();
      console.log(JSON.stringify({ entries: l.entries, bytes: l.bytes, ms: l.ms, kept, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
    })();
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--max-old-space-size=160", "--require", "tsx/cjs", "-e", script],
    { cwd: ROOT, maxBuffer: 1024 * 1024, timeout: 100_000 },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildLoad;
}
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "decionis-large-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

test("a journal over 512 MiB loads line by line in bounded memory, dropping what is past retention", async () => {
  const journal = join(dir, "big.jsonl");
  // One real decision with 50 KiB of parameters: the template of every line.
  const seed = await startLocalAuthority({ policies: POLICIES, journal: join(dir, "seed.jsonl") });
  const body = rawRequest({ parameters: { symbol: "EURUSD", blob: "x".repeat(50_000) } });
  const seeded = await call(seed, "POST", "/v1/authority/enforce-and-bind", body);
  expect(seeded.status).toBe(200);
  const first = readFileSync(join(dir, "seed.jsonl"), "utf8").split("\n")[0]!;
  const template = (JSON.parse(first) as { data: DossierState }).data;
  await seed.stop();

  const keys = KeyRing.load(join(dir, "seed.jsonl.keys.json"));
  const generated = performance.now();
  const { journal: out } = Journal.open(journal, { keys, onEntry: () => undefined });
  const old = new Date(Date.now() - 30 * 86_400_000).toISOString();
  const now = new Date().toISOString();
  let i = 0;
  const entry = (at: string): DossierState => {
    i++;
    return {
      ...template,
      dossier_id: `dos_big${i}`,
      decided_at: at,
      updated_at: at,
      decision: { ...template.decision, decision_id: `dec_big${i}`, dossier_id: `dos_big${i}` },
      request: { ...template.request, idempotency_key: `big-${i}` },
      grants: template.grants.map((g) => ({ ...g, jti: `grt_big${i}`, decision_id: `dec_big${i}` })),
    };
  };
  while (statSync(journal).size < TARGET_BYTES) for (let k = 0; k < 256; k++) out.append("decision", entry(old), old);
  // The last few are recent: kept, and their dossiers signed as the authority would have.
  const signer = { url: template.issuer, keys } as unknown as Authority;
  const recent: string[] = [];
  for (let k = 0; k < 5; k++) {
    const state = entry(now);
    state.integrity = sealDossier(state, signer);
    out.append("decision", state, now);
    recent.push(state.dossier_id);
  }
  out.close();
  const size = statSync(journal).size;
  const generateMs = performance.now() - generated;
  expect(size).toBeGreaterThan(512 * 1024 * 1024);

  // The load runs in a child whose V8 heap is capped far below the file's size: a whole-file read (or
  // keeping what was read) could not fit, so a load that completes there is one that streamed. Its peak
  // RSS is that process's own, not the jest worker's, which other suites have grown.
  const load = await loadInChild(journal, join(dir, "seed.jsonl.keys.json"));
  console.log(
    `journal-large: ${(size / 1048576).toFixed(0)} MiB, ${load.entries} lines; generated in ` +
      `${(generateMs / 1000).toFixed(1)} s, loaded in ${(load.ms / 1000).toFixed(1)} s, child peak RSS ${load.maxRssMiB.toFixed(0)} MiB`,
  );
  expect(load.entries).toBe(i);
  expect(load.bytes).toBe(size);
  expect(load.kept).toEqual(recent);
  // The heap cap is the proof; the process as a whole (code, buffers, Node's own) stays below the file too.
  expect(load.maxRssMiB).toBeLessThan(size / 1048576);
  // Compacted at start: the file now holds what is kept.
  expect(statSync(journal).size).toBeLessThan(1024 * 1024);
  const authority = await startLocalAuthority({
    policies: POLICIES,
    journal,
    keyFile: join(dir, "seed.jsonl.keys.json"),
  });
  try {
    const dossier = await call(authority, "GET", `/v1/protocol/dossiers/${recent[4]!}`);
    expect(verifyDossier(dossier.json, (await jwksOf(authority)) as never).valid).toBe(true);
  } finally {
    await authority.stop();
  }
}, 120_000);
