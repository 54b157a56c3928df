/**
 * `decionis/ai` against the AI SDK v6 (`ai6`: npm:ai@6), driven by its own
 * MockLanguageModelV3. The scenarios are shared with the v7 run (node22/ai-v7.ts).
 */
import { generateText, jsonSchema } from "ai6";
import { MockLanguageModelV3 } from "ai6/test";
import { aiScenarios, startEnv } from "./ai-scenarios";

let env: Awaited<ReturnType<typeof startEnv>>;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env.stop();
});

const scenarios = aiScenarios(
  { major: 6, generateText, jsonSchema, MockLanguageModel: MockLanguageModelV3 },
  () => env,
);
for (const [name, scenario] of Object.entries(scenarios)) test(`ai v6: ${name}`, scenario, 15_000);
