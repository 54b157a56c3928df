/**
 * `decionis/langchain`: LangChain tools and LangGraph / `createAgent` runs
 * whose tool calls run only on a Decionis ALLOW.
 *
 * - ALLOW: the tool runs once; the model gets its result.
 * - BLOCK, ERROR, a transport failure: the tool does not run; the model gets
 *   a ToolMessage with status "error" naming the status, reason codes,
 *   explanation and record, and can re-plan.
 * - ESCALATE / REVIEW_REQUIRED: LangGraph's `interrupt()` pauses the run with
 *   a {@link DecionisApprovalRequest} (escalation id, dossier URL). Resume it
 *   with `new Command({ resume: { approved: true } })` on the same thread:
 *   the node re-runs, the gate finds the same escalation (the tool call id is
 *   the intent's idempotency key), waits for the authority's grant
 *   (`waitForDecision`) and runs the tool once under it. The app's approval is
 *   necessary, never sufficient: a refused or ungranted escalation runs
 *   nothing.
 *
 * Interrupts and aborts pass through untouched. Needs a checkpointer, as every
 * LangGraph interrupt does; with the graph's store too, a run paused in one
 * process resumes in another.
 */
import "./peers.js";
import { DynamicStructuredTool, type StructuredToolInterface } from "@langchain/core/tools";
import type { ToolMessage } from "@langchain/core/messages";
import { interrupt, type BaseStore } from "@langchain/langgraph";
import type { AgentMiddleware } from "langchain";
import {
  canonicalJson,
  gate,
  getDefaultClient,
  isDecionisError,
  type BlockedError,
  type GateOptions,
  type Resolvable,
} from "../../index.js";
import { isEscalation, refusalMessage, refusalText } from "./refusal.js";

export type { RefusalArtifact } from "./refusal.js";

/** A tool call's arguments. */
export type ToolArgs = Record<string, any>;

/**
 * Options of {@link gateTool}, {@link gateTools} and {@link decionisMiddleware}:
 * the gate's options, as functions of the tool call's arguments, with
 * defaults that fit a tool.
 */
export interface ToolGateOptions<A extends ToolArgs = ToolArgs> extends Omit<
  GateOptions<[args: A]>,
  "action" | "escalation" | "idempotencyKey"
> {
  /** @default the tool's name */
  action?: Resolvable<string, [args: A], unknown>;
  /**
   * One decision per tool call: what the authority replays when the run resumes.
   * @default the tool call's id
   */
  idempotencyKey?: Resolvable<string, [args: A], unknown>;
}

/** The value of the interrupt a gated tool call raises on ESCALATE / REVIEW_REQUIRED. */
export interface DecionisApprovalRequest {
  type: "decionis/escalation";
  status: "ESCALATE" | "REVIEW_REQUIRED";
  tool: string;
  toolCallId: string;
  args: ToolArgs;
  escalationId: string;
  decisionId: string;
  reasonCodes: string[];
  explanation: string | null;
  dossierUrl: string | null;
  /** One line for a person. */
  message: string;
}

/**
 * The resume value: `new Command({ resume: { approved: true } })`. Anything
 * else (a missing or non-`true` `approved`) declines, and the tool does not run.
 */
export interface DecionisApproval {
  approved: boolean;
  note?: string;
}

interface Call {
  id: string | undefined;
  signal?: AbortSignal | undefined;
  store?: BaseStore | undefined;
  /** LangGraph's `thread_id`: paused calls are found within their own thread. */
  thread?: string | undefined;
  name: string;
  args: ToolArgs;
}

type Run<R> = () => R | Promise<R>;

/** A paused call's escalation: what the interrupt carried, and the error when this process saw it. */
interface Pending {
  request: DecionisApprovalRequest;
  error?: BlockedError & { escalationId: string };
}

/**
 * Escalations raised by calls now paused, by tool and key: the resumed node
 * re-runs, and this is how it finds its escalation instead of asking again.
 * Bounded; each entry leaves when its run resumes. The graph's store, when it
 * has one, keeps them across processes.
 */
const paused = new Map<string, Pending>();
const MAX_PAUSED = 10_000;
const STORE_NAMESPACE = ["decionis", "escalations"];

/** The gate shared by every shape: one tool (or tool call) in, its result or a refusal out. */
function toolCallGate<A extends ToolArgs>(
  fixedName: string | undefined,
  options: ToolGateOptions<A>,
): <R>(call: Call, run: Run<R>) => Promise<R | ToolMessage> {
  const ownKey = options.idempotencyKey;
  // An abort that came while the authority decided still stops the run, on an ALLOW too.
  const gated = gate(
    (_args: A, call: Call, run: Run<unknown>) => {
      call.signal?.throwIfAborted();
      return run();
    },
    {
      ...(options as GateOptions<[args: A, call: Call]>),
      action: options.action ?? ((_args: A, call: Call) => call.name),
      resource: options.resource ?? ((_args: A, call: Call) => call.name),
      parameters: options.parameters ?? ((args: A) => args as never),
      // A call without an id gets a fresh key (and cannot be resumed).
      idempotencyKey: ownKey ?? (((_args: A, call: Call) => call.id) as (args: A, call: Call) => string),
      target: { ...(fixedName === undefined ? {} : { operation: fixedName }), ...options.target },
      escalation: "throw",
    },
  );
  return async <R>(call: Call, run: Run<R>): Promise<R | ToolMessage> => {
    const { signal, store } = call;
    const key = ownKey === undefined ? call.id : keyOf(ownKey, call.args as A);
    const pauseKey = key !== undefined && key !== "" ? `${call.thread ?? ""}:${call.name}:${key}` : undefined;
    let pending = pauseKey === undefined ? undefined : (paused.get(pauseKey) ?? (await recall(store, pauseKey)));
    // A paused escalation is this call's only for the same arguments: a model that repeats a tool call id with other
    // arguments must not run them under the grant of the first. Asked anew, the used key is refused.
    if (pending !== undefined && canonicalJson(pending.request.args) !== canonicalJson(call.args)) pending = undefined;
    if (pending === undefined) {
      signal?.throwIfAborted();
      try {
        return (await gated.call(undefined, call.args as A, call, run)) as R;
      } catch (error) {
        // The tool's own errors, interrupts and aborts are the framework's.
        if (!isDecionisError(error)) throw error;
        signal?.throwIfAborted();
        if (!isEscalation(error) || pauseKey === undefined) return refusalMessage(call, error);
        pending = { request: approvalRequest(call, error), error };
        await remember(store, pauseKey, pending);
      }
    }
    // Outside any try: on the first pass this throws GraphInterrupt and the run pauses.
    const answer: unknown = interrupt(pending.request);
    if (pauseKey !== undefined) await forget(store, pauseKey);
    const escalation = pending.error ?? pending.request.escalationId;
    if (!approved(answer))
      return refusalMessage(
        call,
        pending.error ?? pending.request,
        `${pending.request.message} The person declined it in the app.`,
      );
    const client = options.client ?? getDefaultClient();
    let decision;
    try {
      decision = await client.waitForDecision(escalation, {
        ...(signal === undefined ? {} : { signal }),
        ...(options.waitTimeoutMs === undefined ? {} : { timeoutMs: options.waitTimeoutMs }),
        ...(options.verify === undefined ? {} : { verify: options.verify }),
      });
    } catch (error) {
      if (!isDecionisError(error)) throw error;
      return refusalMessage(call, error);
    }
    let ran = false;
    try {
      return await client.execute(
        decision,
        () => {
          signal?.throwIfAborted();
          ran = true;
          return run();
        },
        options.reportOutcome === undefined ? {} : { reportOutcome: options.reportOutcome },
      );
    } catch (error) {
      // A grant that cannot be verified or claimed ran nothing; the tool's own errors pass.
      if (ran || !isDecionisError(error)) throw error;
      return refusalMessage(call, error);
    }
  };
}

// The store is the app's own (not the resume value, which a client may send): an escalation id read there is trusted
// as this call's. A store that fails leaves the in-process map, and a resume elsewhere then runs nothing.
async function recall(store: BaseStore | undefined, key: string): Promise<Pending | undefined> {
  try {
    const item = await store?.get(STORE_NAMESPACE, key);
    const request = item?.value as DecionisApprovalRequest | undefined;
    return request?.type === "decionis/escalation" && typeof request.escalationId === "string"
      ? { request }
      : undefined;
  } catch {
    return undefined;
  }
}

async function remember(store: BaseStore | undefined, key: string, pending: Pending): Promise<void> {
  if (paused.size >= MAX_PAUSED) paused.delete(paused.keys().next().value as string);
  paused.set(key, pending);
  try {
    await store?.put(STORE_NAMESPACE, key, pending.request);
  } catch {
    // In-process only: see recall().
  }
}

async function forget(store: BaseStore | undefined, key: string): Promise<void> {
  paused.delete(key);
  try {
    await store?.delete(STORE_NAMESPACE, key);
  } catch {
    // An entry left behind is never a grant: at worst a later re-run waits on a finished escalation.
  }
}

/** The caller's own key for this call; a resolver that fails is the gate's to report (it calls it again). */
function keyOf<A>(key: Resolvable<string, [args: A], unknown>, args: A): string | undefined {
  try {
    const value: unknown = typeof key === "function" ? key.call(undefined, args) : key;
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

function threadOf(configurable: { thread_id?: unknown } | undefined): string | undefined {
  const thread = configurable?.thread_id;
  return typeof thread === "string" || typeof thread === "number" ? String(thread) : undefined;
}

function approved(answer: unknown): boolean {
  return typeof answer === "object" && answer !== null && (answer as { approved?: unknown }).approved === true;
}

function approvalRequest(call: Call, e: BlockedError & { escalationId: string }): DecionisApprovalRequest {
  return {
    type: "decionis/escalation",
    status: e.status as DecionisApprovalRequest["status"],
    tool: call.name,
    toolCallId: call.id ?? "",
    args: call.args,
    escalationId: e.escalationId,
    decisionId: e.decisionId,
    reasonCodes: [...e.reasonCodes],
    explanation: e.explanation,
    dossierUrl: e.dossierUrl,
    message: refusalText(call.name, e),
  };
}

/**
 * A LangChain tool whose calls run only on a Decionis ALLOW: same name,
 * description and schema; a refusal is a ToolMessage with status "error";
 * an escalation is a LangGraph `interrupt()`.
 *
 * @example
 * const refund = gateTool(issueRefund, { client, actor: { id: "support-agent", type: "AI_AGENT" }, policy: "refunds",
 *   resource: (args) => `order:${args.orderId}` });
 * const graph = createAgent({ model, tools: [refund], checkpointer: new MemorySaver() });
 *
 * @throws {@link ConfigurationError} from `gate()` when the options cannot make a gate. At call time a
 *   refusal is returned as a ToolMessage, never thrown; the tool's own errors and GraphInterrupt pass through.
 */
export function gateTool<A extends ToolArgs = ToolArgs>(
  tool: StructuredToolInterface,
  options: ToolGateOptions<A>,
): DynamicStructuredTool {
  const decide = toolCallGate(tool.name, options);
  return new DynamicStructuredTool({
    name: tool.name,
    description: tool.description,
    schema: tool.schema as never,
    ...(tool.returnDirect ? { returnDirect: true } : {}),
    func: async (input: ToolArgs, runManager, config) => {
      const { toolCall, store, configurable } = (config ?? {}) as {
        toolCall?: { id?: string };
        store?: BaseStore;
        configurable?: { thread_id?: unknown };
      };
      // The inner tool sees the same tool call, so it formats its own ToolMessage (artifacts included).
      return decide(
        {
          id: toolCall?.id,
          name: tool.name,
          args: input,
          signal: config?.signal,
          store,
          thread: threadOf(configurable),
        },
        (): Promise<unknown> =>
          tool.invoke(input, runManager === undefined ? config : { ...config, callbacks: runManager.getChild() }),
      );
    },
  });
}

/**
 * {@link gateTool} over each tool, with the same options (resolvers see each call's arguments; `action`
 * defaults to each tool's name).
 *
 * @example
 * const tools = gateTools([issueRefund, closeAccount], { client, actor, policy: "support" });
 */
export function gateTools<A extends ToolArgs = ToolArgs>(
  tools: readonly StructuredToolInterface[],
  options: ToolGateOptions<A>,
): DynamicStructuredTool[] {
  return tools.map((tool) => gateTool(tool, options));
}

/** Options of {@link decionisMiddleware}. */
export interface DecionisMiddlewareOptions<A extends ToolArgs = ToolArgs> extends ToolGateOptions<A> {
  /** Names of the tools to gate. @default every tool */
  tools?: readonly string[];
}

/**
 * `createAgent` middleware (`langchain` v1) that gates every tool call with
 * `wrapToolCall`: one place for all the agent's tools, including tools
 * registered by other middleware.
 *
 * @example
 * const agent = createAgent({ model, tools, checkpointer: new MemorySaver(),
 *   middleware: [decionisMiddleware({ client, actor: { id: "support-agent", type: "AI_AGENT" }, policy: "support" })] });
 *
 * @throws {@link ConfigurationError} from `gate()` when the options cannot make a gate.
 */
export function decionisMiddleware<A extends ToolArgs = ToolArgs>(
  options: DecionisMiddlewareOptions<A>,
): AgentMiddleware {
  const { tools, ...gateOptions } = options;
  const only = tools === undefined ? undefined : new Set(tools);
  const decide = toolCallGate(undefined, gateOptions);
  // createMiddleware's object, built here so `langchain` is needed for its types only.
  return {
    [Symbol.for("AgentMiddleware")]: true,
    name: "DecionisGate",
    wrapToolCall: async (request, handler) => {
      const { id, name, args } = request.toolCall;
      if (only !== undefined && !only.has(name)) return handler(request);
      const { signal, store, configurable } = request.runtime;
      return decide({ id, name, args, signal, store, thread: threadOf(configurable) }, () => handler(request));
    },
  } as AgentMiddleware;
}
