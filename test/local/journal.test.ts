/**
 * The journal: a restart keeps replays, escalations, grants, outcomes and
 * dossiers; a torn last line or a broken chain is reported, never skipped.
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalAuthority, type LocalAuthority, type LocalAuthorityOptions } from "../../src/local/index.js";
import { call, jwksOf, POLICIES, rawRequest } from "./helpers.js";

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "decionis-journal-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function files(): { journal: string; keyFile: string } {
  n++;
  return { journal: join(dir, `decisions-${n}.jsonl`), keyFile: join(dir, `key-${n}.json`) };
}

const start = (options: Partial<LocalAuthorityOptions>) => startLocalAuthority({ policies: POLICIES, ...options });
const enforce = (a: LocalAuthority, body: unknown) => call(a, "POST", "/v1/authority/enforce-and-bind", body);

/** Writes two decisions (ALLOW, ESCALATE) and returns their request bodies and answers. */
async function seed(options: { journal: string; keyFile?: string }) {
  const a = await start(options);
  const allowBody = rawRequest({ idempotencyKey: "ord-allow" });
  const escalateBody = rawRequest({ idempotencyKey: "ord-escalate", context: { notional: 500_000 } });
  const allow = (await enforce(a, allowBody)).json;
  const escalate = (await enforce(a, escalateBody)).json;
  await a.stop();
  return { allowBody, escalateBody, allow, escalate, url: a.url };
}

test("after a restart: replays, escalations, grants, outcomes and dossiers are all still there", async () => {
  const paths = files();
  const a = await start(paths);
  const allowBody = rawRequest({ idempotencyKey: "ord-1" });
  const allow = (await enforce(a, allowBody)).json;
  const escalate = (await enforce(a, rawRequest({ idempotencyKey: "ord-2", context: { notional: 500_000 } }))).json;
  const consumeBody = { execution_token: allow.execution_token, intent_hash: allow.action_hash, consumed_by: "w1" };
  expect((await call(a, "POST", "/v1/execution/consume-token", consumeBody)).status).toBe(200);
  const outcome = { status: "SUCCEEDED", started_at: new Date().toISOString(), finished_at: new Date().toISOString() };
  expect((await call(a, "POST", `/v1/authority/decisions/${allow.decision_id}/outcome`, outcome)).status).toBe(202);
  await a.stop();

  const b = await start(paths);
  try {
    expect(b.url).not.toBe(a.url);
    expect(b.decisions()).toHaveLength(2);

    const replay = await enforce(b, allowBody);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.json).toEqual({ ...allow, dossier_url: `${b.url}/dossiers/${allow.dossier_id}` });
    expect((await enforce(b, rawRequest({ idempotencyKey: "ord-1" }))).status).toBe(422);

    expect((await call(b, "POST", "/v1/execution/consume-token", consumeBody)).status).toBe(409);

    const pending = await call(b, "GET", `/v1/authority/escalations/${escalate.escalation_id}`);
    expect(pending.json.status).toBe("AWAITING_APPROVER");
    await b.approve(escalate.escalation_id, { by: "alice" });

    const dossier = (await call(b, "GET", `/v1/protocol/dossiers/${allow.dossier_id}`)).json;
    expect(dossier.outcome).toMatchObject({ ...outcome, decision_id: allow.decision_id });
    expect(dossier.grants[0].consumed).toMatchObject({ consumed_by: "w1" });
    expect((await jwksOf(b)).keys.map((k) => k["kid"])).toContain(dossier.integrity.key_id);
  } finally {
    await b.stop();
  }

  // The approval survives a second restart too.
  const c = await start(paths);
  const ready = await call(c, "GET", `/v1/authority/escalations/${escalate.escalation_id}`);
  await c.stop();
  expect(ready.json).toMatchObject({ status: "GRANT_READY", decision: { status: "ALLOW" } });
});

test("every line is chained to the one before by hash", async () => {
  const { journal } = files();
  await seed({ journal });
  const lines = readFileSync(journal, "utf8").trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  let prev = "sha256:" + "0".repeat(64);
  lines.forEach((line, i) => {
    const entry = JSON.parse(line);
    expect(entry).toMatchObject({ seq: i + 1, type: "decision", prev });
    const body = line.slice(0, line.lastIndexOf(',"hash":')) + "}";
    expect(entry.hash).toBe("sha256:" + createHash("sha256").update(body).digest("hex"));
    prev = entry.hash;
  });
});

test("a torn last line stops the start with its line number; --repair-journal cuts it off and keeps the rest", async () => {
  const { journal } = files();
  const { allowBody, allow } = await seed({ journal });
  appendFileSync(journal, '{"seq":3,"at":"2026-');

  await expect(start({ journal })).rejects.toMatchObject({
    code: "JOURNAL_TORN",
    message: expect.stringMatching(/ends with a torn line 3 \(\d+ bytes, no newline\).*--repair-journal/s),
  });

  const warnings: string[] = [];
  const repaired = await start({ journal, repairJournal: true, log: (m) => warnings.push(m) });
  try {
    expect(warnings.join("\n")).toMatch(/torn line 3 cut off/);
    expect(readFileSync(`${journal}.torn`, "utf8")).toContain('{"seq":3,"at":"2026-');
    expect(repaired.decisions()).toHaveLength(2);
    expect((await enforce(repaired, allowBody)).json.decision_id).toBe(allow.decision_id);
    // Appends go on from the repaired end, still chained.
    await enforce(repaired, rawRequest());
  } finally {
    await repaired.stop();
  }
  const again = await start({ journal });
  expect(again.decisions()).toHaveLength(3);
  await again.stop();
});

test.each([
  [
    "an edited line",
    (lines: string[]) => [lines[0]!.replace('"status":"ALLOW"', '"status":"BLOCK"'), lines[1]!],
    /broken at line 1: its hash does not match its content/,
  ],
  ["a removed line", (lines: string[]) => [lines[1]!], /broken at line 1: its prev is not the hash of the line before/],
  ["swapped lines", (lines: string[]) => [lines[1]!, lines[0]!], /broken at line 1/],
  [
    "a line that is not JSON",
    (lines: string[]) => [lines[0]!, "hello"],
    /broken at line 2: it does not end with a hash/,
  ],
])("a broken chain (%s) stops the start, naming the line and the reason", async (_what, edit, message) => {
  const { journal } = files();
  await seed({ journal });
  const lines = readFileSync(journal, "utf8").trimEnd().split("\n");
  expect(lines[0]).toContain('"status":"ALLOW"');
  writeFileSync(journal, edit(lines).join("\n") + "\n");
  const error = await start({ journal, repairJournal: true }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "JOURNAL_BROKEN", message: expect.stringMatching(message) });
  expect((error as Error).message).toContain(journal);
  expect(existsSync(`${journal}.torn`)).toBe(false);
});
