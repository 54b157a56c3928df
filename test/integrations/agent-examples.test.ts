/**
 * examples/agents/openai-agents.ts run as a user runs it (a child process,
 * offline, its own local authority). The AI SDK example needs Node 22 (ai 7)
 * and runs in node22/agent-examples.ts.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..");
const run = promisify(execFile);

test("npx tsx examples/agents/openai-agents.ts: allowed, blocked by the guardrail, paused and approved", async () => {
  const { stdout } = await run(process.execPath, [require.resolve("tsx/cli"), "examples/agents/openai-agents.ts"], {
    cwd: ROOT,
    timeout: 30_000,
  });
  expect(stdout).toMatch(/payments API: refunded 40 on A-1001/);
  expect(stdout).toMatch(
    /paused: call_2 waits for a person\na risk officer approved esc_\w+\npayments API: refunded 250/,
  );
  expect(stdout).toMatch(/model read \(call_3\): .*REFUND_LIMIT_EXCEEDED.*\/dossiers\/dos_/);
  expect(stdout).not.toMatch(/refunded 5000/);
  expect(stdout).toMatch(/final: Done\./);
}, 35_000);
