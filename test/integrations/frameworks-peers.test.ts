/**
 * Frameworks are optional peers: importing `decionis` loads none of them, and
 * an adapter whose framework is missing fails at import naming the package.
 * (Child processes: jest's own module registry would hide what Node loads.)
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);
const FRAMEWORKS = /node_modules\/(express|fastify|fastify-plugin|@nestjs\/[^/]+|rxjs)\//;

async function node(code: string): Promise<{ stdout: string; stderr: string; ok: boolean }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--require", "tsx/cjs", "-e", code], {
      cwd: ROOT,
      timeout: 20_000,
    });
    return { stdout, stderr, ok: true };
  } catch (error) {
    const e = error as { stdout: string; stderr: string };
    return { stdout: e.stdout, stderr: e.stderr, ok: false };
  }
}

test("importing decionis loads no framework", async () => {
  const { stdout } = await node(
    `require("./src/index.ts"); console.log(JSON.stringify(Object.keys(require.cache).filter((f) => ${FRAMEWORKS.toString()}.test(f))));`,
  );
  expect(JSON.parse(stdout)).toEqual([]);
}, 25_000);

test.each([
  ["express", "express"],
  ["fastify", "fastify-plugin"],
  ["nestjs", "@nestjs/common"],
])(
  "decionis/%s without %s installed fails at import, naming the package",
  async (adapter, pkg) => {
    // Makes the package unresolvable, as in a project that did not install it.
    const hide = `const M = require("node:module"); const r = M._resolveFilename; M._resolveFilename = function (id, ...a) {
    if (id === ${JSON.stringify(pkg)} || id.startsWith(${JSON.stringify(pkg + "/")})) { const e = new Error("Cannot find module '" + id + "'"); e.code = "MODULE_NOT_FOUND"; throw e; }
    return r.call(this, id, ...a); };`;
    const { ok, stderr } = await node(`${hide} require("./src/integrations/${adapter}/index.ts");`);
    expect(ok).toBe(false);
    expect(stderr).toContain(`Cannot find module '${pkg}'`);
  },
  25_000,
);
