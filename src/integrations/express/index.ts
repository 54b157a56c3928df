/**
 * `decionis/express`: a route middleware that gates a route on a decision, and
 * an error handler that answers SDK errors as RFC 9457 problems (Express 5).
 *
 * @example
 * // import { … } from decionis/express (the sub-path)
 * app.post("/orders", express.json(), gateRoute({
 *   action: "PLACE_ORDER",
 *   actor: (req) => ({ id: req.get("x-account-id") ?? "anonymous", type: "CUSTOMER" }),
 *   context: (req) => ({ notional: req.body.qty * req.body.price }),
 * }), placeOrder);
 * app.use(decionisErrorHandler());
 */
// Fails at import, naming the package, when Express is not installed; otherwise it is the app's own copy, already loaded.
import "express";
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from "express";
import { toHttpProblem } from "../http.js";
import { routeGate, untilResponseEnds, type RouteGateOptions } from "../route.js";

export { toHttpProblem, PROBLEM_CONTENT_TYPE, type HttpProblem, type DecionisProblem } from "../http.js";
export type { RequestResolvable, RouteGateOptions } from "../route.js";

/**
 * Gates a route: builds the intent from the request (after your body parser
 * and authentication), asks the authority, and calls `next()` only on a
 * verified ALLOW (at once in SHADOW mode). Anything else
 * goes to `next(error)` with the SDK's typed error, which
 * {@link decionisErrorHandler} answers (403, 202, 503, 400, ...).
 *
 * @example
 * app.delete("/users/:id", requireAdmin, gateRoute({
 *   action: "DELETE_USER",
 *   actor: (req) => ({ id: req.user.id, type: "ADMIN" }),
 *   resource: (req) => `user:${req.params.id}`,
 * }), deleteUser);
 *
 * @throws {@link ConfigurationError} at declaration for options without an `action`.
 */
export function gateRoute<Req extends Request = Request>(options: RouteGateOptions<Req>): RequestHandler {
  const run = routeGate(options);
  return (req: Request, res: Response, next: NextFunction): void => {
    const route = (req as { route?: { path?: unknown } }).route?.path;
    const operation = `${req.method} ${req.baseUrl}${typeof route === "string" ? route : req.path}`;
    let passed = false;
    run(req as Req, operation, () => {
      passed = true;
      return untilResponseEnds(res, next);
    }).catch((error: unknown) => {
      // After `next()` the route owns the request: its own failures went to Express already.
      if (!passed) next(error);
    });
  };
}

/**
 * An Express error handler that answers SDK errors with their HTTP mapping as
 * `application/problem+json` and passes every other error on. Register it
 * after your routes.
 *
 * @example
 * app.use(decionisErrorHandler());
 */
export function decionisErrorHandler(): ErrorRequestHandler {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    const problem = toHttpProblem(error);
    if (problem === undefined || res.headersSent) {
      next(error);
      return;
    }
    res.status(problem.status).set(problem.headers).send(JSON.stringify(problem.body));
  };
}
