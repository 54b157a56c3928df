// Builds dist/esm and dist/cjs with two tsc runs and marks each folder's module type,
// the layout axios-retry ships. Runs with no shell features so it works the same everywhere.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tsc = require.resolve("typescript/bin/tsc");

rmSync("dist", { recursive: true, force: true });
for (const [config, dir, type] of [
  ["tsconfig.build.json", "dist/esm", "module"],
  ["tsconfig.build.cjs.json", "dist/cjs", "commonjs"],
]) {
  execFileSync(process.execPath, [tsc, "-p", config], { stdio: "inherit" });
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/package.json`, JSON.stringify({ type }) + "\n");
}
