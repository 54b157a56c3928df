/**
 * The agent frameworks are optional peers: importing `decionis` loads none of
 * them, and importing an adapter whose framework is not installed fails at
 * once with a message that names the package to install. "Not installed" is
 * made real in a child process: a preloaded script makes Node's resolver
 * refuse the package, as it would in a project that never installed it. The
 * ESM branch (which has no `require`) runs on a copy of src/ marked
 * `"type": "module"`.
 */
import { usePeerSandbox } from "../helpers/peer-sandbox.js";

const sandbox = usePeerSandbox("peers-test");

/** Runs `code` in a child Node (TypeScript through tsx); resolves with its output whatever the exit code. */
async function child(code: string, options: { hide?: string[]; esm?: boolean } = {}) {
  const { ok, stdout, stderr } = await sandbox.run(code, options);
  return { ok, out: stdout + stderr };
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
