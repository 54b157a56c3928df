/**
 * `npm run demo` and every example, run as a user runs them (child processes,
 * offline, each with its own local authority), and their output checked.
 */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const TSX = require.resolve("tsx/cli");
const run = promisify(execFile);

test("npm run demo: the small order executes, the oversized one is blocked with its record, the large one escalates, and an approved one runs after the approval", async () => {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const { stdout } = await run(npm, ["run", "--silent", "demo"], { cwd: ROOT, timeout: 20_000 });
  const url = /local authority at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
  expect(url).toBeDefined();
  const [small, oversized, large, approved] = stdout.split(/\n(?=\d\. )/).slice(1);
  expect(small).toMatch(/Small order: BUY 1,000 EURUSD[\s\S]*ALLOW {2}executed by the broker: fill_1/);
  expect(oversized).toMatch(/BLOCK {2}NOTIONAL_LIMIT_EXCEEDED/);
  expect(oversized).toMatch(/why: +Notional above the 1,000,000 hard limit/);
  expect(oversized).toMatch(/decision: +dec_[0-9A-Z]{26}/);
  expect(oversized).toContain(`dossier:    ${url!}/dossiers/dos_`);
  expect(large).toMatch(/ESCALATE {2}LARGE_NOTIONAL_REQUIRES_APPROVAL/);
  expect(large).toMatch(/escalation: esc_[0-9A-Z]{26}/);
  expect(approved).toMatch(
    /a risk officer approved esc_[0-9A-Z]{26}; nothing ran until then\n {3}ALLOW {2}executed by the broker: fill_2/,
  );
  expect(stdout).toContain("The broker executed 2 of 4 orders");
  expect(stdout.split("\n").length).toBeLessThan(30);
  // Not a terminal (CI, a pipe): it exits by itself and says the links end with it.
  expect(stdout).toContain("the dossier links above end with it");
}, 25_000);

test("npm run demo in a terminal keeps its dossier links live until Ctrl-C", async () => {
  // util-linux `script` gives the demo a pseudo-terminal, as a person's shell would. The
  // command is the one `npm run demo` runs: one process with tsx as a loader. (The tsx CLI
  // runs a second process and gives it 30 ms to acknowledge a relayed SIGINT; on a loaded
  // machine it then kills it and exits 130.) `script` runs the command through $SHELL -c;
  // dash (Debian's /bin/sh, used when SHELL is unset) does not exec a lone command, so Ctrl-C
  // would kill dash itself and `script` would report 130: `exec` leaves only the demo.
  const child = spawn("script", ["-qfec", `exec ${process.execPath} --import tsx examples/demo.ts`, "/dev/null"], {
    cwd: ROOT,
    env: { ...process.env, SHELL: "/bin/sh" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes("until you press Ctrl-C") && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(out).toContain("until you press Ctrl-C");
    // After the run, a dossier link it printed still answers.
    const link = /dossier: +(http:\/\/127\.0\.0\.1:\d+\/dossiers\/dos_[0-9A-Z]+)/.exec(out)?.[1];
    expect(link).toBeDefined();
    expect((await fetch(link!)).status).toBe(200);
    child.stdin.write("\x03"); // Ctrl-C at the terminal
    expect(await exited).toBe(0);
  } finally {
    child.kill("SIGKILL");
  }
}, 30_000);

test.each([
  ["agent-tool", [/tool result: Refunded 40/, /REVIEW_REQUIRED: REFUND_NEEDS_REVIEW/, /BLOCK: REFUND_LIMIT_EXCEEDED/]],
  ["billing-service", [/gated methods: cancel, charge/, /cancelled sub_1/, /sub_2 not cancelled: BLOCK OPEN_INVOICES/]],
  [
    "low-level",
    [/enforce: ALLOW TOOL_ALLOWED/, /enforce\+execute: sent to ben/, /execute refused: ESCALATE, escalation esc_/],
  ],
])(
  "examples/%s.ts runs against its own local authority",
  async (name, expected) => {
    const { stdout } = await run(process.execPath, [TSX, join("examples", `${name}.ts`)], {
      cwd: ROOT,
      timeout: 15_000,
    });
    for (const pattern of expected) expect(stdout).toMatch(pattern);
  },
  20_000,
);

test.each([
  ["express", []],
  ["fastify", []],
  // Nest needs legacy decorators.
  ["nestjs", ["--tsconfig", "tsconfig.legacy.json"]],
])(
  "examples/frameworks/%s.ts serves a gated route: 201 on ALLOW, 202 for review, 403 for a block as problem+json",
  async (name, flags) => {
    const { stdout } = await run(process.execPath, [TSX, ...flags, join("examples", "frameworks", `${name}.ts`)], {
      cwd: ROOT,
      timeout: 20_000,
    });
    expect(stdout).toMatch(/ 40: 201 application\/json/);
    expect(stdout).toMatch(/ 200: 202 application\/problem\+json.*"reason_codes":\["REFUND_NEEDS_REVIEW"\]/);
    expect(stdout).toMatch(/ 900: 403 application\/problem\+json.*"decision_status":"BLOCK"/);
  },
  25_000,
);
