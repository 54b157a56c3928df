/**
 * The agent frameworks are optional peers: importing `decionis` loads none of
 * them, and importing an adapter whose framework is not installed fails at
 * once with a message that names the package to install. "Not installed" is
 * made real in a child process: a preloaded script makes Node's resolver
 * refuse the package, as it would in a project that never installed it. The
 * ESM branch (which has no `require`) runs on a copy of src/ marked
 * `"type": "module"`.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const SCRATCH = join(ROOT, ".tmp", "peers-test");
const HIDE = join(SCRATCH, "hide-packages.cjs");
const ESM_COPY = join(SCRATCH, "esm");
const exec = promisify(execFile);

beforeAll(() => {
  rmSync(SCRATCH, { recursive: true, force: true });
  mkdirSync(SCRATCH, { recursive: true });
  // Node's resolver, refusing the packages named in HIDE_PACKAGES as if they were not installed.
  writeFileSync(
    HIDE,
    `const Module = require("node:module");
const hidden = (process.env.HIDE_PACKAGES || "").split(",").filter(Boolean);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.some((p) => request === p || request.startsWith(p + "/"))) {
    const error = new Error("Cannot find module '" + request + "'");
    error.code = "MODULE_NOT_FOUND";
    throw error;
  }
  return resolve.call(this, request, ...rest);
};
`,
  );
  cpSync(join(ROOT, "src"), join(ESM_COPY, "src"), { recursive: true });
  writeFileSync(join(ESM_COPY, "package.json"), JSON.stringify({ type: "module" }));
});
afterAll(() => {
  rmSync(SCRATCH, { recursive: true, force: true });
});

/** Runs `code` in a child Node (TypeScript through tsx); resolves with its output whatever the exit code. */
async function child(code: string, options: { hide?: string[]; esm?: boolean } = {}) {
  const args = options.esm
    ? ["--require", HIDE, "--import", "tsx", "--input-type=module", "-e", code]
    : ["--require", HIDE, "--require", "tsx/cjs", "-e", code];
  try {
    const { stdout, stderr } = await exec(process.execPath, args, {
      cwd: options.esm ? ESM_COPY : ROOT,
      env: { ...process.env, HIDE_PACKAGES: (options.hide ?? []).join(",") },
      timeout: 30_000,
    });
    return { ok: true, out: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

const FRAMEWORK = /node_modules[\\/](ai|ai6|@ai-sdk|@openai)[\\/]/;
const ADAPTERS = [
  { adapter: "decionis/ai", file: "./src/integrations/ai/index.ts", pkg: "ai" },
  { adapter: "decionis/openai-agents", file: "./src/integrations/openai-agents/index.ts", pkg: "@openai/agents" },
];
const HIDDEN = ADAPTERS.map((a) => a.pkg);

/** Loads each adapter in turn, printing one JSON line: what it exports, or the error's name and message. */
const loadEach = (load: string) =>
  `const out = {}; for (const file of ${JSON.stringify(ADAPTERS.map((a) => a.file))}) {
     try { out[file] = typeof (${load}).gateTool; } catch (e) { out[file] = e.name + ": " + e.message; } }
   console.log(JSON.stringify(out));`;
const lastJson = (out: string) => JSON.parse(out.trim().split("\n").pop()!) as Record<string, string>;

test("importing decionis loads no agent framework; nor does importing an adapter (it only resolves its peer)", async () => {
  const run = await child(
    `require("./src/index.ts");
     const before = Object.keys(require.cache).filter((k) => ${FRAMEWORK}.test(k));
     for (const a of ${JSON.stringify(ADAPTERS.map((a) => a.file))}) require(a);
     const after = Object.keys(require.cache).filter((k) => ${FRAMEWORK}.test(k));
     console.log(JSON.stringify({ before, after }));`,
  );
  expect(run).toMatchObject({ ok: true });
  expect(lastJson(run.out)).toEqual({ before: [], after: [] });
}, 30_000);

test.each([
  ["CommonJS", false, "require(file)"],
  ["ESM", true, "await import(file)"],
])(
  "%s: an adapter loads with its framework, and without it fails naming the package to install",
  async (_mode, esm, load) => {
    const code = loadEach(load);
    const [present, absent] = (await Promise.all([child(code, { esm }), child(code, { esm, hide: HIDDEN })])).map((r) =>
      lastJson(r.out),
    );
    for (const { adapter, file, pkg } of ADAPTERS) {
      expect(present![file]).toBe("function");
      expect(absent![file]).toBe(
        `ConfigurationError: ${adapter} needs the package "${pkg}" (${pkg === "ai" ? "^6.0.0 || ^7.0.0" : ">=0.20.0 <1"}), ` +
          `which is not installed. Install it: npm install ${pkg}`,
      );
    }
  },
  30_000,
);
