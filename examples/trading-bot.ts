/**
 * A trading bot whose `openPosition` is gated with `@gate` (TC39 decorators):
 * every order asks the authority first, and reaches the broker only on ALLOW.
 * Run by `npm run demo` (examples/demo.ts).
 */
import { BlockedError, gate } from "../src/index.js";

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

export class TradingBot {
  constructor(private readonly broker: PaperBroker) {}

  // No `client`: the gate uses the default client (setDefaultClient / configure), resolved at call time.
  @gate({
    action: "OPEN_POSITION",
    policy: "cfd-risk-policy",
    actor: { id: "cfd_bot_7", type: "TRADING_BOT" },
    resource: (order: Order) => order.symbol,
    parameters: (order: Order) => ({ side: order.side, qty: order.qty, price: order.price }),
    context: (order: Order) => ({ notional: order.qty * order.price, leverage: order.leverage }),
    idempotencyKey: (order: Order) => order.clientOrderId,
    target: { system: "paper-broker", endpoint: "POST /orders" },
  })
  async openPosition(order: Order): Promise<string> {
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
    log(
      `${i + 1}. ${label}: ${order.side} ${money(order.qty)} ${order.symbol} @ ${order.price} (notional ${money(order.qty * order.price)})`,
    );
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
