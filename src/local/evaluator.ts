/**
 * Policy evaluation on json-rules-engine: each rule of a policy becomes one
 * engine rule whose conditions are the rule's `match` fields and its
 * `conditions`; the first rule (in file order) whose conditions hold decides,
 * else the policy's default. Several policies: the most restrictive outcome
 * wins and reason codes are merged.
 *
 * No condition runs code: paths are resolved by a plain own-property walk
 * (never JSONPath), operators are a closed list, and regular expressions are
 * compiled once from the policies file.
 */
import { Engine, Operator, type RuleProperties, type TopLevelCondition } from "json-rules-engine";
import type { WireEnforceRequest } from "../gateway/wire.js";
import type { Condition, LeafCondition, Outcome, PoliciesFile, Policy, PolicyRule } from "./policies.js";

type NestedCondition = Extract<TopLevelCondition, { all: unknown }>["all"][number];

/** What one policy decided about one intent. */
export interface PolicyVerdict {
  policy: string;
  /** `null` when the policy is not loaded. */
  version: string | null;
  /** The rule that matched; `null` for the policy's default or a missing policy. */
  rule: string | null;
  outcome: Outcome | "ERROR";
  reason_codes: string[];
  explanation: string;
  /**
   * What the deciding rule compared: each test with the intent's value it
   * read (`actual`, shortened past 200 characters; absent when the intent has
   * no such value). Empty for a default outcome.
   */
  checks?: PolicyCheck[];
}

/** One test of a rule and the value it read from the intent. */
export interface PolicyCheck {
  path: string;
  operator: string;
  value: unknown;
  actual?: unknown;
}

const MAX_CHECKS = 20;
const MAX_SHOWN = 200;

/** The intent's value as the dossier shows it: as is when small, else its first characters of JSON. */
function shown(value: unknown): unknown {
  if (value === undefined) return undefined;
  const json = JSON.stringify(value);
  return json.length <= MAX_SHOWN ? value : `${json.slice(0, MAX_SHOWN)}… (${json.length} characters)`;
}

function leaves(condition: Condition | undefined, out: LeafCondition[]): LeafCondition[] {
  if (condition === undefined) return out;
  if ("all" in condition) for (const c of condition.all) leaves(c, out);
  else if ("any" in condition) for (const c of condition.any) leaves(c, out);
  else if ("not" in condition) leaves(condition.not, out);
  else out.push(condition);
  return out;
}

/** The tests of `rule` with the values they read from `facts`. */
function checksOf(rule: PolicyRule, facts: Record<string, unknown>): PolicyCheck[] {
  const tests: { path: string; operator: string; value: unknown }[] = [];
  const match = rule.match;
  const fields = [
    ["action.type", match?.action],
    ["action.resource", match?.resource],
    ["actor.id", match?.actor_id],
    ["actor.type", match?.actor_type],
  ] as const;
  for (const [path, value] of fields) if (value !== undefined) tests.push({ path, operator: "in", value });
  tests.push(...leaves(rule.conditions, []));
  return tests.slice(0, MAX_CHECKS).map((t) => {
    const actual = shown(resolvePath(facts, t.path));
    return { path: t.path, operator: t.operator, value: t.value, ...(actual === undefined ? {} : { actual }) };
  });
}

/** The combined verdict over all referenced policies. */
export interface Verdict {
  status: Outcome | "ERROR";
  reason_codes: string[];
  explanation: string;
  policy_version: string | null;
  trace: PolicyVerdict[];
}

const SEVERITY: Record<Outcome | "ERROR", number> = { ALLOW: 0, REVIEW_REQUIRED: 1, ESCALATE: 2, BLOCK: 3, ERROR: 4 };
const MAX_REASON_CODES = 50;
const MAX_EXPLANATION = 10_000;
const MAX_POLICY_VERSION = 200;

/** Own properties only: `constructor` or `__proto__` in a path finds nothing. */
function resolvePath(value: object, path: string): unknown {
  let current: unknown = value;
  for (const segment of path.split(".")) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

const regexCache = new Map<string, RegExp>();
function regexOf(source: string): RegExp {
  let regex = regexCache.get(source);
  if (regex === undefined) {
    regex = new RegExp(source, "u");
    regexCache.set(source, regex);
  }
  return regex;
}

const isNumber = (v: unknown): boolean => typeof v === "number";
/**
 * The library's comparisons coerce (`"100" > 5`); a policy limit should not
 * pass because a number arrived as a string, so these compare numbers only.
 */
const OPERATORS: Operator[] = [
  new Operator<number, number>("lessThan", (a, b) => a < b, isNumber),
  new Operator<number, number>("lessThanInclusive", (a, b) => a <= b, isNumber),
  new Operator<number, number>("greaterThan", (a, b) => a > b, isNumber),
  new Operator<number, number>("greaterThanInclusive", (a, b) => a >= b, isNumber),
  new Operator<string, string>(
    "matches",
    (a, b) => regexOf(b).test(a),
    (v) => typeof v === "string",
  ),
  new Operator<unknown, boolean>("exists", (a, b) => (a !== undefined) === b),
] as Operator[];

function toEngineCondition(condition: Condition): NestedCondition {
  if ("all" in condition) return { all: condition.all.map(toEngineCondition) };
  if ("any" in condition) return { any: condition.any.map(toEngineCondition) };
  if ("not" in condition) return { not: toEngineCondition(condition.not) };
  const dot = condition.path.indexOf(".");
  const fact = dot < 0 ? condition.path : condition.path.slice(0, dot);
  return {
    fact,
    operator: condition.operator,
    // A value shaped `{ fact }` would be read as a fact reference; policy values are scalars or lists.
    value: condition.value,
    ...(dot < 0 ? {} : { path: condition.path.slice(dot + 1) }),
  };
}

function matchCondition(fact: string, path: string, value: string | string[] | undefined): NestedCondition[] {
  if (value === undefined) return [];
  return [{ fact, path, operator: "in", value: typeof value === "string" ? [value] : value }];
}

function toEngineRule(rule: PolicyRule, index: number): RuleProperties {
  const all: NestedCondition[] = [
    ...matchCondition("action", "type", rule.match?.action),
    ...matchCondition("action", "resource", rule.match?.resource),
    ...matchCondition("actor", "id", rule.match?.actor_id),
    ...matchCondition("actor", "type", rule.match?.actor_type),
    ...(rule.conditions === undefined ? [] : [toEngineCondition(rule.conditions)]),
  ];
  return { name: String(index), conditions: { all }, event: { type: rule.outcome } };
}

interface CompiledPolicy {
  policy: Policy;
  version: string;
  rules: RuleProperties[];
}

/** Decides intents against a loaded policies file. */
export class Evaluator {
  readonly #policies = new Map<string, CompiledPolicy>();
  readonly #defaultRefs: readonly string[];

  constructor(file: PoliciesFile) {
    for (const policy of file.policies)
      this.#policies.set(policy.id, {
        policy,
        version: String(policy.version),
        rules: policy.rules.map(toEngineRule),
      });
    this.#defaultRefs = file.default_policy_refs ?? [];
  }

  /** Number of policies loaded. */
  get size(): number {
    return this.#policies.size;
  }

  async evaluate(request: WireEnforceRequest): Promise<Verdict> {
    const refs = request.policy_refs.length > 0 ? [...new Set(request.policy_refs)] : this.#defaultRefs;
    if (refs.length === 0)
      return combine([
        refusal(
          "(none)",
          "NO_POLICY_REFS",
          "The intent names no policy and the policies file sets no default_policy_refs: name a policy in the gate",
        ),
      ]);
    const facts = {
      parameters: request.action.parameters,
      context: request.context,
      action: { type: request.action.type, resource: request.action.resource },
      actor: request.actor,
      downstream_target: request.downstream_target,
    };
    return combine(await Promise.all(refs.map((ref) => this.#evaluateOne(ref, facts))));
  }

  async #evaluateOne(ref: string, facts: Record<string, unknown>): Promise<PolicyVerdict> {
    const compiled = this.#policies.get(ref);
    if (compiled === undefined) return refusal(ref, "POLICY_NOT_FOUND", `No policy "${ref}" is loaded`);
    const { policy, version } = compiled;
    try {
      // An engine per run: a json-rules-engine Engine keeps run state and is not safe to share between concurrent runs.
      const engine = new Engine(compiled.rules, { allowUndefinedFacts: false, pathResolver: resolvePath });
      for (const op of OPERATORS) engine.addOperator(op);
      const { results } = await engine.run(facts);
      const first = results.map((r) => Number(r.name)).reduce((a, b) => Math.min(a, b), Infinity);
      const rule = Number.isFinite(first) ? policy.rules[first]! : undefined;
      const chosen = rule ?? policy.default;
      return {
        policy: policy.id,
        version,
        rule: rule?.id ?? null,
        outcome: chosen.outcome,
        reason_codes: [...chosen.reason_codes],
        explanation: chosen.explanation,
        checks: rule === undefined ? [] : checksOf(rule, facts),
      };
    } catch (error) {
      return {
        policy: policy.id,
        version,
        rule: null,
        outcome: "ERROR",
        reason_codes: ["POLICY_EVALUATION_FAILED"],
        explanation: `Policy "${policy.id}" could not be evaluated: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }
}

/** A BLOCK decided without a loaded policy's rules: a missing policy, no policy, an expired intent. */
export function refusal(policy: string, reasonCode: string, explanation: string): PolicyVerdict {
  return { policy, version: null, rule: null, outcome: "BLOCK", reason_codes: [reasonCode], explanation };
}

/** Most restrictive outcome wins; reason codes are merged, the winner's first. */
export function combine(verdicts: PolicyVerdict[]): Verdict {
  const ranked = [...verdicts].sort((a, b) => SEVERITY[b.outcome] - SEVERITY[a.outcome]);
  const status = ranked[0]!.outcome;
  const reasonCodes = [...new Set(ranked.flatMap((v) => v.reason_codes))].slice(0, MAX_REASON_CODES);
  const winners = ranked.filter((v) => v.outcome === status);
  const explanation =
    verdicts.length === 1 ? winners[0]!.explanation : winners.map((v) => `${v.policy}: ${v.explanation}`).join("; ");
  const versions = verdicts.filter((v) => v.version !== null).map((v) => `${v.policy}@${v.version!}`);
  return {
    status,
    reason_codes: reasonCodes,
    explanation: explanation.slice(0, MAX_EXPLANATION),
    policy_version: versions.length === 0 ? null : versions.join(",").slice(0, MAX_POLICY_VERSION),
    trace: verdicts,
  };
}
