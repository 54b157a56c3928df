/**
 * Scripted outcomes for tests (`startLocalAuthority({ decide })`, used by
 * `decionis/testing`): a callback decides before the policies do. Everything
 * after the verdict stays real: the grant is signed, the dossier kept.
 */
import type { WireEnforceRequest } from "../gateway/wire.js";
import { REASON_CODE_PATTERN } from "../gateway/wire.js";
import { combine, Evaluator, type Verdict } from "./evaluator.js";
import { OUTCOMES, type Outcome, type PoliciesFile } from "./policies.js";

/** What a `decide` callback returns: an outcome, or `undefined` to let the policies decide. */
export type ScriptedOutcome =
  Outcome | "ERROR" | { status: Outcome | "ERROR"; reasonCodes?: readonly string[]; explanation?: string } | undefined;

/** The callback of `LocalAuthorityOptions.decide`. */
export type DecideCallback = (request: WireEnforceRequest) => ScriptedOutcome | Promise<ScriptedOutcome>;

const STATUSES = new Set<string>([...OUTCOMES, "ERROR"]);

/** @internal An evaluator that asks the script first. */
export class ScriptedEvaluator extends Evaluator {
  readonly #decide: DecideCallback;

  constructor(file: PoliciesFile, decide: DecideCallback) {
    super(file);
    this.#decide = decide;
  }

  override async evaluate(request: WireEnforceRequest): Promise<Verdict> {
    let outcome: ScriptedOutcome;
    try {
      outcome = await this.#decide(request);
    } catch (error) {
      return scripted("ERROR", ["SCRIPT_FAILED"], `decide() threw: ${error instanceof Error ? error.message : "?"}`);
    }
    if (outcome === undefined) return super.evaluate(request);
    const { status, reasonCodes, explanation } = typeof outcome === "string" ? { status: outcome } : outcome;
    const codes = reasonCodes ?? [status === "ALLOW" ? "SCRIPTED_ALLOW" : `SCRIPTED_${status}`];
    // A script mistake is a failed decision, never a silent ALLOW.
    if (!STATUSES.has(status) || !codes.every((c) => typeof c === "string" && REASON_CODE_PATTERN.test(c)))
      return scripted(
        "ERROR",
        ["SCRIPT_INVALID"],
        `decide() returned an invalid outcome: use a status (${[...STATUSES].join(", ")}) and reason codes like "LIMIT_EXCEEDED"`,
      );
    return scripted(status, [...codes], explanation ?? `Scripted ${status} (decide)`);
  }
}

function scripted(status: Outcome | "ERROR", reasonCodes: string[], explanation: string): Verdict {
  return combine([
    { policy: "(scripted)", version: null, rule: null, outcome: status, reason_codes: reasonCodes, explanation },
  ]);
}
