/**
 * A trading bot whose `openPosition` is gated with `@gate` (TC39 decorators):
 * every order asks the authority first, and reaches the broker only on ALLOW.
 * Run by `npm run demo` (examples/demo.ts).
 */
import { BlockedError, gate, type GateOptions } from "../src/index.js";

export interface Order {
  clientOrderId: string;
  symbol: string;
  side: "BUY" | "SELL";
  qty: number;
  price: number;
  leverage: number;
}

/** Stands in for a real broker API. */
export class PaperBroker {
  readonly filled: Order[] = [];
  async open(order: Order): Promise<string> {
    this.filled.push(order);
    return `fill_${this.filled.length}`;
  }
}

// No `client`: the gate uses the default client (setDefaultClient / configure), resolved at call time.
const openPositionGate: GateOptions<[Order]> = {
  action: "OPEN_POSITION",
  policy: "cfd-risk-policy",
  actor: { id: "cfd_bot_7", type: "TRADING_BOT" },
  resource: (order) => order.symbol,
  parameters: (order) => ({ side: order.side, qty: order.qty, price: order.price }),
  context: (order) => ({ notional: order.qty * order.price, leverage: order.leverage }),
  idempotencyKey: (order) => order.clientOrderId,
  target: { system: "paper-broker", endpoint: "POST /orders" },
};

export class TradingBot {
  constructor(private readonly broker: PaperBroker) {}

  @gate(openPositionGate)
  async openPosition(order: Order): Promise<string> {
    return this.broker.open(order);
  }

  /** The same gate, but an escalated order waits for a person's decision and then runs once. */
  @gate({ ...openPositionGate, escalation: "wait", waitTimeoutMs: 30_000 })
  async openPositionOnceApproved(order: Order): Promise<string> {
    return this.broker.open(order);
  }
}

const money = (n: number): string => n.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** What a blocked call tells you: everything on BlockedError. */
export function describeBlocked(error: BlockedError): string[] {
  return [
    `   ${error.status}  ${error.reasonCodes.join(", ")}`,
    `     why:        ${error.explanation ?? "(no explanation)"}`,
    `     decision:   ${error.decisionId}`,
    ...(error.escalationId === null ? [] : [`     escalation: ${error.escalationId} (waiting for a person)`]),
    `     dossier:    ${error.dossierUrl ?? "(none)"}`,
  ];
}

/** Sends three orders: a small one (allowed), an oversized one (blocked), a large one (escalated). */
export async function tradeThreeOrders(log: (line: string) => void = console.log): Promise<PaperBroker> {
  const broker = new PaperBroker();
  const bot = new TradingBot(broker);
  const orders: [string, Order][] = [
    [
      "Small order",
      { clientOrderId: "ord-1001", symbol: "EURUSD", side: "BUY", qty: 1_000, price: 1.08, leverage: 10 },
    ],
    [
      "Oversized order",
      { clientOrderId: "ord-1002", symbol: "EURUSD", side: "BUY", qty: 2_000_000, price: 1.08, leverage: 10 },
    ],
    [
      "Large order",
      { clientOrderId: "ord-1003", symbol: "GBPUSD", side: "SELL", qty: 200_000, price: 1.27, leverage: 5 },
    ],
  ];
  for (const [i, [label, order]] of orders.entries()) {
    log(`${i + 1}. ${label}: ${describeOrder(order)}`);
    try {
      const fill = await bot.openPosition(order);
      log(`   ALLOW  executed by the broker: ${fill}`);
    } catch (error) {
      if (!(error instanceof BlockedError)) throw error;
      for (const line of describeBlocked(error)) log(line);
    }
    log("");
  }
  return broker;
}

/**
 * A large order from a bot that waits (`escalation: "wait"`): nothing runs while
 * a person decides; `approve` plays that person. Runs once, after the approval.
 */
export async function tradeWithApproval(
  broker: PaperBroker,
  approve: () => Promise<string>,
  log: (line: string) => void = console.log,
): Promise<string> {
  const order: Order = {
    clientOrderId: "ord-1004",
    symbol: "GBPUSD",
    side: "SELL",
    qty: 200_000,
    price: 1.27,
    leverage: 5,
  };
  log(`4. Large order, from a bot that waits for a person: ${describeOrder(order)}`);
  const [fill, escalationId] = await Promise.all([new TradingBot(broker).openPositionOnceApproved(order), approve()]);
  log(`   ESCALATE  a risk officer approved ${escalationId}; nothing ran until then`);
  log(`   ALLOW  executed by the broker: ${fill}`);
  log("");
  return fill;
}

function describeOrder(order: Order): string {
  return `${order.side} ${money(order.qty)} ${order.symbol} @ ${order.price} (notional ${money(order.qty * order.price)})`;
}
