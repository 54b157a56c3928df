/**
 * decionis/express on a real Express 5 app over HTTP (127.0.0.1:0), against
 * the local authority: gateRoute with its request resolvers (params, body,
 * an authenticated user), every outcome's HTTP mapping, the handler running
 * only on ALLOW, and errors that are not ours left to Express.
 */
import type http from "node:http";
import express, { type Request } from "express";
import { decionisErrorHandler, gateRoute } from "../../src/integrations/express/index.js";
import { ConfigurationError } from "../../src/index.js";
import { baseUrlOf, expectProblem, request, startHarness, type Harness } from "./helpers.js";

type Authed = Request & { user?: { id: string } };

let h: Harness;
let server: http.Server;
let base: string;
const ran: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  const app = express();
  app.use(express.json());
  // An authentication middleware before the gate: resolvers see req.user.
  app.use((req: Authed, _res, next) => {
    const id = req.get("x-user");
    if (id !== undefined) req.user = { id };
    next();
  });
  const orderGate = gateRoute<Authed>({
    client: h.client,
    action: "PLACE_ORDER",
    actor: (req) => ({ id: req.user?.id ?? "anonymous", type: "CUSTOMER" }),
    resource: (req) => String(req.params["symbol"]),
    context: (req) => ({ qty: (req.body as { qty: number }).qty }),
  });
  app.post("/orders/:symbol", orderGate, (req, res) => {
    ran.push(`order ${String(req.params["symbol"])}`);
    res.status(201).json({ placed: req.params["symbol"] });
  });
  // Default parameters: { params, query, body } — a body that is not JSON data is a 400 naming the field.
  app.get(
    "/accounts/:id",
    gateRoute({ client: h.client, action: "READ_ACCOUNT", actor: { id: "u1", type: "CUSTOMER" } }),
    (req, res) => {
      ran.push(`read ${String(req.params["id"])}`);
      res.json({ id: req.params["id"] });
    },
  );
  app.post(
    "/down",
    gateRoute({ client: h.deadClient, action: "PLACE_ORDER", actor: { id: "u1", type: "CUSTOMER" } }),
    () => {
      ran.push("down");
    },
  );
  app.get("/boom", () => {
    throw new Error("not a decionis error");
  });
  app.use(decionisErrorHandler());
  // Express's own handler would print a stack page; ours says 500 for errors that are not the SDK's.
  app.use((_error: unknown, _req: Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).send("app error");
  });
  server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  base = baseUrlOf(server);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await h.close();
});

beforeEach(() => {
  ran.length = 0;
});

test("ALLOW runs the handler once; the intent was built from the user, params and body", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 5 }, { "x-user": "alice" });
  expect(reply.status).toBe(201);
  expect(reply.json).toEqual({ placed: "EURUSD" });
  expect(ran).toEqual(["order EURUSD"]);
  const [entry] = h.authority.decisions().slice(-1);
  expect(entry?.decision.status).toBe("ALLOW");
  const decided = JSON.stringify(entry?.request);
  expect(decided).toContain('"alice"');
  expect(decided).toContain('"EURUSD"');
});

test("BLOCK is a 403 problem with the decision id, reason codes and dossier URL; the handler never runs", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 5000 }, { "x-user": "alice" });
  expectProblem(reply, 403, "BLOCK", "QTY_LIMIT_EXCEEDED");
  expect(reply.json.dossier_url).toMatch(/\/dossiers\/dos_/);
  expect(reply.json.detail).toBe("Quantity above 1,000");
  expect(reply.headers.get("cache-control")).toBe("no-store");
  expect(ran).toEqual([]);
});

test.each([
  ["ESCALATE", { qty: 500 }, "/orders/EURUSD", "LARGE_ORDER"],
  ["REVIEW_REQUIRED", { qty: 1 }, "/orders/XAGUSD", "EXOTIC_SYMBOL"],
])(
  "%s is a 202 problem with the escalation id and dossier URL; the handler never runs",
  async (status, body, path, reason) => {
    const reply = await request(base, "POST", path, body, { "x-user": "alice" });
    expectProblem(reply, 202, status, reason);
    expect(reply.json.escalation_id).toMatch(/^esc_/);
    expect(reply.json.dossier_url).toMatch(/\/dossiers\/dos_/);
    expect(ran).toEqual([]);
  },
);

test("an authority that cannot be reached is a 503 problem without a decision; the handler never runs", async () => {
  const reply = await request(base, "POST", "/down", { qty: 1 });
  expectProblem(reply, 503, null);
  expect(reply.json).toMatchObject({ decision_id: null, reason_codes: [], dossier_url: null, code: "RETRY_EXHAUSTED" });
  expect(ran).toEqual([]);
});

test("a request the intent cannot be built from is a 400 naming the field, before any request to the authority", async () => {
  const before = h.authority.decisions().length;
  // An actor id over 200 characters comes from the request: the caller's fault.
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 1 }, { "x-user": "a".repeat(201) });
  expectProblem(reply, 400, null);
  expect(reply.json.detail).toMatch(/^actor\.id: /);
  expect(h.authority.decisions().length).toBe(before);
  expect(ran).toEqual([]);
});

test("default parameters are the route's params and query, and the resource its path", async () => {
  const reply = await request(base, "GET", "/accounts/42?view=full");
  expect(reply.status).toBe(200);
  expect(ran).toEqual(["read 42"]);
  const [entry] = h.authority.decisions().slice(-1);
  const decided = JSON.stringify(entry?.request);
  expect(decided).toContain('"/accounts/42"');
  expect(entry?.request.action.parameters).toEqual({ params: { id: "42" }, query: { view: "full" } });
  expect(entry?.request.downstream_target.operation).toBe("GET /accounts/:id");
});

test("errors that are not the SDK's pass through to the app's own handler", async () => {
  const reply = await request(base, "GET", "/boom");
  expect(reply.status).toBe(500);
  expect(reply.text).toBe("app error");
});

test("a gate without an action fails at declaration, not per request", () => {
  expect(() => gateRoute({ action: "", actor: { id: "x", type: "y" } })).toThrow(ConfigurationError);
});
