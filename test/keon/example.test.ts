/**
 * examples/keon.ts run as a user runs it (a child process, offline, with its
 * own Keon test server), and the `decionis/keon` sub-paths as package.json declares them.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const TSX = require.resolve("tsx/cli");
const run = promisify(execFile);

test("examples/keon.ts: allowed and denied local runs, remote execute, refusals, decideAndExecute", async () => {
  const { stdout } = await run(process.execPath, [TSX, join("examples", "keon.ts")], { cwd: ROOT, timeout: 15_000 });
  expect(stdout).toMatch(/Keon test runtime at http:\/\/127\.0\.0\.1:\d+\/runtime\/v1/);
  expect(stdout).toMatch(/1\. refunded o-1 \(40\)/);
  expect(stdout).toMatch(/denied: BLOCK dr-[0-9a-f-]{36}: Refunds above 100\.00 need a manager/);
  expect(stdout).toMatch(/2\. decide: allow dr-/);
  expect(stdout).toMatch(/execute: completed exec-[0-9a-f-]+ \{"workflow":"execute_workflow","started":true\}/);
  expect(stdout).toMatch(/refused: MissingReceiptError RECEIPT_MISSING/);
  expect(stdout).toMatch(/refused: InvalidReceiptError RECEIPT_ALREADY_USED/);
  expect(stdout).toMatch(/4\. decideAndExecute: completed exec-/);
  expect(stdout).toContain("The runtime executed 2 actions");
}, 20_000);

test("package.json exports ./keon and ./keon/testing like ./local, from sources that exist", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    exports: Record<
      string,
      { import: { types: string; default: string }; require: { types: string; default: string } }
    >;
  };
  for (const [sub, source] of [
    ["./keon", "src/integrations/keon/index.ts"],
    ["./keon/testing", "src/integrations/keon/testing.ts"],
  ] as const) {
    const entry = pkg.exports[sub]!;
    expect(Object.keys(entry.import)).toEqual(["types", "default"]);
    expect(Object.keys(entry.require)).toEqual(["types", "default"]);
    const built = source.replace(/^src\//, "").replace(/\.ts$/, "");
    expect(entry.import.default).toBe(`./dist/esm/${built}.js`);
    expect(entry.require.default).toBe(`./dist/cjs/${built}.js`);
    expect(existsSync(join(ROOT, source))).toBe(true);
  }
});

test("the core imports no integration, so importing decionis never loads Keon code", () => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "integrations") walk(path);
      } else if (/\.ts$/.test(entry.name) && /from "[^"]*integrations\//.test(readFileSync(path, "utf8")))
        offenders.push(path);
    }
  };
  walk(join(ROOT, "src"));
  expect(offenders).toEqual([]);
});
