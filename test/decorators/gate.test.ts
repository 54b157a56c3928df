/**
 * The decorator suite. jest runs this file twice: once compiled with TC39
 * decorators and once with legacy `experimentalDecorators` (two projects in
 * jest.config.js), so every behaviour here holds under both standards.
 * A mock gateway stands in for the network: these are unit tests of the adapters.
 */
import "reflect-metadata";
import {
  BlockedError,
  ConfigurationError,
  DecionisClient,
  decionisGate,
  gate,
  gated,
  getGatedMethods,
  setDefaultClient,
  ValidationError,
} from "../../src/index.js";
import { allowAnswer, MockGateway } from "../helpers/mock-gateway.js";

interface Order {
  symbol: string;
  qty: number;
  price: number;
}

/** A metadata decorator in the style of NestJS's SetMetadata, for both standards. */
function SetMeta(key: string, value: unknown) {
  return (...args: any[]): any => {
    const fn = args.length === 2 ? args[0] : (args[2] as PropertyDescriptor).value;
    Reflect.defineMetadata(key, value, fn as object);
  };
}

const gateway = new MockGateway();
const client = new DecionisClient({ gateway, tenantId: "trading_client_001", system: "broker" });
const order: Order = { symbol: "EURUSD", qty: 1000, price: 1.1 };

beforeEach(() => {
  gateway.requests.length = 0;
  gateway.respond = (r) => allowAnswer(r);
});

class TradingBot {
  opened: Order[] = [];
  constructor(readonly name = "bot-1") {}

  @gate({
    client,
    action: "OPEN_POSITION",
    policy: "cfd-risk-policy",
    actor: { id: "cfd_bot_7", type: "TRADING_BOT" },
    resource: (o: Order) => o.symbol,
    context: (o: Order) => ({ notional: o.qty * o.price }),
  })
  async openPosition(o: Order, note?: string): Promise<string> {
    this.opened.push(o);
    return `${this.name}:${o.symbol}:${note ?? ""}`;
  }

  @gate({ client, action: "CLOSE_ALL", actor: { id: "cfd_bot_7", type: "TRADING_BOT" } })
  async closeAll(): Promise<number> {
    throw new RangeError("broker closed");
  }

  @gate({ client, action: "STATIC_OP", actor: { id: "ops", type: "SERVICE" }, resource: "all" })
  static async reset(reason: string): Promise<string> {
    return `reset:${reason}`;
  }
}

describe("@gate on a method", () => {
  it("runs on ALLOW with its own this and arguments, and returns its result", async () => {
    const bot = new TradingBot("alpha");
    await expect(bot.openPosition(order, "n1")).resolves.toBe("alpha:EURUSD:n1");
    expect(bot.opened).toEqual([order]);
    const sent = gateway.last.request;
    expect(sent.action).toEqual({
      type: "OPEN_POSITION",
      resource: "EURUSD",
      parameters: { args: [order, "n1"] },
    });
    expect(sent.context).toEqual({ notional: 1100 });
    expect(sent.policy_refs).toEqual(["cfd-risk-policy"]);
    expect(sent.actor).toEqual({ id: "cfd_bot_7", type: "TRADING_BOT", runtime: "node" });
    expect(sent.downstream_target).toEqual({ system: "broker", operation: "TradingBot.openPosition" });
    expect(sent.tenant_id).toBe("trading_client_001");
  });

  it("runs nothing on BLOCK and throws BlockedError", async () => {
    gateway.respond = (r) =>
      allowAnswer(r, {
        status: "BLOCK",
        should_execute: false,
        execution_token: null,
        execution_token_expires_at: null,
        reason_codes: ["NOTIONAL_LIMIT"],
      });
    const bot = new TradingBot();
    const error = await bot.openPosition(order).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedError);
    expect((error as BlockedError).reasonCodes).toEqual(["NOTIONAL_LIMIT"]);
    expect(bot.opened).toEqual([]);
  });

  it("passes the method's own error through untouched, after one decision", async () => {
    await expect(new TradingBot().closeAll()).rejects.toThrow(RangeError);
    expect(gateway.requests).toHaveLength(1);
  });

  it("keeps the method's name and length", () => {
    expect(TradingBot.prototype.openPosition.name).toBe("openPosition");
    expect(TradingBot.prototype.openPosition.length).toBe(2);
  });

  it("gates static methods, named after their class", async () => {
    await expect(TradingBot.reset("eod")).resolves.toBe("reset:eod");
    expect(gateway.last.request.downstream_target.operation).toBe("TradingBot.reset");
  });

  it("names the declaring class for an inherited method", async () => {
    class FastBot extends TradingBot {}
    await new FastBot().openPosition(order);
    expect(gateway.last.request.downstream_target.operation).toBe("TradingBot.openPosition");
  });
});

describe("metadata", () => {
  class Controller {
    @SetMeta("route", "/orders")
    @gate({ client, action: "A", actor: { id: "c", type: "SERVICE" } })
    async above(): Promise<number> {
      return 1;
    }

    @gate({ client, action: "B", actor: { id: "c", type: "SERVICE" } })
    @SetMeta("route", "/positions")
    async below(): Promise<number> {
      return 2;
    }
  }

  it("survives on the method whichever side of @gate it was set", () => {
    expect(Reflect.getMetadata("route", Controller.prototype.above)).toBe("/orders");
    expect(Reflect.getMetadata("route", Controller.prototype.below)).toBe("/positions");
  });

  it("records the gate's options under gate.KEY on the method", () => {
    expect(Reflect.getMetadata(gate.KEY, Controller.prototype.below)).toMatchObject({ action: "B" });
    expect(decionisGate.KEY).toBe(gate.KEY);
  });

  it("lists gated methods with getGatedMethods, inherited ones too", () => {
    expect(
      getGatedMethods(TradingBot)
        .map((m) => `${m.static ? "static " : ""}${String(m.name)}`)
        .sort(),
    ).toEqual(["closeAll", "openPosition", "static reset"]);
    class Sub extends Controller {}
    expect(
      getGatedMethods(Sub)
        .map((m) => m.name)
        .sort(),
    ).toEqual(["above", "below"]);
    expect(getGatedMethods(Sub).find((m) => m.name === "above")?.options.action).toBe("A");
  });
});

describe("@gated class defaults", () => {
  @gated({ client, actor: { id: "billing-svc", type: "SERVICE" }, policy: "billing", tenantId: "tenant_b" })
  class Billing {
    @gate({ action: "REFUND", resource: (id: string) => id })
    async refund(id: string): Promise<string> {
      return `refunded ${id}`;
    }

    @gate({ action: "VOID", actor: { id: "supervisor", type: "HUMAN" }, policy: "void-policy" })
    async void(id: string): Promise<string> {
      return `voided ${id}`;
    }
  }

  it("supply client, actor, policy and tenant", async () => {
    await expect(new Billing().refund("inv_1")).resolves.toBe("refunded inv_1");
    expect(gateway.last.request).toMatchObject({
      actor: { id: "billing-svc", type: "SERVICE" },
      policy_refs: ["billing"],
      tenant_id: "tenant_b",
      action: { type: "REFUND", resource: "inv_1" },
    });
  });

  it("lose to the method's own options", async () => {
    await new Billing().void("inv_2");
    expect(gateway.last.request).toMatchObject({ actor: { id: "supervisor" }, policy_refs: ["void-policy"] });
  });
});

describe("the default client", () => {
  afterEach(() => {
    setDefaultClient(undefined);
  });

  class Late {
    @gate({ action: "LATE", actor: { id: "l", type: "SERVICE" } })
    async go(): Promise<string> {
      return "went";
    }
  }

  it("is resolved at call time, not at decoration", async () => {
    const otherGateway = new MockGateway();
    setDefaultClient(new DecionisClient({ gateway: otherGateway, tenantId: "t" }));
    await expect(new Late().go()).resolves.toBe("went");
    expect(otherGateway.requests).toHaveLength(1);
  });

  it("built from an environment without a key fails the call, closed", async () => {
    const saved = process.env["DECIONIS_API_KEY"];
    delete process.env["DECIONIS_API_KEY"];
    try {
      const error = await new Late().go().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/DECIONIS_API_KEY/);
    } finally {
      if (saved !== undefined) process.env["DECIONIS_API_KEY"] = saved;
    }
  });
});

describe("client.gate", () => {
  const refunds: string[] = [];
  class Agent {
    @client.gate({
      action: "REFUND",
      actor: { id: "agent", type: "AI_AGENT" },
      idempotencyKey: (id: string) => `refund-${id}`,
    })
    async refund(id: string): Promise<void> {
      refunds.push(id);
    }
  }

  it("binds the decorator to the client", async () => {
    await new Agent().refund("o-1");
    expect(refunds).toEqual(["o-1"]);
    expect(gateway.last.idempotencyKey).toBe("refund-o-1");
  });
});

describe("typing", () => {
  class Payments {
    @gate({
      client,
      action: "CHARGE",
      actor: { id: "p", type: "SERVICE" },
      resource: (customerId: string) => customerId,
    })
    async charge(customerId: string, amountMinor: number): Promise<string> {
      return `${customerId}:${amountMinor}`;
    }
  }

  class Mismatch {
    // @ts-expect-error — the resolver reads a number where the method takes a string
    @gate({ client, action: "X", actor: { id: "p", type: "SERVICE" }, resource: (n: number) => String(n) })
    async run(id: string): Promise<string> {
      return id;
    }
  }

  class NotAsync {
    // @ts-expect-error — a gated method must return a promise
    @gate({ client, action: "X", actor: { id: "p", type: "SERVICE" } })
    run(): string {
      return "sync";
    }
  }

  it("resolvers may read a prefix of the method's arguments", async () => {
    await expect(new Payments().charge("cus_1", 500)).resolves.toBe("cus_1:500");
    expect(gateway.last.request.action.resource).toBe("cus_1");
    expect(typeof Mismatch).toBe("function");
    expect(typeof NotAsync).toBe("function");
  });
});

describe("misuse fails at decoration", () => {
  it("requires an action", () => {
    expect(() => gate({ client } as never)).toThrow(ConfigurationError);
  });

  it("names a missing actor at call time, before any request", async () => {
    const f = gate(async () => 1, { client, action: "X" });
    await expect(f()).rejects.toBeInstanceOf(ValidationError);
    expect(gateway.requests).toHaveLength(0);
  });
});
