/**
 * What an MCP client (and the model behind it) is told when a gated tool did
 * not run: the decision's status, reason codes, explanation and record, never
 * a stack or a request. Private to `decionis/mcp`.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BlockedError } from "../../index.js";
import { isEscalation, refusalText } from "../agents/tool-refusal.js";

export { isEscalation, refusalText };

/** An MCP tool error result for a call that did not run, with the decision in `_meta` for hosts. */
export function refusalResult(tool: string, error: unknown, text = refusalText(tool, error)): CallToolResult {
  const meta =
    error instanceof BlockedError
      ? {
          "decionis/decision": {
            status: error.status,
            decisionId: error.decisionId,
            reasonCodes: [...error.reasonCodes],
            escalationId: error.escalationId,
            escalationStatus: error.escalationStatus,
            dossierUrl: error.dossierUrl,
          },
        }
      : undefined;
  return { content: [{ type: "text", text }], isError: true, ...(meta === undefined ? {} : { _meta: meta }) };
}
