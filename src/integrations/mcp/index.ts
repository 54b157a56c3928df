/**
 * `decionis/mcp`: tools of a Model Context Protocol server
 * (`@modelcontextprotocol/sdk`) that run only on a Decionis ALLOW.
 *
 * - ALLOW: the handler runs once and its result goes back as is.
 * - BLOCK, ERROR, a transport failure: the handler does not run; the client
 *   gets an `isError: true` result naming the status, reason codes,
 *   explanation and record (the model reads it and can re-plan).
 * - ESCALATE / REVIEW_REQUIRED: when the client declared URL elicitation, it
 *   is asked to open the escalation's page (the dossier, or `approvalUrl`);
 *   once the person has accepted there, the handler waits for the authority's
 *   grant (`waitForDecision`) and runs once under it. A client without URL
 *   elicitation, a declined elicitation or a refused escalation gets an
 *   `isError` result that names the escalation; nothing runs.
 *
 * The elicitation is the framework's approval: necessary, never sufficient.
 */
import "./peers.js";
// Loaded for its absence to fail here under ESM too (Node names the missing package); the server already loaded it.
import "@modelcontextprotocol/sdk/server/mcp.js";
import type { McpServer, RegisteredTool, ToolCallback } from "@modelcontextprotocol/sdk/server/mcp.js";
import type {
  AnySchema,
  ShapeOutput,
  ZodRawShapeCompat,
  SchemaOutput,
} from "@modelcontextprotocol/sdk/server/zod-compat.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import {
  gate,
  getDefaultClient,
  isDecionisError,
  type BlockedError,
  type GateOptions,
  type Resolvable,
} from "../../index.js";
import { isEscalation, refusalResult, refusalText } from "./refusal.js";

/** The arguments an MCP tool handler receives for an input schema (none: `{}`). */
export type McpToolArgs<InputArgs> = InputArgs extends ZodRawShapeCompat
  ? ShapeOutput<InputArgs>
  : InputArgs extends AnySchema
    ? SchemaOutput<InputArgs>
    : Record<string, never>;

/**
 * Options of {@link registerGatedTool}: the gate's options, as functions of the
 * tool's arguments, with defaults that fit a tool.
 */
export interface McpGateOptions<A = Record<string, unknown>> extends Omit<
  GateOptions<[args: A]>,
  "action" | "escalation"
> {
  /** @default the tool's name */
  action?: Resolvable<string, [args: A], unknown>;
  /**
   * The page the client is asked to open on an escalation.
   * @default the escalation's dossier URL
   */
  approvalUrl?: (escalation: BlockedError) => string | null;
}

/** The `config` of `McpServer.registerTool`. */
export interface McpToolConfig<InputArgs, OutputArgs> {
  title?: string;
  description?: string;
  inputSchema?: InputArgs;
  outputSchema?: OutputArgs;
  annotations?: ToolAnnotations;
  _meta?: Record<string, unknown>;
}

type HandlerExtra = Parameters<ToolCallback>[0];

/**
 * `server.registerTool(name, config, handler)` with the handler behind a
 * Decionis gate. Same arguments, plus the gate's options; returns the
 * `RegisteredTool`.
 *
 * MCP tool calls carry no id, so each call is its own decision unless
 * `idempotencyKey` names one from the arguments (e.g. a client order id),
 * which makes a client's retry of one call meet the same decision.
 *
 * @example
 * registerGatedTool(server, "issue_refund",
 *   { description: "Refund an order", inputSchema: { orderId: z.string(), amount: z.number() } },
 *   async ({ orderId, amount }) => ({ content: [{ type: "text", text: await payments.refund(orderId, amount) }] }),
 *   { client, actor: { id: "support-agent", type: "AI_AGENT" }, policy: "refunds", resource: (a) => `order:${a.orderId}` });
 *
 * @throws {@link ConfigurationError} from `gate()` when the options cannot make a gate. At call time
 *   nothing is thrown for a refusal: the client gets an `isError` result. The handler's own errors pass
 *   through to the SDK, which reports them as it does for any tool.
 */
export function registerGatedTool<
  OutputArgs extends ZodRawShapeCompat | AnySchema,
  InputArgs extends undefined | ZodRawShapeCompat | AnySchema = undefined,
>(
  server: McpServer,
  name: string,
  config: McpToolConfig<InputArgs, OutputArgs>,
  handler: ToolCallback<InputArgs>,
  options: McpGateOptions<McpToolArgs<InputArgs>>,
): RegisteredTool {
  const gated = gatedHandler(
    server,
    name,
    handler as (...params: unknown[]) => CallToolResult | Promise<CallToolResult>,
    options,
  );
  return server.registerTool(name, config, gated as unknown as ToolCallback<InputArgs>);
}

/** The handler wrapper: the gate, then the escalation's round trip through the client. */
function gatedHandler<A>(
  server: McpServer,
  name: string,
  handler: (...params: unknown[]) => CallToolResult | Promise<CallToolResult>,
  options: McpGateOptions<A>,
): (...params: unknown[]) => Promise<CallToolResult> {
  const { approvalUrl, ...gateOptions } = options;
  // Without an input schema the SDK passes only `extra`; the intent then sees `{}`.
  const argsOf = (params: unknown[]): A => (params.length > 1 ? params[0] : {}) as A;
  // A request the client cancelled while the authority decided runs nothing, on an ALLOW too.
  const run = gate(
    (_args: A, params: unknown[]) => {
      (params[params.length - 1] as HandlerExtra).signal.throwIfAborted();
      return handler(...params);
    },
    {
      ...(gateOptions as GateOptions<[args: A, params: unknown[]]>),
      action: gateOptions.action ?? name,
      resource: gateOptions.resource ?? name,
      parameters: gateOptions.parameters ?? ((args: A) => args as never),
      target: { operation: name, ...gateOptions.target },
      escalation: "throw",
    },
  );
  return async (...params) => {
    const extra = params[params.length - 1] as HandlerExtra;
    const args = argsOf(params);
    try {
      return await run(args, params);
    } catch (error) {
      // The handler's own errors (and aborts) are the SDK's to report.
      if (!isDecionisError(error)) throw error;
      if (!isEscalation(error)) return refusalResult(name, error);
      return approveThenRun(server, name, error, approvalUrl?.(error) ?? error.dossierUrl, extra, gateOptions, () =>
        handler(...params),
      );
    }
  };
}

async function approveThenRun<A>(
  server: McpServer,
  name: string,
  escalation: BlockedError & { escalationId: string },
  url: string | null,
  extra: HandlerExtra,
  options: Omit<McpGateOptions<A>, "approvalUrl">,
  run: () => CallToolResult | Promise<CallToolResult>,
): Promise<CallToolResult> {
  if (url === null || server.server.getClientCapabilities()?.elicitation?.url === undefined)
    return refusalResult(name, escalation);
  const reasons = escalation.reasonCodes.length > 0 ? ` [${escalation.reasonCodes.join(", ")}]` : "";
  let answer;
  try {
    answer = await server.server.elicitInput(
      {
        mode: "url",
        elicitationId: escalation.escalationId,
        url,
        message:
          `"${name}" needs a person's approval${reasons}` +
          (escalation.explanation === null ? "" : `: ${escalation.explanation}`) +
          `. Open the page to review escalation ${escalation.escalationId}; the tool runs only if it is granted.`,
      },
      { relatedRequestId: extra.requestId, signal: extra.signal },
    );
  } catch (error) {
    // A client that fails to ask (or a request cancelled meanwhile) approves nothing.
    if (extra.signal.aborted) throw error;
    const why = error instanceof Error ? error.message : String(error);
    return refusalResult(
      name,
      escalation,
      `${refusalText(name, escalation)} The client could not ask a person (${why}).`,
    );
  }
  if (answer.action !== "accept")
    return refusalResult(
      name,
      escalation,
      `${refusalText(name, escalation)} The person ${answer.action === "decline" ? "declined" : "cancelled"} the approval.`,
    );
  const client = options.client ?? getDefaultClient();
  let decision;
  try {
    decision = await client.waitForDecision(escalation, {
      signal: extra.signal,
      ...(options.waitTimeoutMs === undefined ? {} : { timeoutMs: options.waitTimeoutMs }),
      ...(options.verify === undefined ? {} : { verify: options.verify }),
    });
  } catch (error) {
    if (!isDecionisError(error)) throw error;
    return refusalResult(name, error);
  }
  await server.server.createElicitationCompletionNotifier(escalation.escalationId, {
    relatedRequestId: extra.requestId,
  })();
  try {
    return await client.execute(
      decision,
      () => {
        extra.signal.throwIfAborted();
        return run();
      },
      options.reportOutcome === undefined ? {} : { reportOutcome: options.reportOutcome },
    );
  } catch (error) {
    // execute() refuses a grant it cannot verify or claim (a DecionisError): nothing ran.
    if (!isDecionisError(error)) throw error;
    return refusalResult(name, error);
  }
}
