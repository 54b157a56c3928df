/**
 * decionis/nestjs on a real NestJS 11 app (Express platform) over HTTP
 * (127.0.0.1:0), against the local authority. Runs in the legacy-decorators
 * project: Nest needs experimentalDecorators and emitDecoratorMetadata.
 */
import "reflect-metadata";
import type { AddressInfo } from "node:net";
import {
  Body,
  CanActivate,
  Controller,
  ExecutionContext,
  Get,
  Injectable,
  Module,
  Param,
  Post,
  SetMetadata,
  UseGuards,
  ValidationPipe,
  type INestApplication,
} from "@nestjs/common";
import { NestFactory, Reflector } from "@nestjs/core";
import { IsInt, IsString, Max, Min } from "class-validator";
import { DecionisClient, gate } from "../../../src/index.js";
import { DECIONIS_CLIENT, DecionisModule, Gate } from "../../../src/integrations/nestjs/index.js";
import { API_KEY, TENANT, expectProblem, request, startHarness, type Harness } from "../helpers.js";

type Req = { user?: { id: string }; params: Record<string, string>; body: { qty: number } };
const ran: string[] = [];
const seenRoles: unknown[] = [];

class OrderDto {
  @IsString()
  symbol!: string;
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  qty!: number;
}

/** Authentication: sets req.user from a header, refuses requests without one. */
@Injectable()
class UserGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.get<string[] | undefined>("roles", context.getHandler());
    if (roles !== undefined) seenRoles.push(roles);
    const req = context.switchToHttp().getRequest<Req & { headers: Record<string, string> }>();
    const id = req.headers["x-user"];
    if (id === undefined) return false;
    req.user = { id };
    return true;
  }
}

@Injectable()
class OrdersService {
  constructor(readonly client: DecionisClient) {}
  // No client named: the module's client is the default.
  @gate({
    action: "PLACE_ORDER",
    actor: { id: "orders-service", type: "CUSTOMER" },
    resource: (dto: OrderDto) => dto.symbol,
    parameters: (dto: OrderDto) => ({ symbol: dto.symbol, qty: dto.qty }),
    context: (dto: OrderDto) => ({ qty: dto.qty }),
  })
  async place(dto: OrderDto): Promise<string> {
    ran.push(`service ${dto.symbol} ${dto.qty} ${dto instanceof OrderDto}`);
    return `placed ${dto.symbol}`;
  }

  // The README's shape: default parameters, so the DTO instance itself is captured.
  @gate({
    action: "PLACE_ORDER",
    actor: { id: "orders-service", type: "CUSTOMER" },
    context: (dto: OrderDto) => ({ qty: dto.qty }),
  })
  async placeDefault(dto: OrderDto): Promise<string> {
    ran.push(`default ${dto.symbol}`);
    return `placed ${dto.symbol}`;
  }
}

@Controller("orders")
@UseGuards(UserGuard)
class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post(":symbol")
  @SetMetadata("roles", ["trader"])
  @Gate<Req>({
    action: "PLACE_ORDER",
    actor: (req) => ({ id: req.user!.id, type: "CUSTOMER" }),
    resource: (req) => req.params["symbol"]!,
    parameters: (req) => ({ symbol: req.params["symbol"]!, qty: req.body.qty }),
    context: (req) => ({ qty: req.body.qty }),
  })
  async place(@Param("symbol") symbol: string, @Body() dto: OrderDto): Promise<{ placed: string; dto: boolean }> {
    ran.push(`route ${symbol} ${dto.qty}`);
    return { placed: symbol, dto: dto instanceof OrderDto };
  }

  @Get(":symbol")
  @Gate<Req>({ action: "READ_ORDER", actor: (req) => ({ id: req.user!.id, type: "CUSTOMER" }) })
  read(@Param("symbol") symbol: string): { symbol: string } {
    ran.push(`read ${symbol}`);
    return { symbol };
  }

  /** `@gate` (the method decorator) on a handler, with SetMetadata read by the guard's Reflector. */
  @Post(":symbol/quick")
  @SetMetadata("roles", ["quick"])
  @gate({
    action: "PLACE_ORDER",
    actor: { id: "quick", type: "CUSTOMER" },
    resource: (symbol: string) => symbol,
    parameters: (symbol: string, dto: OrderDto) => ({ symbol, qty: dto.qty }),
    context: (_symbol: string, dto: OrderDto) => ({ qty: dto.qty }),
  })
  async quick(@Param("symbol") symbol: string, @Body() _dto: OrderDto): Promise<string> {
    ran.push(`quick ${symbol}`);
    return "ok";
  }

  @Post(":symbol/service")
  async viaService(@Body() dto: OrderDto): Promise<string> {
    return this.orders.place(dto);
  }

  @Post(":symbol/dto")
  async viaDefault(@Body() dto: OrderDto): Promise<string> {
    return this.orders.placeDefault(dto);
  }
}

let h: Harness;
let app: INestApplication;
let base: string;

async function startApp(imports: unknown[]): Promise<INestApplication> {
  @Module({ imports: imports as never[], controllers: [OrdersController], providers: [OrdersService, UserGuard] })
  class AppModule {}
  const nest = await NestFactory.create(AppModule, { logger: false });
  nest.useGlobalPipes(new ValidationPipe({ transform: true }));
  await nest.listen(0, "127.0.0.1");
  return nest;
}

beforeAll(async () => {
  h = await startHarness();
  // forRootAsync: options from a factory; the module builds, injects and sets the default client.
  app = await startApp([
    DecionisModule.forRootAsync({
      useFactory: async () => ({
        baseUrl: h.authority.url,
        apiKey: API_KEY,
        tenantId: TENANT,
        system: "nest",
        maxRetries: 0,
      }),
    }),
  ]);
  base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  await h.close();
});

beforeEach(() => {
  ran.length = 0;
  seenRoles.length = 0;
});

const user = { "x-user": "carol" };

test("the module's client is injectable by token and by type, and is the default of @gate", () => {
  const byToken = app.get<DecionisClient>(DECIONIS_CLIENT);
  expect(byToken).toBeInstanceOf(DecionisClient);
  expect(app.get(DecionisClient)).toBe(byToken);
  expect(app.get(OrdersService).client).toBe(byToken);
});

test("@Gate + @Post: ALLOW runs the handler once, after the guard, with the DTO from ValidationPipe", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 5 }, user);
  expect(reply.status).toBe(201);
  expect(reply.json).toEqual({ placed: "EURUSD", dto: true });
  expect(ran).toEqual(["route EURUSD 5"]);
  expect(seenRoles).toEqual([["trader"]]);
  const entry = h.authority.decisions().at(-1);
  expect(entry?.decision.status).toBe("ALLOW");
  expect(entry?.request.actor.id).toBe("carol");
  expect(entry?.request.downstream_target).toEqual({ system: "nest", operation: "OrdersController.place" });
});

test("@Gate + @Get with default parameters and resource", async () => {
  const reply = await request(base, "GET", "/orders/EURUSD?x=1", undefined, user);
  expect(reply.status).toBe(200);
  expect(ran).toEqual(["read EURUSD"]);
  const entry = h.authority.decisions().at(-1);
  expect(entry?.request.action.resource).toBe("/orders/EURUSD");
  expect(entry?.request.action.parameters).toEqual({ params: { symbol: "EURUSD" }, query: { x: "1" } });
});

test("BLOCK → 403 problem; the handler never runs", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 5000 }, user);
  expectProblem(reply, 403, "BLOCK", "QTY_LIMIT_EXCEEDED");
  expect(ran).toEqual([]);
});

test.each([
  ["ESCALATE", "/orders/EURUSD", { symbol: "EURUSD", qty: 500 }, "LARGE_ORDER"],
  ["REVIEW_REQUIRED", "/orders/XAGUSD", { symbol: "XAGUSD", qty: 1 }, "EXOTIC_SYMBOL"],
])("%s → 202 problem with the escalation id; the handler never runs", async (status, path, body, reason) => {
  const reply = await request(base, "POST", path, body, user);
  expectProblem(reply, 202, status, reason);
  expect(reply.json.escalation_id).toMatch(/^esc_/);
  expect(ran).toEqual([]);
});

test("the guard runs before the gate: a refused request asks nothing", async () => {
  const before = h.authority.decisions().length;
  const reply = await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 5 });
  expect(reply.status).toBe(403);
  expect(reply.json.message).toBe("Forbidden resource");
  expect(h.authority.decisions().length).toBe(before);
});

test("ValidationPipe still refuses a bad body (400) and the handler never runs", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: "many" }, user);
  expect(reply.status).toBe(400);
  expect(ran).toEqual([]);
});

test("@gate on a handler keeps @Post and SetMetadata (read by the guard's Reflector)", async () => {
  const ok = await request(base, "POST", "/orders/EURUSD/quick", { symbol: "EURUSD", qty: 2 }, user);
  expect(ok.status).toBe(201);
  expect(ok.text).toBe("ok");
  expect(seenRoles).toEqual([["quick"]]);
  const blocked = await request(base, "POST", "/orders/EURUSD/quick", { symbol: "EURUSD", qty: 5000 }, user);
  expectProblem(blocked, 403, "BLOCK", "QTY_LIMIT_EXCEEDED");
  expect(ran).toEqual(["quick EURUSD"]);
});

test("@gate on an injected service uses the module's client; its BLOCK is answered by the filter", async () => {
  const ok = await request(base, "POST", "/orders/EURUSD/service", { symbol: "EURUSD", qty: 3 }, user);
  expect(ok.status).toBe(201);
  expect(ok.text).toBe("placed EURUSD");
  expect(ran).toEqual(["service EURUSD 3 true"]);
  const blocked = await request(base, "POST", "/orders/EURUSD/service", { symbol: "EURUSD", qty: 5000 }, user);
  expectProblem(blocked, 403, "BLOCK", "QTY_LIMIT_EXCEEDED");
  expect(ran).toEqual(["service EURUSD 3 true"]);
});

// Issue #11 item 5: a DTO class instance (own data properties, as class-transformer makes it) is captured as
// the plain object it holds; before, it was refused as "not JSON data" and the route answered 400.
test("@gate with default parameters captures a ValidationPipe DTO instance as plain data", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD/dto", { symbol: "EURUSD", qty: 4 }, user);
  expect(reply.status).toBe(201);
  expect(reply.text).toBe("placed EURUSD");
  expect(ran).toEqual(["default EURUSD"]);
  expect(h.authority.decisions().at(-1)?.request.action.parameters).toEqual({ args: [{ symbol: "EURUSD", qty: 4 }] });
});

test("forRoot with an unreachable authority: 503 problem, nothing runs", async () => {
  const down = await startApp([DecionisModule.forRoot({ client: h.deadClient })]);
  try {
    const port = (down.getHttpServer().address() as AddressInfo).port;
    const reply = await request(
      `http://127.0.0.1:${port}`,
      "POST",
      "/orders/EURUSD",
      { symbol: "EURUSD", qty: 1 },
      user,
    );
    expectProblem(reply, 503, null);
    expect(ran).toEqual([]);
  } finally {
    await down.close();
  }
});
