/**
 * "Not installed", made real for the optional-peer tests: a child Node whose
 * module resolver and loader refuse the packages named in `hide`, as in a
 * project that never installed them (or whose native binary does not load).
 * The refusal also covers a package's files loaded by absolute path (the
 * verifier worker is handed sodium-native's resolved path). The ESM branch
 * (which has no `require`) runs on a copy of src/ marked `"type": "module"`.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const exec = promisify(execFile);

const HIDE_SCRIPT = `const Module = require("node:module");
const hidden = (process.env.HIDE_PACKAGES || "").split(",").filter(Boolean);
const refuse = (request) => {
  const r = String(request);
  if (hidden.some((p) => r === p || r.startsWith(p + "/") || r.replace(/\\\\/g, "/").includes("/node_modules/" + p + "/"))) {
    const error = new Error("Cannot find module '" + r + "'");
    error.code = "MODULE_NOT_FOUND";
    throw error;
  }
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) { refuse(request); return resolve.call(this, request, ...rest); };
const load = Module._load;
Module._load = function (request, ...rest) { refuse(request); return load.call(this, request, ...rest); };
`;

/** What a child run printed, and whether it exited 0. */
export interface ChildRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs TypeScript in a child Node (through tsx) with some packages hidden. */
export interface PeerSandbox {
  /** Never rejects on a non-zero exit: `ok` says how it ended. */
  run(code: string, options?: { hide?: readonly string[]; esm?: boolean }): Promise<ChildRun>;
}

/** Sets the sandbox up under `.tmp/<name>` for the calling test file (beforeAll) and removes it (afterAll). */
export function usePeerSandbox(name: string): PeerSandbox {
  const scratch = join(ROOT, ".tmp", name);
  const hide = join(scratch, "hide-packages.cjs");
  const esmCopy = join(scratch, "esm");
  beforeAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    writeFileSync(hide, HIDE_SCRIPT);
    cpSync(join(ROOT, "src"), join(esmCopy, "src"), { recursive: true });
    writeFileSync(join(esmCopy, "package.json"), JSON.stringify({ type: "module" }));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });
  return {
    async run(code, options = {}) {
      const args = options.esm
        ? ["--require", hide, "--import", "tsx", "--input-type=module", "-e", code]
        : ["--require", hide, "--require", "tsx/cjs", "-e", code];
      try {
        const { stdout, stderr } = await exec(process.execPath, args, {
          cwd: options.esm ? esmCopy : ROOT,
          env: { ...process.env, HIDE_PACKAGES: (options.hide ?? []).join(",") },
          timeout: 30_000,
        });
        return { ok: true, stdout, stderr };
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string };
        return { ok: false, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
      }
    },
  };
}

/** The last line a child that exited 0 printed, parsed as JSON (the probes print one object last). */
export function lastJsonLine(run: ChildRun): Record<string, unknown> {
  if (!run.ok) throw new Error(`child failed: ${run.stdout}${run.stderr}`);
  const line = run.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`child printed no JSON last: ${run.stdout}${run.stderr}`);
  }
}
