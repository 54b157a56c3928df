/**
 * The mcp and langchain adapters' frameworks are optional peers: `decionis`
 * never loads them, and an adapter whose framework is missing fails at import
 * with a message naming the package to install. "Missing" is made real in a
 * child process whose module resolver cannot see the packages, as when they
 * are not installed.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const run = promisify(execFile);

/** Resolving any of HIDE's comma-separated prefixes fails as for a package that is not installed. */
const HIDE = `
const Module = require("node:module");
const hidden = (process.env.HIDE || "").split(",").filter(Boolean);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.some((p) => request === p || request.startsWith(p + "/"))) {
    const error = new Error("Cannot find module '" + request + "'");
    error.code = "MODULE_NOT_FOUND";
    throw error;
  }
  return resolve.call(this, request, ...rest);
};`;

async function load(entry: string, hide: string[]): Promise<{ ok: boolean; out: string }> {
  const script = `${HIDE}\nrequire(${JSON.stringify(entry)});\nconsole.log(JSON.stringify(Object.keys(require.cache)));`;
  try {
    const { stdout } = await run(process.execPath, ["--require", "tsx/cjs", "-e", script], {
      cwd: ROOT,
      env: { ...process.env, HIDE: hide.join(",") },
      timeout: 20_000,
    });
    return { ok: true, out: stdout };
  } catch (error) {
    return { ok: false, out: String((error as { stderr?: unknown }).stderr) };
  }
}

const FRAMEWORKS = ["@modelcontextprotocol/sdk", "@langchain/core", "@langchain/langgraph", "langchain"];

test("importing decionis loads no agent framework", async () => {
  const { ok, out } = await load("./src/index.ts", []);
  expect(ok).toBe(true);
  const loaded = JSON.parse(out) as string[];
  expect(loaded.length).toBeGreaterThan(10);
  for (const name of FRAMEWORKS) expect(loaded.filter((f) => f.includes(`/node_modules/${name}/`))).toEqual([]);
}, 30_000);

test("decionis/mcp without the MCP SDK fails at import, naming the package to install", async () => {
  const { ok, out } = await load("./src/integrations/mcp/index.ts", ["@modelcontextprotocol/sdk"]);
  expect(ok).toBe(false);
  expect(out).toContain("decionis/mcp needs the MCP TypeScript SDK: npm install @modelcontextprotocol/sdk");
}, 30_000);

test.each([["@langchain/core"], ["@langchain/langgraph"]])(
  "decionis/langchain without %s fails at import, naming the packages to install",
  async (missing) => {
    const { ok, out } = await load("./src/integrations/langchain/index.ts", [missing]);
    expect(ok).toBe(false);
    expect(out).toContain(`decionis/langchain needs ${missing}: npm install @langchain/core @langchain/langgraph`);
  },
  30_000,
);

test("decionis/langchain without langchain (a LangGraph-only app) loads: createAgent's middleware needs its types only", async () => {
  const { ok, out } = await load("./src/integrations/langchain/index.ts", ["langchain"]);
  expect(ok).toBe(true);
  expect(JSON.parse(out)).toContain(join(ROOT, "src", "integrations", "langchain", "index.ts"));
}, 30_000);
