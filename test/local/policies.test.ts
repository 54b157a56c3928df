/**
 * The policies file: every condition operator, rule order, `match` fields,
 * and a bad file refused at start with the file, the field and the reason.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WireEnforceRequest } from "../../src/gateway/wire.js";
import { Evaluator } from "../../src/local/evaluator.js";
import { loadPolicies, startLocalAuthority, type Condition, type PoliciesFile } from "../../src/local/index.js";

const request = (over: { parameters?: object; context?: object; actor?: object; action?: object } = {}) =>
  ({
    policy_refs: ["p"],
    actor: { id: "bot_7", type: "TRADING_BOT", ...over.actor },
    action: { type: "OPEN_POSITION", resource: "EURUSD", parameters: over.parameters ?? {}, ...over.action },
    context: over.context ?? {},
    downstream_target: { system: "broker", operation: "open" },
  }) as unknown as WireEnforceRequest;

/** ALLOW when `conditions` hold, else BLOCK. */
async function holds(conditions: Condition, data: Parameters<typeof request>[0]): Promise<boolean> {
  const evaluator = new Evaluator(
    loadPolicies({
      policies: [
        {
          id: "p",
          version: 1,
          rules: [{ id: "r", conditions, outcome: "ALLOW", reason_codes: ["HELD"], explanation: "held" }],
          default: { outcome: "BLOCK", reason_codes: ["NOT_HELD"], explanation: "not held" },
        },
      ],
    }),
  );
  return (await evaluator.evaluate(request(data))).status === "ALLOW";
}

describe("conditions", () => {
  test.each<[string, Condition, Parameters<typeof request>[0], boolean]>([
    ["equal", { path: "parameters.side", operator: "equal", value: "buy" }, { parameters: { side: "buy" } }, true],
    ["equal is strict", { path: "parameters.qty", operator: "equal", value: 1 }, { parameters: { qty: "1" } }, false],
    ["notEqual", { path: "context.env", operator: "notEqual", value: "prod" }, { context: { env: "dev" } }, true],
    [
      "in",
      { path: "parameters.symbol", operator: "in", value: ["EURUSD", "GBPUSD"] },
      { parameters: { symbol: "GBPUSD" } },
      true,
    ],
    [
      "notIn",
      { path: "parameters.symbol", operator: "notIn", value: ["BTCUSD"] },
      { parameters: { symbol: "BTCUSD" } },
      false,
    ],
    [
      "greaterThan",
      { path: "context.notional", operator: "greaterThan", value: 100 },
      { context: { notional: 101 } },
      true,
    ],
    [
      "greaterThan on a numeric string",
      { path: "context.notional", operator: "greaterThan", value: 100 },
      { context: { notional: "101" } },
      false,
    ],
    [
      "greaterThanInclusive",
      { path: "context.n", operator: "greaterThanInclusive", value: 5 },
      { context: { n: 5 } },
      true,
    ],
    ["lessThan", { path: "context.n", operator: "lessThan", value: 5 }, { context: { n: 5 } }, false],
    ["lessThanInclusive", { path: "context.n", operator: "lessThanInclusive", value: 5 }, { context: { n: 5 } }, true],
    [
      "matches",
      { path: "parameters.email", operator: "matches", value: "@example\\.com$" },
      { parameters: { email: "a@example.com" } },
      true,
    ],
    [
      "matches a number never",
      { path: "parameters.n", operator: "matches", value: "1" },
      { parameters: { n: 1 } },
      false,
    ],
    ["exists", { path: "context.kyc", operator: "exists", value: true }, { context: { kyc: null } }, true],
    ["exists false", { path: "context.kyc", operator: "exists", value: false }, { context: {} }, true],
    ["contains", { path: "context.tags", operator: "contains", value: "vip" }, { context: { tags: ["vip"] } }, true],
    [
      "doesNotContain",
      { path: "context.tags", operator: "doesNotContain", value: "vip" },
      { context: { tags: ["x"] } },
      true,
    ],
    [
      "array index in a path",
      { path: "parameters.legs.1.qty", operator: "equal", value: 2 },
      { parameters: { legs: [{ qty: 1 }, { qty: 2 }] } },
      true,
    ],
    ["actor and action paths", { path: "actor.id", operator: "equal", value: "bot_7" }, {}, true],
    [
      "inherited properties are not found",
      { path: "context.toString", operator: "exists", value: true },
      { context: {} },
      false,
    ],
    [
      "all",
      {
        all: [
          { path: "context.a", operator: "equal", value: 1 },
          { path: "context.b", operator: "equal", value: 2 },
        ],
      },
      { context: { a: 1, b: 3 } },
      false,
    ],
    [
      "any",
      {
        any: [
          { path: "context.a", operator: "equal", value: 1 },
          { path: "context.b", operator: "equal", value: 2 },
        ],
      },
      { context: { a: 1, b: 3 } },
      true,
    ],
    ["not", { not: { path: "context.a", operator: "equal", value: 1 } }, { context: { a: 1 } }, false],
  ])("%s", async (_name, condition, data, expected) => {
    expect(await holds(condition, data)).toBe(expected);
  });
});

describe("rules", () => {
  const file: PoliciesFile = {
    policies: [
      {
        id: "p",
        version: "v2",
        rules: [
          {
            id: "ops-team",
            match: { actor_id: ["ops-1", "ops-2"], resource: "EURUSD" },
            outcome: "ALLOW",
            reason_codes: ["OPS"],
            explanation: "ops",
          },
          {
            id: "bots-block",
            match: { actor_type: "TRADING_BOT", action: "CLOSE_ALL" },
            outcome: "BLOCK",
            reason_codes: ["NO_CLOSE_ALL"],
            explanation: "no",
          },
          { id: "first", outcome: "ESCALATE", reason_codes: ["FIRST"], explanation: "first" },
          { id: "second", outcome: "ALLOW", reason_codes: ["SECOND"], explanation: "second" },
        ],
        default: { outcome: "BLOCK", reason_codes: ["DEFAULT"], explanation: "default" },
      },
      {
        id: "empty",
        version: 1,
        rules: [],
        default: { outcome: "REVIEW_REQUIRED", reason_codes: ["DEFAULT_REVIEW"], explanation: "review" },
      },
    ],
  };
  const evaluator = new Evaluator(file);

  test("match fields; the first rule that matches decides, in file order", async () => {
    const ops = await evaluator.evaluate(request({ actor: { id: "ops-2", type: "PERSON" } }));
    expect(ops).toMatchObject({ status: "ALLOW", reason_codes: ["OPS"], policy_version: "p@v2" });
    expect(ops.trace).toEqual([
      {
        policy: "p",
        version: "v2",
        rule: "ops-team",
        outcome: "ALLOW",
        reason_codes: ["OPS"],
        explanation: "ops",
        // What the rule compared, with the intent's values, for the dossier.
        checks: [
          { path: "action.resource", operator: "in", value: "EURUSD", actual: "EURUSD" },
          { path: "actor.id", operator: "in", value: ["ops-1", "ops-2"], actual: "ops-2" },
        ],
      },
    ]);
    const close = await evaluator.evaluate(request({ action: { type: "CLOSE_ALL" } }));
    expect(close.reason_codes).toEqual(["NO_CLOSE_ALL"]);
    const other = await evaluator.evaluate(request({ action: { resource: "GBPUSD" } }));
    expect(other).toMatchObject({ status: "ESCALATE", reason_codes: ["FIRST"] });
  });

  test("no rule: the policy's default", async () => {
    const r = { ...request(), policy_refs: ["empty"] };
    expect(await evaluator.evaluate(r)).toMatchObject({ status: "REVIEW_REQUIRED", reason_codes: ["DEFAULT_REVIEW"] });
  });
});

describe("a bad policies file", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "decionis-policies-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const valid = {
    policies: [
      {
        id: "p",
        version: 1,
        rules: [{ id: "r", outcome: "ALLOW", reason_codes: ["OK"], explanation: "ok" }],
        default: { outcome: "BLOCK", reason_codes: ["NO"], explanation: "no" },
      },
    ],
  };
  const edit = (fn: (f: any) => void) => {
    const copy = structuredClone(valid) as any;
    fn(copy);
    return JSON.stringify(copy);
  };

  test.each([
    ["missing", undefined, /Cannot read the policies file .*missing\.json: no such file/],
    ["not JSON", "{ policies: [", /policies file .*not JSON\.json is not valid JSON/],
    [
      "an unknown outcome",
      edit((f) => (f.policies[0].rules[0].outcome = "MAYBE")),
      /policies\[0\]\.rules\[0\]\.outcome: /,
    ],
    [
      "a bad reason code",
      edit((f) => (f.policies[0].default.reason_codes = ["lower"])),
      /policies\[0\]\.default\.reason_codes\[0\]: must start with A-Z/,
    ],
    [
      "a bad operator deep in a condition",
      edit(
        (f) =>
          (f.policies[0].rules[0].conditions = { any: [{ not: { path: "context.a", operator: "eval", value: 1 } }] }),
      ),
      /policies\[0\]\.rules\[0\]\.conditions\.any\[0\]\.not\.operator: /,
    ],
    [
      "a comparison with a string",
      edit((f) => (f.policies[0].rules[0].conditions = { path: "context.a", operator: "lessThan", value: "9" })),
      /conditions\.value: Invalid input: expected number/,
    ],
    [
      "a path outside the intent",
      edit((f) => (f.policies[0].rules[0].conditions = { path: "process.env", operator: "exists", value: true })),
      /conditions\.path: must be a dotted path starting with parameters/,
    ],
    [
      "a bad regular expression",
      edit((f) => (f.policies[0].rules[0].conditions = { path: "context.a", operator: "matches", value: "(" })),
      /conditions\.value: is not a valid regular expression/,
    ],
    ["two policies with one id", edit((f) => f.policies.push(f.policies[0])), /policies\[1\]\.id: "p" is used twice/],
    [
      "an unknown default ref",
      edit((f) => (f.default_policy_refs = ["q"])),
      /default_policy_refs\[0\]: no policy has the id "q"/,
    ],
    ["an unknown top-level key", edit((f) => (f.rules = [])), /\(top level\): Unrecognized key: "rules"/],
  ])("%s: the start fails with the file and the reason", async (name, content, message) => {
    const file = join(dir, `${name}.json`);
    if (content !== undefined) writeFileSync(file, content);
    const error = await startLocalAuthority({ policies: file }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "LocalAuthorityError", code: "POLICIES_INVALID" });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(file);
  });

  test("a policies object is checked the same way", async () => {
    await expect(startLocalAuthority({ policies: { policies: [] } })).rejects.toMatchObject({
      code: "POLICIES_INVALID",
      message: "Invalid policies object: policies: must hold at least one policy",
    });
  });
});
