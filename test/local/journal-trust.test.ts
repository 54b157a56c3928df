/**
 * A journal you can trust: lines signed when written (an edit is found even
 * with the hash chain recomputed), dossiers carry the signature made then, a
 * removed tail is found through the signed head, one authority per journal
 * (a kill -9's lock is taken over), retention drops old decisions and
 * compaction rewrites the journal as a signed snapshot.
 */
import { spawn } from "node:child_process";
import { createHash, createPublicKey, verify, type JsonWebKey } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { verifyDossier } from "../../src/index.js";
import { Journal, type JournalEntry } from "../../src/local/journal.js";
import { KeyRing } from "../../src/local/keys.js";
import { startLocalAuthority, type LocalAuthority, type LocalAuthorityOptions } from "../../src/local/index.js";
import { call, jwksOf, POLICIES, rawRequest } from "./helpers.js";

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "decionis-trust-"));
  writeFileSync(join(dir, "policies.json"), JSON.stringify(POLICIES));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const journalPath = () => join(dir, `j-${++n}.jsonl`);
const start = (options: Partial<LocalAuthorityOptions>) =>
  startLocalAuthority({ policies: POLICIES, log: () => undefined, ...options });
const enforce = (a: LocalAuthority, body: unknown) => call(a, "POST", "/v1/authority/enforce-and-bind", body);
const lines = (path: string) => readFileSync(path, "utf8").trimEnd().split("\n");
const sha = (s: string) => "sha256:" + createHash("sha256").update(s).digest("hex");

async function seed(journal: string, count = 2): Promise<{ ids: string[]; url: string }> {
  const a = await start({ journal });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await enforce(a, rawRequest())).json.dossier_id as string);
  await a.stop();
  return { ids, url: a.url };
}

test("every line carries an Ed25519 signature, by the key file's key, over its hash", async () => {
  const journal = journalPath();
  await seed(journal);
  const keyFile = JSON.parse(readFileSync(`${journal}.keys.json`, "utf8")) as { keys: JsonWebKey[] };
  for (const line of lines(journal)) {
    const entry = JSON.parse(line) as { hash: string; kid: string; sig: string };
    const jwk = keyFile.keys.find((k) => (k as { kid?: string }).kid === entry.kid)!;
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x } as JsonWebKey, format: "jwk" });
    expect(
      verify(null, Buffer.from(`decionis-journal/1\n${entry.hash}`), key, Buffer.from(entry.sig, "base64url")),
    ).toBe(true);
  }
});

test("an edited entry with the hash chain recomputed is found at start, with its line number", async () => {
  const journal = journalPath();
  await seed(journal, 3);
  // Change the second decision's notional and recompute every hash and prev after it, keeping the old signatures.
  let prev = "sha256:" + "0".repeat(64);
  const forged = lines(journal).map((line, i) => {
    const entry = JSON.parse(line) as Record<string, unknown> & { data: { request: { context: object } } };
    const { hash: _h, kid, sig, ...body } = entry;
    if (i === 1) body.data.request.context = { notional: 999_999 };
    body["prev"] = prev;
    const text = JSON.stringify(body);
    prev = sha(text);
    return `${text.slice(0, -1)},"hash":"${prev}","kid":${JSON.stringify(kid)},"sig":${JSON.stringify(sig)}}`;
  });
  writeFileSync(journal, forged.join("\n") + "\n");
  const error = await start({ journal }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "JOURNAL_BROKEN", details: { line: 2 } });
  expect((error as Error).message).toMatch(/broken at line 2: its signature does not verify/);
});

test("the dossier carries the signature made when its last change was written, and verifies after a restart", async () => {
  const journal = journalPath();
  const a = await start({ journal });
  const allowed = (await enforce(a, rawRequest())).json;
  const first = (await call(a, "GET", `/v1/protocol/dossiers/${allowed.dossier_id as string}`)).json;
  const again = (await call(a, "GET", `/v1/protocol/dossiers/${allowed.dossier_id as string}`)).json;
  expect(again.integrity).toEqual(first.integrity); // reading signs nothing
  const written = JSON.parse(lines(journal)[0]!) as { data: { integrity: unknown } };
  expect(written.data.integrity).toEqual(first.integrity);
  await a.stop();

  const b = await start({ journal });
  try {
    const after = (await call(b, "GET", `/v1/protocol/dossiers/${allowed.dossier_id as string}`)).json;
    expect(after).toEqual(first);
    expect(verifyDossier(after, (await jwksOf(b)) as never).valid).toBe(true);
    // A served record edited in transit does not verify.
    expect(
      verifyDossier({ ...after, decision: { ...after.decision, status: "BLOCK" } }, (await jwksOf(b)) as never),
    ).toMatchObject({ valid: false });
  } finally {
    await b.stop();
  }
});

test("a tail removed while stopped is found through the signed head; without the head it cannot be", async () => {
  const journal = journalPath();
  await seed(journal, 3);
  const all = lines(journal);
  writeFileSync(journal, all.slice(0, 2).join("\n") + "\n");
  const error = await start({ journal }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "JOURNAL_TRUNCATED", details: { seq: 2, head: 3 } });
  expect((error as Error).message).toContain("signed head says entry 3 was written");

  // An edited head does not verify.
  const head = readFileSync(`${journal}.head`, "utf8");
  writeFileSync(`${journal}.head`, head.replace('"seq":3', '"seq":2'));
  await expect(start({ journal })).rejects.toMatchObject({ code: "JOURNAL_BROKEN" });

  // Head and tail both gone (an older backup of both): not detectable; the start says so.
  rmSync(`${journal}.head`);
  const warnings: string[] = [];
  const a = await start({ journal, log: (m) => warnings.push(m) });
  expect(a.decisions()).toHaveLength(2);
  await a.stop();
  expect(warnings.join("\n")).toMatch(/no head file .* could not be detected/);
});

describe("one authority per journal", () => {
  const cleanup: (() => void)[] = [];
  afterAll(() => {
    for (const c of cleanup) c();
  });

  test("a second start is refused with JOURNAL_LOCKED naming the holder", async () => {
    const journal = journalPath();
    const a = await start({ journal });
    try {
      const error = await start({ journal }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "JOURNAL_LOCKED", details: { pid: process.pid } });
      expect((error as Error).message).toContain(`in use by process ${process.pid}`);
    } finally {
      await a.stop();
    }
    expect(existsSync(`${journal}.lock`)).toBe(false);
    await (await start({ journal })).stop();
  });

  test("the lock of a CLI killed with kill -9 is taken over, and nothing acknowledged is lost", async () => {
    const journal = journalPath();
    // node with tsx's loader, not the tsx wrapper: the pid killed is the pid holding the lock.
    const loader = pathToFileURL(join(dirname(require.resolve("tsx/package.json")), "dist/loader.mjs")).href;
    const cli = join(__dirname, "../../src/cli.ts");
    const child = spawn(
      process.execPath,
      ["--import", loader, cli, "local", "--policies", "policies.json", "--port", "0", "--journal", journal],
      { cwd: dir, env: { ...process.env, DECIONIS_API_KEY: "dk_kill9_key_123" } },
    );
    cleanup.push(() => child.kill("SIGKILL"));
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m !== null && out.includes("Ctrl-C")) resolve(m[1]!);
      });
      child.on("exit", () => {
        reject(new Error(out));
      });
    });
    const acknowledged: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${url}/v1/authority/enforce-and-bind`, {
        method: "POST",
        headers: { authorization: "Bearer dk_kill9_key_123", "content-type": "application/json" },
        body: JSON.stringify(rawRequest()),
      });
      acknowledged.push(((await res.json()) as { dossier_id: string }).dossier_id);
    }
    // While it runs, an in-process start is refused, naming the child.
    await expect(start({ journal })).rejects.toMatchObject({ code: "JOURNAL_LOCKED", details: { pid: child.pid } });
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(existsSync(`${journal}.lock`)).toBe(true);

    const logs: string[] = [];
    const b = await start({ journal, log: (m) => logs.push(m) });
    try {
      expect(logs.join("\n")).toMatch(new RegExp(`took over the lock of process ${child.pid!}`));
      for (const id of acknowledged) expect(b.dossier(id)).toBeDefined();
    } finally {
      await b.stop();
    }
  }, 20_000);
});

describe("retention and compaction", () => {
  /** Rewrites `journal` with the first `old` decisions last changed `ageMs` ago, signed with its key file. */
  function age(journal: string, old: number, ageMs: number): void {
    const entries = lines(journal).map((l) => JSON.parse(l) as JournalEntry & { data: Record<string, string> });
    rmSync(journal);
    rmSync(`${journal}.head`);
    const keys = KeyRing.load(`${journal}.keys.json`);
    const { journal: out } = Journal.open(journal, { keys, onEntry: () => undefined });
    const then = new Date(Date.now() - ageMs).toISOString();
    entries.forEach((e, i) => {
      if (i < old) Object.assign(e.data, { decided_at: then, updated_at: then });
      const escalation = (e.data as unknown as { escalation?: { expires_at: string } | null }).escalation;
      if (i < old && escalation != null) escalation.expires_at = then;
      out.append(e.type, e.data, i < old ? then : e.at);
    });
    out.close();
  }

  test("decisions past retention are dropped at start with their idempotency keys; the journal is compacted", async () => {
    const journal = journalPath();
    const a = await start({ journal });
    const oldBody = rawRequest({ idempotencyKey: "old-1" });
    const old = (await enforce(a, oldBody)).json;
    await enforce(a, rawRequest({ idempotencyKey: "old-2" }));
    const kept = (await enforce(a, rawRequest({ idempotencyKey: "new-1" }))).json;
    await a.stop();
    age(journal, 2, 8 * 86_400_000);

    const b = await start({ journal });
    try {
      expect(b.decisions().map((d) => d.decision.decision_id)).toEqual([kept.decision_id]);
      expect(b.dossier(old.dossier_id)).toBeUndefined();
      // The key is forgotten with its decision (the intent itself expired long ago).
      const reused = await enforce(b, rawRequest({ idempotencyKey: "old-1" }));
      expect(reused.headers.get("idempotent-replayed")).toBeNull();
      const written = lines(journal).map((l) => JSON.parse(l) as { type: string; seq: number });
      expect(written.map((e) => e.type)).toEqual(["compacted", "snapshot", "decision"]);
      expect(written[0]!.seq).toBe(4); // sequence numbers go on past the old ones
    } finally {
      await b.stop();
    }
    // The compacted journal loads, verifies and keeps the retained dossier's signature valid.
    const c = await start({ journal });
    try {
      expect(c.decisions()).toHaveLength(2);
      const dossier = (await call(c, "GET", `/v1/protocol/dossiers/${kept.dossier_id as string}`)).json;
      expect(verifyDossier(dossier, (await jwksOf(c)) as never).valid).toBe(true);
    } finally {
      await c.stop();
    }
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("an escalation nobody looked at is dropped once it expired longer ago than the retention", async () => {
    const journal = journalPath();
    const a = await start({ journal });
    const escalated = (await enforce(a, rawRequest({ context: { notional: 500_000 } }))).json;
    expect(escalated.status).toBe("ESCALATE");
    await a.stop();
    age(journal, 1, 8 * 86_400_000);
    const b = await start({ journal });
    expect(b.decisions()).toHaveLength(0);
    await b.stop();
  });

  test("retention is configurable, and too short a retention is refused", async () => {
    const journal = journalPath();
    await seed(journal, 2);
    age(journal, 2, 2 * 3_600_000);
    const keepAll = await start({ journal, retention: "7d" });
    expect(keepAll.decisions()).toHaveLength(2);
    await keepAll.stop();
    const short = await start({ journal, retention: "1h" });
    expect(short.decisions()).toHaveLength(0);
    await short.stop();
    await expect(start({ retention: "5m" })).rejects.toMatchObject({ code: "OPTIONS_INVALID" });
    await expect(start({ retention: "7 days" })).rejects.toMatchObject({ code: "OPTIONS_INVALID" });
  });

  test("compact() on a running authority rewrites the journal; a crash before the rename leaves the old one", async () => {
    const journal = journalPath();
    const a = await start({ journal });
    for (let i = 0; i < 3; i++) await enforce(a, rawRequest());
    expect(a.compact()).toEqual({ dropped: 0, kept: 3 });
    expect(lines(journal).map((l) => (JSON.parse(l) as { type: string }).type)).toEqual([
      "compacted",
      "snapshot",
      "snapshot",
      "snapshot",
    ]);
    await enforce(a, rawRequest());
    await a.stop();
    // A temporary file left by a crash mid-compaction is not read; the journal is whole.
    writeFileSync(`${journal}.compact-999999.tmp`, '{"seq":1,"half');
    const b = await start({ journal });
    expect(b.decisions()).toHaveLength(4);
    await b.stop();
    rmSync(`${journal}.compact-999999.tmp`);
  });
});
