/**
 * examples/agents/ai.ts run as a user runs it, under Node 22 (ai 7 asks for
 * it): `node --import tsx --test test/integrations/node22/agent-examples.ts`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const ROOT = join(__dirname, "..", "..", "..");
const run = promisify(execFile);

void test(
  "npx tsx examples/agents/ai.ts: allowed, denied with the reason, paused and approved",
  { timeout: 30_000 },
  async () => {
    const { stdout } = await run(process.execPath, [require.resolve("tsx/cli"), "examples/agents/ai.ts"], {
      cwd: ROOT,
      timeout: 30_000,
    });
    assert.match(stdout, /payments API: refunded 40 on A-1001/);
    assert.match(stdout, /paused: {2}call_2: Waiting for a person: .*escalation esc_\w+.*\/dossiers\/dos_/);
    assert.match(stdout, /the model read: Not done: Decionis blocked .*REFUND_LIMIT_EXCEEDED/);
    assert.match(stdout, /a risk officer approved esc_\w+\npayments API: refunded 250 on A-1002/);
    assert.doesNotMatch(stdout, /refunded 5000/);
    assert.match(stdout, /model: {3}Done\./);
  },
);
