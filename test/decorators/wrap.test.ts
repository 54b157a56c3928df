/**
 * `gate(fn, options)` and `gate(options)(fn)`: the wrapper form, typed from the
 * wrapped function. Runs under both decorator standards like the rest of this folder.
 */
import { BlockedError, DecionisClient, gate, type GatedFunction } from "../../src/index.js";
import { allowAnswer, MockGateway } from "../helpers/mock-gateway.js";

const gateway = new MockGateway();
const client = new DecionisClient({ gateway, tenantId: "treasury" });

interface Transfer {
  from: string;
  to: string;
  amountMinor: number;
}

const moved: Transfer[] = [];
async function transferFunds(t: Transfer): Promise<{ ok: true; id: string }> {
  moved.push(t);
  return { ok: true, id: `tr_${moved.length}` };
}

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

describe("gate(fn, options)", () => {
  const transfer = gate(transferFunds, {
    client,
    action: "TRANSFER_FUNDS",
    actor: { id: "treasury-agent", type: "AI_AGENT" },
    resource: (t) => `account:${t.from}`,
    parameters: (t) => ({ to: t.to, amountMinor: t.amountMinor }),
  });

  it("keeps the function's types", () => {
    const typed: Equals<typeof transfer, (this: unknown, t: Transfer) => Promise<{ ok: true; id: string }>> = true;
    expect(typed).toBe(true);
  });

  it("runs on ALLOW with the original arguments", async () => {
    const t = { from: "A", to: "B", amountMinor: 500 };
    await expect(transfer(t)).resolves.toEqual({ ok: true, id: "tr_1" });
    expect(moved).toEqual([t]);
    expect(gateway.last.request.action).toEqual({
      type: "TRANSFER_FUNDS",
      resource: "account:A",
      parameters: { to: "B", amountMinor: 500 },
    });
    expect(gateway.last.request.downstream_target.operation).toBe("transferFunds");
  });

  it("runs nothing on ESCALATE", async () => {
    gateway.respond = (r) =>
      allowAnswer(r, { status: "ESCALATE", should_execute: false, execution_token: null, escalation_id: "esc_1" });
    moved.length = 0;
    await expect(transfer({ from: "A", to: "C", amountMinor: 9e6 })).rejects.toBeInstanceOf(BlockedError);
    expect(moved).toEqual([]);
    gateway.respond = (r) => allowAnswer(r);
  });

  it("keeps `this` of a wrapped function used as a method", async () => {
    const account = {
      balance: 10,
      debit: gate(
        async function (this: { balance: number }, n: number) {
          this.balance -= n;
          return this.balance;
        },
        {
          client,
          action: "DEBIT",
          actor: { id: "a", type: "SERVICE" },
          context: function (this: { balance: number }) {
            return { balance: this.balance };
          },
        },
      ),
    };
    await expect(account.debit(3)).resolves.toBe(7);
    expect(gateway.last.request.context).toEqual({ balance: 10 });
  });

  it("gate(options)(fn) is the same wrapper", async () => {
    const double = gate({ client, action: "DOUBLE", actor: { id: "a", type: "SERVICE" } })(async (x: number) => x * 2);
    const typed: Equals<typeof double, GatedFunction<(x: number) => Promise<number>>> = true;
    expect(typed).toBe(true);
    await expect(double(21)).resolves.toBe(42);
  });

  it("makes a sync function async and still runs it once", async () => {
    let runs = 0;
    const inc = gate(
      (n: number) => {
        runs++;
        return n + 1;
      },
      { client, action: "INC", actor: { id: "a", type: "SERVICE" } },
    );
    const result: Promise<number> = inc(1);
    await expect(result).resolves.toBe(2);
    expect(runs).toBe(1);
  });

  it("rejects a wrong argument type at compile time", () => {
    // @ts-expect-error — amountMinor must be a number
    const call = () => transfer({ from: "A", to: "B", amountMinor: "5" });
    expect(typeof call).toBe("function");
  });
});
