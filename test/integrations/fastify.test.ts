/**
 * decionis/fastify on a real Fastify 5 app over HTTP (127.0.0.1:0), against
 * the local authority: the plugin's client and error mapping, the route-level
 * preHandler after body parsing, schema validation and an auth hook, every
 * outcome, and errors that are not ours left to the app's handler.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { decionisPlugin, gateRoute } from "../../src/integrations/fastify/index.js";
import { expectProblem, request, startHarness, type Harness } from "./helpers.js";

type OrderRequest = FastifyRequest<{ Params: { symbol: string }; Body: { qty: number } }> & { user?: { id: string } };

let h: Harness;
let app: FastifyInstance;
let base: string;
const ran: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  app = Fastify();
  // The app's own handler, set before the plugin: errors that are not the SDK's still reach it.
  app.setErrorHandler((error, _request, reply) => {
    void reply.code((error as { statusCode?: number }).statusCode ?? 500).send({ appError: true });
  });
  await app.register(decionisPlugin, { client: h.client });
  app.decorateRequest("user", undefined);
  app.addHook("onRequest", async (req) => {
    const id = req.headers["x-user"];
    if (typeof id === "string") (req as { user?: { id: string } }).user = { id };
  });
  app.post(
    "/orders/:symbol",
    {
      schema: {
        body: { type: "object", required: ["qty"], properties: { qty: { type: "integer" } } },
      },
      preHandler: gateRoute<OrderRequest>({
        action: "PLACE_ORDER",
        actor: (req) => ({ id: req.user?.id ?? "anonymous", type: "CUSTOMER" }),
        resource: (req) => req.params.symbol,
        context: (req) => ({ qty: req.body.qty }),
      }),
    },
    async (req: FastifyRequest<{ Params: { symbol: string } }>, reply) => {
      ran.push(`order ${req.params.symbol}`);
      return reply.code(201).send({ placed: req.params.symbol });
    },
  );
  app.get(
    "/accounts/:id",
    { preHandler: gateRoute({ action: "READ_ACCOUNT", actor: { id: "u1", type: "CUSTOMER" } }) },
    async (req: FastifyRequest<{ Params: { id: string } }>) => {
      ran.push(`read ${req.params.id}`);
      return { id: req.params.id };
    },
  );
  app.post(
    "/down",
    { preHandler: gateRoute({ client: h.deadClient, action: "PLACE_ORDER", actor: { id: "u1", type: "CUSTOMER" } }) },
    async () => {
      ran.push("down");
      return {};
    },
  );
  base = await app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app.close();
  await h.close();
});

beforeEach(() => {
  ran.length = 0;
});

test("ALLOW runs the handler once, with the intent built from the user, params and parsed body", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 5 }, { "x-user": "bob" });
  expect(reply.status).toBe(201);
  expect(ran).toEqual(["order EURUSD"]);
  const entry = h.authority.decisions().at(-1);
  expect(entry?.decision.status).toBe("ALLOW");
  expect(entry?.request.actor.id).toBe("bob");
  expect(entry?.request.downstream_target.operation).toBe("POST /orders/:symbol");
  expect(JSON.stringify(entry?.request)).toContain('"qty":5');
});

test("BLOCK is a 403 problem; the handler never runs", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 5000 }, { "x-user": "bob" });
  expectProblem(reply, 403, "BLOCK", "QTY_LIMIT_EXCEEDED");
  expect(reply.json.dossier_url).toMatch(/\/dossiers\/dos_/);
  expect(ran).toEqual([]);
});

test.each([
  ["ESCALATE", { qty: 500 }, "/orders/EURUSD", "LARGE_ORDER"],
  ["REVIEW_REQUIRED", { qty: 1 }, "/orders/XAGUSD", "EXOTIC_SYMBOL"],
])("%s is a 202 problem with the escalation id; the handler never runs", async (status, body, path, reason) => {
  const reply = await request(base, "POST", path, body, { "x-user": "bob" });
  expectProblem(reply, 202, status, reason);
  expect(reply.json.escalation_id).toMatch(/^esc_/);
  expect(ran).toEqual([]);
});

test("an unreachable authority is a 503 problem; the handler never runs", async () => {
  const reply = await request(base, "POST", "/down", {});
  expectProblem(reply, 503, null);
  expect(ran).toEqual([]);
});

test("a request the intent cannot be built from is a 400 naming the field, and asks nothing", async () => {
  const before = h.authority.decisions().length;
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: 1 }, { "x-user": "b".repeat(201) });
  expectProblem(reply, 400, null);
  expect(reply.json.detail).toMatch(/^actor\.id: /);
  expect(h.authority.decisions().length).toBe(before);
});

test("Fastify's own schema validation runs first and its errors stay the app's", async () => {
  const before = h.authority.decisions().length;
  const reply = await request(base, "POST", "/orders/EURUSD", { qty: "many" });
  expect(reply.status).toBe(400);
  expect(reply.json).toEqual({ appError: true });
  expect(h.authority.decisions().length).toBe(before);
});

test("the plugin's client is used by routes that name none; defaults are params, query and path", async () => {
  const reply = await request(base, "GET", "/accounts/7?view=full");
  expect(reply.status).toBe(200);
  expect(ran).toEqual(["read 7"]);
  const entry = h.authority.decisions().at(-1);
  expect(entry?.request.action.resource).toBe("/accounts/7");
  expect(entry?.request.action.parameters).toEqual({ params: { id: "7" }, query: { view: "full" } });
  expect(JSON.stringify(entry?.request)).toContain('"view":"full"');
});
