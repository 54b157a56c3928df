/**
 * `decionis/openai-agents` — gates the function tools of the OpenAI Agents
 * SDK (`@openai/agents`).
 *
 * One decision per tool call, asked by the tool's `needsApproval` with the
 * call id as the idempotency key, then read back by the other two looks:
 * - ESCALATE / REVIEW_REQUIRED: `needsApproval` says yes, the run stops with
 *   an interruption; approve or reject it through `RunState` as usual. An
 *   approved call runs only once the authority grants the escalation too.
 * - BLOCK: a tool input guardrail rejects the call (`rejectContent`); the
 *   model reads the reason codes, explanation and dossier URL and re-plans.
 * - ALLOW: the tool runs once, under that decision's grant.
 * - ERROR, transport failure, open circuit, a refused escalation: the tool
 *   does not run and the error (a `BlockedError`, a transport error) leaves
 *   the run as the framework's tool error, outside the tool's own
 *   `errorFunction` — the default one would turn it into "please try again".
 */
import type { FunctionTool, RunContext } from "@openai/agents";
import { ConfigurationError } from "../../index.js";
import { refusalText, requirePeer, ToolCallGate, type ToolCall, type ToolGateOptions } from "../agents/common.js";

requirePeer("@openai/agents", "decionis/openai-agents", ">=0.20.0 <1");

export {
  refusalText,
  idempotencyKeyFor,
  type EscalationStore,
  type ToolCall,
  type ToolCallVerdict,
  type ToolGateOptions,
} from "../agents/common.js";

type AnyFunctionTool = FunctionTool<any, any, any>;
type InputGuardrail = NonNullable<AnyFunctionTool["inputGuardrails"]>[number];

/** The model's arguments as JSON data; text that is not JSON is kept as text (the tool's own parse refuses it). */
function argumentsOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describeTool(tool: unknown): string {
  if (typeof tool !== "object" || tool === null) return typeof tool;
  const { type, name } = tool as { type?: unknown; name?: unknown };
  return `a ${String(type)} tool${typeof name === "string" ? ` "${name}"` : ""}`;
}

/**
 * Gates one function tool (from `tool()`). Returns a copy whose
 * `needsApproval`, input guardrails and `invoke` go through the gate; the
 * name, schema, your own guardrails and `errorFunction` are kept. The tool's
 * name is the default `action`.
 *
 * @example
 * const refund = gateTool(tool({ name: "issue_refund", parameters, execute }), {
 *   client, action: "ISSUE_REFUND", actor: { id: "support-agent", type: "AI_AGENT" },
 * });
 * const agent = new Agent({ name: "support", tools: [refund] });
 * let result = await run(agent, "refund order A-1");
 * for (const item of result.interruptions) result.state.approve(item); // the app's approval
 * result = await run(agent, result.state); // runs once the authority grants it too
 *
 * @throws {@link ConfigurationError} for anything but a function tool.
 */
export function gateTool<T extends AnyFunctionTool>(tool: T, options: ToolGateOptions): T {
  if (
    typeof tool !== "object" ||
    (tool as unknown) === null ||
    tool.type !== "function" ||
    typeof tool.invoke !== "function"
  )
    throw new ConfigurationError(
      "tool",
      `gateTool() gates a function tool, as tool({ name, parameters, execute }) builds; got ${describeTool(tool)}`,
    );
  const gate = new ToolCallGate(options, tool.name);
  const call = (id: string | undefined): ToolCall => ({ id, toolName: tool.name });
  // The three looks see the input in two forms (normalised, then raw JSON); the runner binds the approval
  // to the unchanged call, so the later looks read the decision by call id alone.
  const later = { compareInput: false } as const;

  const guardrail: InputGuardrail = {
    type: "tool_input",
    name: "decionis",
    run: async ({ toolCall }) => {
      const verdict = await gate.verdict(argumentsOf(toolCall.arguments), call(toolCall.callId), later);
      if (verdict.kind !== "block") return { behavior: { type: "allow" } };
      const { decisionId, status, reasonCodes, dossierUrl } = verdict.decision;
      return {
        behavior: { type: "rejectContent", message: refusalText(verdict) },
        outputInfo: { decisionId, status, reasonCodes, dossierUrl },
      };
    },
  };

  const overrides = {
    needsApproval: async (runContext: RunContext, input: unknown, callId?: string): Promise<boolean> => {
      const verdict = await gate.verdict(input, call(callId));
      if (verdict.kind === "approval") return true;
      // BLOCK goes to the guardrail, errors to invoke: neither is a person's to approve.
      return verdict.kind === "allow" && (await tool.needsApproval(runContext, input, callId));
    },
    inputGuardrails: [guardrail, ...(tool.inputGuardrails ?? [])],
    invoke: (runContext: RunContext, input: string, details?: Parameters<T["invoke"]>[2]) =>
      gate.run(argumentsOf(input), call(details?.toolCall?.callId), () => tool.invoke(runContext, input, details), {
        ...later,
        signal: details?.signal,
      }),
  };
  // A copy with every own property (symbols, getters) of the original, three of them replaced.
  return Object.create(Object.getPrototypeOf(tool) as object | null, {
    ...Object.getOwnPropertyDescriptors(tool),
    ...Object.getOwnPropertyDescriptors(overrides),
  }) as T;
}

/**
 * Gates every tool of a list; each keeps its name as default `action`
 * (resolvers get it as `call.toolName`). Only function tools can be gated:
 * anything else (hosted, computer, shell) is refused rather than left
 * ungated in a list that looks gated — add those to the agent yourself.
 *
 * @example
 * const agent = new Agent({ name: "support", tools: gateTools([refund, lookup], { client, actor }) });
 *
 * @throws {@link ConfigurationError} naming a tool that is not a function tool.
 */
export function gateTools<T extends AnyFunctionTool>(tools: readonly T[], options: ToolGateOptions): T[] {
  return tools.map((t) => gateTool(t, options));
}
