/**
 * `decionis/fastify`: a plugin (through `fastify-plugin`, so it reaches the
 * whole app) that answers SDK errors as RFC 9457 problems and can provide the
 * client, and a route-level `preHandler` that gates a route on a decision
 * (Fastify 5). The preHandler runs after parsing and validation: its resolvers
 * see `request.body`, `request.params` and whatever authentication set.
 *
 * @example
 * // import { … } from decionis/fastify (the sub-path)
 * await app.register(decionisPlugin, { client });
 * app.post("/orders/:symbol", {
 *   preHandler: gateRoute({ action: "PLACE_ORDER", actor: (req) => ({ id: req.user.id, type: "CUSTOMER" }) }),
 * }, placeOrder);
 */
import fp from "fastify-plugin";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from "fastify";
import type { DecionisClient } from "../../index.js";
import { toHttpProblem } from "../http.js";
import { routeGate, untilResponseEnds, type RouteGateOptions } from "../route.js";

export { toHttpProblem, PROBLEM_CONTENT_TYPE, type HttpProblem, type DecionisProblem } from "../http.js";
export type { RequestResolvable, RouteGateOptions } from "../route.js";

/** Options of {@link decionisPlugin}. */
export interface DecionisPluginOptions {
  /** The client of gates that name none, decorated on the app as `app.decionis`. @default the default client */
  client?: DecionisClient;
  /** Answer SDK errors with their HTTP mapping; other errors go to the error handler that was set before. @default true */
  errorHandler?: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The client `decionisPlugin` was given, if any. */
    decionis?: DecionisClient;
  }
}

function plugin(app: FastifyInstance, options: DecionisPluginOptions, done: (error?: Error) => void): void {
  if (options.client !== undefined) app.decorate("decionis", options.client);
  if (options.errorHandler !== false) {
    const previous = app.errorHandler;
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const problem = toHttpProblem(error);
      if (problem === undefined) {
        previous(error, request, reply);
        return;
      }
      void reply.code(problem.status).headers(problem.headers).send(JSON.stringify(problem.body));
    });
  }
  done();
}

/**
 * Registers the SDK's error mapping (BLOCK 403, ESCALATE/REVIEW_REQUIRED 202,
 * unavailable 503, invalid input 400, as `application/problem+json`) on the
 * whole app and, with `client`, the client of every {@link gateRoute} that
 * names none.
 *
 * @example
 * await app.register(decionisPlugin, { client: new DecionisClient({ tenantId: "acme" }) });
 */
export const decionisPlugin = fp(plugin, { fastify: "5.x", name: "decionis" });

/**
 * A route-level `preHandler` that asks for a decision about the request and
 * lets the handler run only on a verified ALLOW (at once in SHADOW mode);
 * anything else fails the request with the SDK's typed error, which
 * {@link decionisPlugin} answers.
 *
 * @example
 * app.delete("/users/:id", {
 *   preHandler: [authenticate, gateRoute({ action: "DELETE_USER",
 *     actor: (req) => ({ id: req.user.id, type: "ADMIN" }),
 *     resource: (req: FastifyRequest<{ Params: { id: string } }>) => `user:${req.params.id}` })],
 * }, deleteUser);
 *
 * @throws {@link ConfigurationError} at declaration for options without an `action`.
 */
export function gateRoute<Req extends FastifyRequest = FastifyRequest>(
  options: RouteGateOptions<Req>,
): preHandlerHookHandler {
  const fixed = routeGate(options);
  // Without a client of its own, the route uses the one its app was given.
  const perClient = new WeakMap<DecionisClient, ReturnType<typeof routeGate<Req>>>();
  const runFor = (app: FastifyInstance): ReturnType<typeof routeGate<Req>> => {
    const client = options.client ?? app.decionis;
    if (client === undefined) return fixed;
    let run = perClient.get(client);
    if (run === undefined) {
      run = routeGate({ ...options, client });
      perClient.set(client, run);
    }
    return run;
  };
  return function decionisGate(this: FastifyInstance, request, reply, done) {
    const operation = `${request.method} ${request.routeOptions.url ?? request.url}`;
    let passed = false;
    runFor(request.server)(request as unknown as Req, operation, () => {
      passed = true;
      return untilResponseEnds(reply.raw, () => {
        done();
      });
    }).catch((error: unknown) => {
      // Once through, the route owns the request: its own failures went to Fastify already.
      if (!passed) done(error as FastifyError);
    });
  };
}
