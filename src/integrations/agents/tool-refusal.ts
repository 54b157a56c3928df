/**
 * The text a model reads when a tool gated by `decionis/mcp` or `decionis/langchain`
 * did not run: the decision's status, reason codes, explanation and record, never
 * a stack or a request. Each adapter wraps it in its framework's refusal
 * (an MCP `isError` result, a LangChain error ToolMessage).
 */
import { BlockedError, isDecionisError } from "../../index.js";

/** ESCALATE and REVIEW_REQUIRED with an escalation: a person can still let the call run. */
export function isEscalation(error: unknown): error is BlockedError & { escalationId: string } {
  return (
    error instanceof BlockedError &&
    (error.status === "ESCALATE" || error.status === "REVIEW_REQUIRED") &&
    typeof error.escalationId === "string" &&
    error.escalationId !== ""
  );
}

/** The text the model reads for a call that did not run. */
export function refusalText(tool: string, error: unknown): string {
  if (!(error instanceof BlockedError)) {
    const name = isDecionisError(error) ? error.name : "Error";
    const message = error instanceof Error ? error.message : String(error);
    return `Tool "${tool}" did not run: the Decionis authority gave no decision (${name}: ${message}).`;
  }
  const reasons = error.reasonCodes.length > 0 ? ` [${error.reasonCodes.join(", ")}]` : "";
  const why = error.explanation === null ? "" : ` ${error.explanation}.`;
  const record = error.dossierUrl ?? error.dossierId;
  const head =
    error.escalationStatus !== null
      ? `the escalation ${error.escalationId ?? ""} ended ${error.escalationStatus}`
      : isEscalation(error)
        ? `it needs a person's approval first (${error.status}, escalation ${error.escalationId})`
        : `Decionis ${error.status === "ERROR" ? "could not decide" : "blocked it"} (${error.status})`;
  return (
    `Tool "${tool}" did not run: ${head}${reasons}.${why} Decision ${error.decisionId}.` +
    (record === null ? "" : ` Record: ${record}`)
  );
}
