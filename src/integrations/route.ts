/**
 * A route's gate, shared by the three HTTP adapters: the route's options and
 * the incoming request become one `gate(fn, options)` call whose function lets
 * the request through. Resolving, validation, the default client, SHADOW mode,
 * escalation waits and outcome reports are therefore exactly the gate's.
 * @internal
 */
import type { ServerResponse } from "node:http";
import { gate, type DecionisClient, type GateOptions, type JsonObjectInput } from "../index.js";

/** A value, or a function of the request that returns it. */
export type RequestResolvable<V, Req> = V | ((request: Req) => V);

/**
 * Options of a route-level gate: the options of `gate`, each resolvable from
 * the request (after authentication and body parsing) instead of a method's
 * arguments.
 *
 * @typeParam Req - the framework's request type.
 */
export interface RouteGateOptions<Req> {
  /** @default the default client (`DecionisModule.forRoot`, `configure`, `setDefaultClient`, or the environment) */
  client?: DecionisClient;
  /** Action type, e.g. `"PLACE_ORDER"`. */
  action: RequestResolvable<string, Req>;
  /** Who acts, e.g. `(req) => ({ id: req.user.id, type: "CUSTOMER" })`. */
  actor: RequestResolvable<{ id: string; type: string; runtime?: string; trustLevel?: string }, Req>;
  /** Policy id or ids to evaluate. */
  policy?: RequestResolvable<string | readonly string[], Req>;
  /** Policy ids to evaluate (merged with `policy`). */
  policyRefs?: RequestResolvable<readonly string[], Req>;
  /** What the action touches. @default the request's path, e.g. `"/orders/42"` */
  resource?: RequestResolvable<string, Req>;
  /** The action's parameters. @default `{ params, query, body }` of the request (`body` when there is one) */
  parameters?: RequestResolvable<JsonObjectInput, Req>;
  /** Facts for the policy. @default {} */
  context?: RequestResolvable<JsonObjectInput, Req>;
  /** e.g. `(req) => req.get("idempotency-key")`. @default a new UUIDv7 per request */
  idempotencyKey?: RequestResolvable<string, Req>;
  /** @default the client's */
  tenantId?: RequestResolvable<string, Req>;
  /** `t:<tenant>|c:<uuidv7>`. @default generated */
  correlationId?: RequestResolvable<string, Req>;
  /** `downstream_target`. @default `{ system: client.system ?? "app", operation: <the route> }` */
  target?: { system?: string; operation?: string; endpoint?: string };
  /** Grant verification. @default the client's */
  verify?: GateOptions["verify"];
  /** `"SHADOW"` lets the request through at once and only reports the decision. @default the client's */
  mode?: GateOptions["mode"];
  /** On ESCALATE / REVIEW_REQUIRED: answer 202, or hold the request until a person decides. @default the client's ("throw") */
  escalation?: GateOptions["escalation"];
  /** Longest wait with `escalation: "wait"`, ms. */
  waitTimeoutMs?: number;
  /** Post the route's outcome (its response status below 500, or not) to the authority. @default the client's */
  reportOutcome?: boolean;
}

/** What the adapters read from any framework's request. */
export interface RequestLike {
  params?: unknown;
  query?: unknown;
  body?: unknown;
  url?: string;
  originalUrl?: string;
}

/** Lets the request through; settles when the handler has run. */
type Proceed = () => Promise<unknown>;
type Gated = (request: unknown, proceed: Proceed) => Promise<unknown>;

// Each route is gated under its own operation name; bounded by the routes an app declares.
const MAX_OPERATIONS = 1_000;

/**
 * Builds a route gate: `run(request, operation, proceed)` asks for a decision
 * about the request and calls `proceed` only on a verified ALLOW (or at once in
 * SHADOW mode); anything else rejects with the SDK's typed error.
 * @throws {@link ConfigurationError} when the options have no `action`.
 */
export function routeGate<Req>(
  options: RouteGateOptions<Req>,
): (request: Req, operation: string, proceed: Proceed) => Promise<unknown> {
  const byOperation = new Map<string, Gated>();
  const make = (operation: string): Gated => {
    const proceedThrough = function (_request: unknown, proceed: Proceed): Promise<unknown> {
      return proceed();
    };
    Object.defineProperty(proceedThrough, "name", { value: operation });
    const { target, ...rest } = options;
    const gateOptions = {
      ...rest,
      resource: options.resource ?? ((request: Req) => pathOf(request as RequestLike)),
      parameters: options.parameters ?? ((request: Req) => parametersOf(request as RequestLike)),
      ...(target === undefined ? {} : { target }),
    };
    // The gate's resolvers receive the gated function's arguments: (request, proceed).
    return gate(proceedThrough, gateOptions as unknown as GateOptions<[unknown, Proceed]>);
  };
  // Validates the options at declaration (an empty action throws here, not per request).
  make("route");
  return (request, operation, proceed) => {
    let gated = byOperation.get(operation);
    if (gated === undefined) {
      gated = make(operation);
      if (byOperation.size < MAX_OPERATIONS) byOperation.set(operation, gated);
    }
    return gated(request, proceed);
  };
}

function pathOf(request: RequestLike): string {
  const url = request.originalUrl ?? request.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** Shallow copies: frameworks hand out null-prototype objects (Express 5's query, Fastify's params). */
function parametersOf(request: RequestLike): JsonObjectInput {
  const copy = (value: unknown): unknown =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? { ...value } : value;
  return {
    params: copy(request.params ?? {}),
    query: copy(request.query ?? {}),
    ...(request.body === undefined ? {} : { body: request.body }),
  };
}

/**
 * Lets a request through (`next()`) and settles when its response has been
 * sent: fulfilled below 500, rejected at 500 and above or when the client went
 * away first, so an outcome report says how the route ended.
 */
export function untilResponseEnds(response: ServerResponse, next: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      response.off("finish", done);
      response.off("close", done);
      if (response.writableFinished && response.statusCode < 500) resolve();
      else
        reject(
          new Error(
            response.writableFinished
              ? `the route answered ${response.statusCode}`
              : "the connection closed before the response",
          ),
        );
    };
    response.on("finish", done);
    response.on("close", done);
    next();
  });
}
