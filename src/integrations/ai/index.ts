/**
 * `decionis/ai` — gates the tools of the Vercel AI SDK (`ai`, v6 and v7).
 *
 * A gated tool asks the authority once per tool call, from the framework's
 * approval check, with the tool call id as the idempotency key:
 * - ALLOW: the tool runs under that decision's grant, once.
 * - ESCALATE / REVIEW_REQUIRED: the call needs the framework's approval
 *   (`needsApproval`; v7 `toolApproval` → `user-approval` with the escalation
 *   id and dossier URL as the reason). Once approved in the app, the tool runs
 *   only when the authority grants the escalation too (`waitForDecision`).
 * - BLOCK: v7 `toolApproval` → `denied`, the model reads the reason codes,
 *   explanation and dossier URL; without it (v6), `execute` throws the
 *   `BlockedError` and the model reads its message as the tool error.
 * - ERROR, transport failure, open circuit: `execute` throws; a tool error.
 *
 * The AI SDK is not imported here: the tool objects are plain data.
 */
import { ConfigurationError } from "../../index.js";
import {
  refusalText,
  requirePeer,
  ToolCallGate,
  type ToolCall,
  type ToolCallVerdict,
  type ToolGateOptions,
} from "../agents/common.js";

requirePeer("ai", "decionis/ai", "^6.0.0 || ^7.0.0");

export {
  refusalText,
  idempotencyKeyFor,
  type EscalationStore,
  type ToolCall,
  type ToolCallVerdict,
  type ToolGateOptions,
} from "../agents/common.js";

/** What the AI SDK passes to `needsApproval` and `execute` (v6 and v7), as far as the gate reads it. */
interface CallOptions {
  toolCallId: string;
  abortSignal?: AbortSignal;
}

/** The part of an AI SDK tool (v6 or v7) the gate touches; your tool keeps its exact type. */
export interface GateableTool {
  execute?: ((input: any, options: any) => unknown) | undefined;
  needsApproval?: boolean | ((input: any, options: any) => boolean | PromiseLike<boolean>) | undefined;
}

/** What v7's `toolApproval` takes per tool: an approval status, from the tool's input and call. */
export type ToolApprovalStatus =
  "not-applicable" | "user-approval" | { type: "user-approval"; reason?: string } | { type: "denied"; reason?: string };

interface Gated {
  gate: ToolCallGate;
  original: GateableTool;
}

const gatedTools = new WeakMap<object, Gated>();

async function ownApproval(original: GateableTool, input: unknown, options: unknown): Promise<boolean> {
  const own = original.needsApproval;
  if (typeof own !== "function") return own === true;
  // The framework reads a truthy answer as "ask"; so does the gate.
  const asked: unknown = await own(input, options);
  return Boolean(asked);
}

/** The v7 approval status of one verdict; an allowed call still honours the tool's own `needsApproval`. */
async function statusOf(
  verdict: ToolCallVerdict,
  original: GateableTool,
  input: unknown,
  options: unknown,
): Promise<ToolApprovalStatus> {
  switch (verdict.kind) {
    case "approval":
      return { type: "user-approval", reason: refusalText(verdict) };
    case "block":
      return { type: "denied", reason: refusalText(verdict) };
    case "allow":
      return (await ownApproval(original, input, options)) ? "user-approval" : "not-applicable";
    default:
      // Not a denial: `execute` refuses to run and the framework reports the tool error.
      return "not-applicable";
  }
}

/**
 * Gates one AI SDK tool. Returns a copy with `needsApproval` and `execute`
 * wrapped; everything else (schemas, `toModelOutput`, your types) is kept.
 *
 * @example
 * const refund = gateTool(tool({ inputSchema, execute: issueRefund }), {
 *   client, action: "ISSUE_REFUND", actor: { id: "support-agent", type: "AI_AGENT" },
 *   resource: (input) => `order:${input.orderId}`,
 * });
 *
 * @throws {@link ConfigurationError} for a tool without `execute`, or options without an `action`.
 */
export function gateTool<T extends GateableTool>(tool: T, options: ToolGateOptions, name?: string): T {
  if (typeof tool !== "object" || (tool as unknown) === null || typeof tool.execute !== "function")
    throw new ConfigurationError(
      "tool",
      "gateTool() needs an AI SDK tool with an `execute` function (a tool the app runs itself)",
    );
  const gate = new ToolCallGate(options, name ?? (typeof options.action === "string" ? options.action : undefined));
  const execute = tool.execute.bind(tool);
  const call = (o: CallOptions): ToolCall => ({ id: o.toolCallId, toolName: gate.toolName });
  const gated: T = {
    ...tool,
    needsApproval: async (input: unknown, o: CallOptions): Promise<boolean> => {
      const verdict = await gate.verdict(input, call(o));
      if (verdict.kind === "approval") return true;
      // BLOCK and errors are not for a person: `execute` refuses them and the model reads why.
      return verdict.kind === "allow" && ownApproval(tool, input, o);
    },
    execute: (input: unknown, o: CallOptions) =>
      gate.run(input, call(o), () => execute(input, o), { signal: o.abortSignal }),
  };
  gatedTools.set(gated, { gate, original: tool });
  return gated;
}

/**
 * Gates every tool of a tool set; each tool's name is its default `action`
 * (resolvers get it as `call.toolName`). Tools without `execute` are refused.
 *
 * @example
 * const tools = gateTools({ issueRefund, lookupOrder }, { client, actor, policy: "agent-tools" });
 * await generateText({ model, tools, toolApproval: toolApproval(tools), prompt });
 *
 * @throws {@link ConfigurationError} as {@link gateTool}.
 */
export function gateTools<S extends Record<string, GateableTool>>(tools: S, options: ToolGateOptions): S {
  const gated: Record<string, GateableTool> = {};
  for (const [name, tool] of Object.entries(tools)) gated[name] = gateTool(tool, options, name);
  return gated as S;
}

/**
 * AI SDK v7: the `toolApproval` setting for a tool set with gated tools.
 * BLOCK becomes `denied` (the model reads the reason codes, explanation and
 * dossier URL), ESCALATE / REVIEW_REQUIRED becomes `user-approval` with the
 * escalation id as the reason shown to the approver. Tools that are not
 * gated keep their own `needsApproval`.
 *
 * @example
 * await generateText({ model, tools, toolApproval: toolApproval(tools), prompt });
 */
export function toolApproval(
  tools: Record<string, unknown>,
): Record<string, (input: any, options: { toolCallId: string }) => Promise<ToolApprovalStatus>> {
  const config: Record<string, (input: any, options: { toolCallId: string }) => Promise<ToolApprovalStatus>> = {};
  for (const [name, tool] of Object.entries(tools)) {
    const found = typeof tool === "object" && tool !== null ? gatedTools.get(tool) : undefined;
    if (found === undefined) continue;
    config[name] = async (input, o) =>
      statusOf(
        await found.gate.verdict(input, { id: o.toolCallId, toolName: found.gate.toolName }),
        found.original,
        input,
        o,
      );
  }
  return config;
}
