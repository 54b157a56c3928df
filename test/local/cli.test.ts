/**
 * `decionis local` as a user runs it: prints where it listens and a key line,
 * serves, and stops cleanly on SIGTERM / SIGINT; a bad policies file exits 1.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POLICIES } from "./helpers.js";

const ROOT = join(__dirname, "..", "..");
const TSX = require.resolve("tsx/cli");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "decionis-cli-"));
  writeFileSync(join(dir, "policies.json"), JSON.stringify(POLICIES));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  const { DECIONIS_API_KEY: _ignored, ...rest } = process.env;
  return spawn(process.execPath, [TSX, join(ROOT, "src/cli.ts"), ...args], { cwd: dir, env: { ...rest, ...env } });
}

/** Output so far, once `pattern` shows up in stdout. */
function waitFor(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (pattern.test(out)) resolve(out);
    });
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("exit", () => {
      reject(new Error(`exited before ${String(pattern)}:\n${out}\n${err}`));
    });
  });
}

function exit(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      resolve({ code, stdout, stderr });
    }),
  );
}

test.each(["SIGTERM", "SIGINT"] as const)(
  "starts, prints URL, JWKS and a key line, serves, and stops on %s",
  async (signal) => {
    const child = run(["local", "--policies", "policies.json", "--port", "0", "--journal", `j-${signal}.jsonl`]);
    const out = await waitFor(child, /Ctrl-C stops it/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    expect(out).toContain(`JWKS:      ${url}/.well-known/jwks.json`);
    expect(out).toMatch(
      new RegExp(`j-${signal}\\.jsonl \\(0 decisions loaded from 0 entries, 0\\.0 MiB in \\d+\\.\\d\\d s\\)`),
    );
    const key = new RegExp(`export DECIONIS_BASE_URL=${url} DECIONIS_API_KEY=(dk_local_\\w+)`).exec(out)![1]!;

    const approverKey = /^(dk_approver_\w+)$/m.exec(out)![1]!;
    expect(approverKey).not.toBe(key);

    const health = await fetch(`${url}/v1/health`);
    expect(await health.json()).toMatchObject({ status: "ok" });
    // Both keys open the escalation route (404: no such escalation, not 401).
    for (const k of [key, approverKey]) {
      const res = await fetch(`${url}/v1/authority/escalations/esc_X`, { headers: { authorization: `Bearer ${k}` } });
      expect(res.status).toBe(404);
    }

    const done = exit(child);
    child.kill(signal);
    const { code, stdout } = await done;
    expect(code).toBe(0);
    expect(stdout).toContain("Stopped.");
  },
  15_000,
);

test("accepts the key from DECIONIS_API_KEY and --approver-key, and prints neither", async () => {
  const child = run(["local", "--policies", "policies.json", "--port", "0", "--approver-key", "dk_approver_given_1"], {
    DECIONIS_API_KEY: "dk_env_key_1234",
  });
  const out = await waitFor(child, /Ctrl-C stops it/);
  const url = /listening on (\S+)/.exec(out)![1]!;
  expect(out).not.toContain("dk_env_key_1234");
  expect(out).not.toContain("dk_approver_given_1");
  const path = `${url}/v1/authority/escalations/esc_X/approve`;
  const asAgent = await fetch(path, { method: "POST", headers: { authorization: "Bearer dk_env_key_1234" } });
  expect(asAgent.status).toBe(403);
  const asApprover = await fetch(path, { method: "POST", headers: { authorization: "Bearer dk_approver_given_1" } });
  expect(asApprover.status).toBe(404);
  const done = exit(child);
  child.kill("SIGTERM");
  expect((await done).code).toBe(0);
}, 15_000);

test("a bad policies file: exit 1 with the file and the reason; bad usage: exit 2", async () => {
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ policies: [{ id: "p" }] }));
  const bad = await exit(run(["local", "--policies", "bad.json", "--port", "0"]));
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^decionis: Invalid policies file bad\.json: policies\[0\]\.version: /);
  const usage = await exit(run(["local", "--port", "0"]));
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain("--policies <file> is required");
}, 15_000);
