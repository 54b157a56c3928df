/**
 * examples/agents/mcp.ts and examples/agents/langchain.ts, run as a user runs
 * them (child processes, offline, each with its own local authority).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const TSX = require.resolve("tsx/cli");
const run = promisify(execFile);

test.each([
  [
    "mcp",
    [
      /^tool result: Refunded 40 on order A-1001$/m,
      /^tool error: Tool "issue_refund" did not run: Decionis blocked it \(BLOCK\) \[REFUND_LIMIT_EXCEEDED\]/m,
      /^host: asked to open http:\/\/127\.0\.0\.1:\d+\/dossiers\/dos_\w+\nhost: the supervisor approved esc_\w+\ntool result: Refunded 250 on order A-1002$/m,
    ],
  ],
  [
    "langchain",
    [
      /^run paused: issue_refund \{"orderId":"A-1002","amount":250\} needs approval \(REVIEW_REQUIRED\)$/m,
      /^call_1 success: Refunded 40 on order A-1001$/m,
      /^call_2 error: Tool "issue_refund" did not run: Decionis blocked it \(BLOCK\) \[REFUND_LIMIT_EXCEEDED\]/m,
      /^call_3 success: Refunded 250 on order A-1002$/m,
      /^model: All three refunds handled\.$/m,
    ],
  ],
])(
  "examples/agents/%s.ts runs offline against its own local authority",
  async (name, expected) => {
    const { stdout } = await run(process.execPath, [TSX, join("examples", "agents", `${name}.ts`)], {
      cwd: ROOT,
      timeout: 40_000,
    });
    for (const pattern of expected) expect(stdout).toMatch(pattern);
  },
  45_000,
);
