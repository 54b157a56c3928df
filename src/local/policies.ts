/**
 * The policies file: its format as a zod schema (the one source of truth for
 * both validation and the TypeScript types) and the loader that turns a bad
 * file into an error naming the file, the field and the reason.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { REASON_CODE_PATTERN } from "../gateway/wire.js";
import { LocalAuthorityError } from "./errors.js";

/** What a rule or a policy can decide, least restrictive first. */
export const OUTCOMES = ["ALLOW", "REVIEW_REQUIRED", "ESCALATE", "BLOCK"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Where a condition's `path` may start: the intent's data a policy can see. */
export const PATH_ROOTS = ["parameters", "context", "actor", "action", "downstream_target"] as const;

const FORBIDDEN_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);

const text = (max: number) => z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);

const conditionPath = z
  .string()
  .regex(
    new RegExp(`^(${PATH_ROOTS.join("|")})(\\.[^.\\s]+)*$`),
    `must be a dotted path starting with ${PATH_ROOTS.join(", ")} (e.g. "parameters.order.qty", "context.items.0")`,
  )
  .refine(
    (p) => !p.split(".").some((s) => FORBIDDEN_SEGMENTS.has(s)),
    "must not name __proto__, constructor or prototype",
  );

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()], "must be a string, number, boolean or null");

const regexSource = z
  .string()
  .max(1000)
  .refine((source) => {
    try {
      new RegExp(source, "u");
      return true;
    } catch {
      return false;
    }
  }, "is not a valid regular expression (JavaScript syntax, u flag)");

const leaf = <O extends readonly [string, ...string[]], V extends z.ZodType>(operators: O, value: V) =>
  z.strictObject({ path: conditionPath, operator: z.enum(operators), value });

/** A test on one value of the intent. */
export type LeafCondition = z.infer<typeof leafSchema>;
const leafSchema = z.discriminatedUnion("operator", [
  leaf(["equal", "notEqual"], scalar),
  leaf(["in", "notIn"], z.array(scalar).min(1).max(1000)),
  leaf(["lessThan", "lessThanInclusive", "greaterThan", "greaterThanInclusive"], z.number()),
  leaf(["contains", "doesNotContain"], scalar),
  leaf(["matches"], regexSource),
  leaf(["exists"], z.boolean()),
]);

/** A condition: a test, or `all` / `any` / `not` of conditions. */
export type Condition = LeafCondition | { all: Condition[] } | { any: Condition[] } | { not: Condition };
const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    leafSchema,
    z.strictObject({ all: z.array(conditionSchema).min(1).max(200) }),
    z.strictObject({ any: z.array(conditionSchema).min(1).max(200) }),
    z.strictObject({ not: conditionSchema }),
  ]),
);

const oneOrMany = z.union([text(500), z.array(text(500)).min(1).max(200)], "must be a string or a list of strings");

const verdictFields = {
  outcome: z.enum(OUTCOMES),
  reason_codes: z
    .array(
      z
        .string()
        .max(120)
        .regex(REASON_CODE_PATTERN, "must start with A-Z and hold only A-Z, 0-9, _, : and - (e.g. NOTIONAL_LIMIT)"),
    )
    .min(1, "must name at least one reason code")
    .max(20),
  explanation: text(2000),
};

const ruleSchema = z.strictObject({
  /** Named in the decision's evaluation trace and the dossier. */
  id: text(200),
  description: z.string().max(2000).optional(),
  /** Each given field must match (a list means any of its values); an absent field matches anything. */
  match: z
    .strictObject({
      action: oneOrMany.optional(),
      actor_id: oneOrMany.optional(),
      actor_type: oneOrMany.optional(),
      resource: oneOrMany.optional(),
    })
    .optional(),
  conditions: conditionSchema.optional(),
  ...verdictFields,
});
export type PolicyRule = z.infer<typeof ruleSchema>;

const policySchema = z.strictObject({
  /** What intents name in `policy_refs`. */
  id: text(200),
  version: z.union([text(50), z.number().int().nonnegative()], "must be a string or a whole number"),
  description: z.string().max(2000).optional(),
  /** Tried in order; the first that matches decides. */
  rules: z.array(ruleSchema).max(1000),
  /** When no rule matches. */
  default: z.strictObject(verdictFields),
});
export type Policy = z.infer<typeof policySchema>;

/** The policies file. */
export const policiesFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    /** Evaluated for intents whose `policy_refs` is empty; without it such intents are blocked. */
    default_policy_refs: z.array(text(200)).max(50).optional(),
    policies: z.array(policySchema).min(1, "must hold at least one policy"),
  })
  .superRefine((file, ctx) => {
    const ids = new Set<string>();
    file.policies.forEach((policy, i) => {
      if (ids.has(policy.id))
        ctx.addIssue({ code: "custom", path: ["policies", i, "id"], message: `"${policy.id}" is used twice` });
      ids.add(policy.id);
      const rules = new Set<string>();
      policy.rules.forEach((rule, j) => {
        if (rules.has(rule.id))
          ctx.addIssue({
            code: "custom",
            path: ["policies", i, "rules", j, "id"],
            message: `"${rule.id}" is used twice in policy "${policy.id}"`,
          });
        rules.add(rule.id);
      });
    });
    file.default_policy_refs?.forEach((ref, i) => {
      if (!ids.has(ref))
        ctx.addIssue({ code: "custom", path: ["default_policy_refs", i], message: `no policy has the id "${ref}"` });
    });
  });
export type PoliciesFile = z.infer<typeof policiesFileSchema>;

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

/**
 * The issue to report: inside a union (a condition can take several shapes),
 * the branch that got furthest is the one the author meant.
 */
function deepestIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const best = issue.errors
      .map((branch) => branch.map(deepestIssue))
      .filter((branch) => branch.length > 0)
      .map((branch) => branch.reduce((a, b) => (b.path.length > a.path.length ? b : a)))
      .reduce<{ path: PropertyKey[]; message: string } | undefined>(
        (a, b) => (a === undefined || b.path.length > a.path.length ? b : a),
        undefined,
      );
    if (best !== undefined && best.path.length > 0)
      return { path: [...issue.path, ...best.path], message: best.message };
  }
  return { path: [...issue.path], message: issue.message };
}

/**
 * Validates policies from a file path or an object already parsed.
 *
 * @throws {@link LocalAuthorityError} `POLICIES_INVALID` naming the file, the field and the reason.
 */
export function loadPolicies(source: unknown): PoliciesFile {
  const where = typeof source === "string" ? `policies file ${source}` : "policies object";
  let value: unknown = source;
  if (typeof source === "string") {
    let raw: string;
    try {
      raw = readFileSync(source, "utf8");
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
      throw new LocalAuthorityError("POLICIES_INVALID", `Cannot read the ${where}: ${reason}`, { file: source });
    }
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new LocalAuthorityError("POLICIES_INVALID", `The ${where} is not valid JSON: ${(error as Error).message}`, {
        file: source,
      });
    }
  }
  const parsed = policiesFileSchema.safeParse(value);
  if (!parsed.success) {
    const { path, message } = deepestIssue(parsed.error.issues[0]!);
    const field = pathText(path) || "(top level)";
    throw new LocalAuthorityError("POLICIES_INVALID", `Invalid ${where}: ${field}: ${message}`, {
      ...(typeof source === "string" ? { file: source } : {}),
      field,
      issues: parsed.error.issues.length,
    });
  }
  return parsed.data;
}
