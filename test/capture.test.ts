/**
 * Bad input fails before any request, with a ValidationError that names the
 * path and says how to fix it. Driven through the public API against a real
 * HTTP server that must see no request at all.
 */
import { DecionisClient, gate, InvalidCorrelationIdError, ValidationError, type IntentInput } from "../src/index.js";
import { useTestAuthority } from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_capture" });
let client: DecionisClient;
beforeAll(() => {
  client = authority.client();
});

const base: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
};

class Money {
  constructor(readonly amount: number) {}
}

/** A value with behaviour: an accessor on its class. */
class Price {
  get amount(): number {
    return 1;
  }
}

function deep(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 1; i < levels; i++) {
    const next: Record<string, unknown> = {};
    node["d"] = next;
    node = next;
  }
  return root;
}

const cyclic: Record<string, unknown> = { a: 1 };
cyclic["self"] = cyclic;

const cases: [string, Partial<IntentInput> & Record<string, unknown>, string, RegExp][] = [
  ["a missing actor id", { actor: { type: "BOT" } as never }, "actor.id", /required.*actor/],
  ["an empty actor id", { actor: { id: "", type: "BOT" } }, "actor.id", /empty/],
  ["a missing action type", { action: { resource: "x" } as never }, "action.type", /required/],
  ["a function", { parameters: { cb: () => 1 } }, "parameters.cb", /function is not JSON data/],
  ["a symbol", { context: { s: Symbol("x") } }, "context.s", /symbol is not JSON data/],
  ["a BigInt", { parameters: { qty: 10n } }, "parameters.qty", /bigint is not JSON data.*string/],
  ["a Date", { context: { order: { placedAt: new Date() } } }, "context.order.placedAt", /a Date.*toISOString/],
  [
    "a class instance with an accessor",
    { parameters: { price: new Price() } },
    "parameters.price",
    /a Price is not JSON data/,
  ],
  ["a Map", { parameters: { m: new Map() } }, "parameters.m", /a Map/],
  ["NaN", { parameters: { px: Number.NaN } }, "parameters.px", /NaN is not JSON data/],
  ["Infinity", { parameters: { list: [1, Number.POSITIVE_INFINITY] } }, "parameters.list[1]", /Infinity/],
  ["a cycle", { context: { c: cyclic } }, "context.c.self", /cycle/],
  ["a __proto__ key", { parameters: JSON.parse('{"__proto__": {"x": 1}}') }, "parameters.__proto__", /not allowed/],
  ["a constructor key", { parameters: { a: { constructor: 1 } } }, "parameters.a.constructor", /not allowed/],
  ["nesting over 20 levels", { parameters: deep(21) }, "parameters", /deeper than 20/],
  ["an array as parameters", { parameters: [1, 2] as never }, "parameters", /plain object/],
  ["a tenant with a bar", { tenantId: "a|b" }, "tenantId", /"\|"/],
  ["an oversized idempotency key", { idempotencyKey: "k".repeat(181) }, "idempotencyKey", /180/],
];

describe("bad input fails before any request", () => {
  it.each(cases)("%s", async (_what, patch, path, message) => {
    const error = (await client.enforce({ ...base, ...patch }).catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.path.startsWith(path)).toBe(true);
    expect(error.message).toMatch(message);
    expect(authority.requests).toHaveLength(0);
  });

  it("accepts exactly 20 levels", async () => {
    await expect(client.enforce({ ...base, parameters: deep(20) })).resolves.toMatchObject({
      status: "ALLOW",
    });
  });

  it("counts object members and array elements across parameters and context (5,000)", async () => {
    const half = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`k${i}`, i]));
    await expect(client.enforce({ ...base, parameters: half, context: half })).resolves.toBeDefined();
    authority.requests.length = 0;
    const error = await client
      .enforce({ ...base, parameters: half, context: { ...half, one: [1] } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/5000 object members/);
    expect(authority.requests).toHaveLength(0);
  });

  it("refuses a canonical binding over 100 KiB", async () => {
    const error = await client
      .enforce({ ...base, parameters: { blob: "x".repeat(101 * 1024) } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/100 KiB/);
    expect(authority.requests).toHaveLength(0);
  });

  it("captures a DTO (a class instance of data, as class-transformer makes it) as the plain object it is", async () => {
    class OrderDto {
      symbol = "EURUSD";
      qty = 2;
      legs = [new Money(1)];
    }
    await client.enforce({ ...base, parameters: { order: new OrderDto() } });
    await client.enforce({ ...base, parameters: { order: { symbol: "EURUSD", qty: 2, legs: [{ amount: 1 }] } } });
    const [dto, plain] = authority.requests.map((r) => r.json.action.parameters);
    expect(dto).toEqual({ order: { legs: [{ amount: 1 }], qty: 2, symbol: "EURUSD" } });
    expect(dto).toEqual(plain);
  });

  it("refuses a DTO with behaviour: an own accessor, a toJSON, a function value", async () => {
    class WithToJson {
      a = 1;
      toJSON() {
        return { a: 2 };
      }
    }
    const ownGetter = Object.defineProperty(new Money(1), "cents", { get: () => 100, enumerable: true });
    class WithFn {
      run = () => 1;
    }
    for (const [value, path] of [
      [new WithToJson(), "parameters.v"],
      [ownGetter, "parameters.v"],
      [new WithFn(), "parameters.v.run"],
    ] as const) {
      const error = (await client
        .enforce({ ...base, parameters: { v: value } })
        .catch((e: unknown) => e)) as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.path).toBe(path);
    }
    expect(authority.requests).toHaveLength(0);
  });

  it("drops undefined members and writes undefined array elements as null, as JSON does", async () => {
    await client.enforce({ ...base, parameters: { a: undefined, b: [undefined, 1] } });
    expect(authority.requests[0]!.json.action.parameters).toEqual({ b: [null, 1] });
  });

  it("requires a tenant from the call, the client or the environment", async () => {
    const noTenant = new DecionisClient({ apiKey: "k", baseUrl: authority.url });
    const error = await noTenant.enforce(base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("tenantId");
    expect((error as Error).message).toMatch(/DECIONIS_TENANT_ID/);
    await expect(noTenant.enforce({ ...base, tenantId: "acme" })).resolves.toBeDefined();
    await noTenant.close();
  });

  it("rejects a malformed correlation id with InvalidCorrelationIdError", async () => {
    const error = await client.enforce({ ...base, correlationId: "t:acme|c:not-a-uuid" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCorrelationIdError);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as InvalidCorrelationIdError).code).toBe("INVALID_CORRELATION_ID");
    expect(authority.requests).toHaveLength(0);
  });

  it("sends a caller's valid correlation id unchanged, in the body and the header", async () => {
    const correlationId = "t:acme|c:0193f1c2-7a1b-7c3d-9e4f-0a1b2c3d4e5f";
    await client.enforce({ ...base, correlationId });
    expect(authority.requests[0]!.json.correlation_id).toBe(correlationId);
    expect(authority.requests[0]!.headers["x-correlation-id"]).toBe(correlationId);
  });
});

describe("gate input", () => {
  it("names the parameters option when default arguments are not JSON data", async () => {
    const place = gate(async (_order: { at: Date }) => "placed", {
      client,
      action: "PLACE",
      actor: { id: "bot", type: "BOT" },
    });
    const error = (await place({ at: new Date() }).catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.path).toBe("parameters.args[0].at");
    expect(error.message).toMatch(/`parameters` option/);
    expect(authority.requests).toHaveLength(0);
  });

  it("turns a throwing resolver into a ValidationError naming the option", async () => {
    const place = gate(async (order?: { symbol: string }) => order, {
      client,
      action: "PLACE",
      actor: { id: "bot", type: "BOT" },
      resource: (order) => order!.symbol,
    });
    const error = (await place(undefined).catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.path).toBe("resource");
    expect(authority.requests).toHaveLength(0);
  });
});

describe("what hooks and gateways see of an intent", () => {
  it("a frozen intent whose binding is readable and serialised", async () => {
    const seen: { intent: import("../src/index.js").ExecutionIntent }[] = [];
    const observed = authority.client({ hooks: { onDecision: (event) => seen.push(event) } });
    await observed.enforce({ ...base, parameters: { qty: 5 } });
    const intent = seen[0]!.intent;
    expect(Object.isFrozen(intent)).toBe(true);
    expect(intent.binding.action).toEqual({ type: "OPEN_POSITION", resource: "EURUSD", parameters: { qty: 5 } });
    expect(intent.binding).toBe(intent.binding); // parsed once
    const json = JSON.parse(JSON.stringify(intent)) as Record<string, unknown>;
    expect(json["binding"]).toEqual(intent.binding);
    expect(json["intentHash"]).toBe(intent.intentHash);
    expect(json["body"]).toBe(intent.body);
    expect(() => {
      (intent as { intentHash: string }).intentHash = "x";
    }).toThrow(TypeError);
  });

  it("a gateway's request serialises with its parsed form", async () => {
    let request: import("../src/index.js").EnforceRequest | undefined;
    const gatewayClient = new DecionisClient({
      tenantId: "acme",
      verify: "none",
      gateway: {
        enforceAndBind: async (r) => {
          request = r;
          return Promise.reject(new Error("stop here"));
        },
      },
    });
    await gatewayClient.enforce(base).catch(() => undefined);
    const json = JSON.parse(JSON.stringify(request)) as Record<string, unknown>;
    expect(json["request"]).toEqual(JSON.parse(request!.body));
    expect(json["idempotencyKey"]).toBe(request!.idempotencyKey);
  });
});
