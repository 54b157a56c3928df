/**
 * What the model reads when a gated LangChain tool did not run: a ToolMessage
 * with status "error" naming the decision's status, reason codes, explanation
 * and record, never a stack or a request. Private to `decionis/langchain`.
 */
import { ToolMessage } from "@langchain/core/messages";
import { BlockedError } from "../../index.js";
import { isEscalation, refusalText } from "../agents/tool-refusal.js";

export { isEscalation, refusalText };

/** The decision behind a refusal, as the ToolMessage's artifact (kept from the model, there for the app). */
export interface RefusalArtifact {
  status: string;
  decisionId: string | null;
  reasonCodes: string[];
  escalationId: string | null;
  escalationStatus: string | null;
  dossierUrl: string | null;
}

/** An escalation as a paused call recorded it (restored in another process, no BlockedError at hand). */
interface ApprovalRequestLike {
  type: "decionis/escalation";
  status: string;
  decisionId: string;
  reasonCodes: string[];
  escalationId: string;
  dossierUrl: string | null;
}

function isApprovalRequest(value: unknown): value is ApprovalRequestLike {
  return typeof value === "object" && value !== null && (value as { type?: unknown }).type === "decionis/escalation";
}

/** The ToolMessage (status "error") for a call that did not run. */
export function refusalMessage(
  call: { id?: string | undefined; name: string },
  error: unknown,
  text = refusalText(call.name, error),
): ToolMessage {
  const artifact: RefusalArtifact = isApprovalRequest(error)
    ? {
        status: error.status,
        decisionId: error.decisionId,
        reasonCodes: error.reasonCodes,
        escalationId: error.escalationId,
        escalationStatus: null,
        dossierUrl: error.dossierUrl,
      }
    : error instanceof BlockedError
      ? {
          status: error.status,
          decisionId: error.decisionId,
          reasonCodes: [...error.reasonCodes],
          escalationId: error.escalationId,
          escalationStatus: error.escalationStatus,
          dossierUrl: error.dossierUrl,
        }
      : {
          status: "ERROR",
          decisionId: null,
          reasonCodes: [],
          escalationId: null,
          escalationStatus: null,
          dossierUrl: null,
        };
  return new ToolMessage({ content: text, tool_call_id: call.id ?? "", name: call.name, status: "error", artifact });
}
