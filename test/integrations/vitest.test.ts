/**
 * decionis/testing's matchers are for vitest users too: run their vitest file
 * (test/vitest/) with vitest itself, in a child process bounded in time.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

const root = join(__dirname, "..", "..");
const vitest = join(createRequire(join(root, "package.json")).resolve("vitest/package.json"), "..", "vitest.mjs");

test("the matchers pass under vitest", async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [vitest, "run", "--config", "test/vitest/vitest.config.mts", "--reporter=dot"],
      { cwd: root, timeout: 60_000, env: { ...process.env, CI: "true", NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : (child.exitCode ?? 1), output: stdout + stderr });
      },
    );
  });
  expect(output).toMatch(/Tests\s+1 passed/);
  expect(code).toBe(0);
}, 70_000);
