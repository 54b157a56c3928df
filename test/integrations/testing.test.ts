/**
 * decionis/testing as a user would write their tests: a payments service with
 * a gated method, tested against an in-process authority with scripted
 * outcomes, the recorder and the matchers. Grants are real: signed by the
 * local authority, verified by the client.
 */
import { BlockedError, gate, InvalidReceiptError, type DecionisClient } from "../../src/index.js";
import { createTestAuthority, decionisMatchers, type TestAuthority } from "../../src/integrations/testing/index.js";

expect.extend(decionisMatchers);

// --- the user's code -------------------------------------------------------
class Payments {
  readonly sent: number[] = [];
  constructor(client: DecionisClient) {
    this.pay = gate(this.pay.bind(this), {
      client,
      action: "PAY",
      actor: { id: "billing-agent", type: "AI_AGENT" },
      resource: (to: string, _amount: number) => `account:${to}`,
      parameters: (to: string, amount: number) => ({ to, amount }),
      context: { channel: "api" },
    });
  }
  async pay(to: string, amount: number): Promise<string> {
    this.sent.push(amount);
    return `paid ${amount} to ${to}`;
  }
}

// --- the user's tests --------------------------------------------------------
let authority: TestAuthority;
let payments: Payments;

beforeAll(async () => {
  authority = await createTestAuthority({
    decide: (intent) => {
      const amount = intent.parameters["amount"] as number;
      if (amount > 10_000) return { status: "BLOCK", reasonCodes: ["AMOUNT_LIMIT"] };
      if (amount > 1_000) return { status: "ESCALATE", reasonCodes: ["NEEDS_APPROVAL"] };
      return undefined; // no policies given: allowed
    },
  });
  payments = new Payments(authority.client);
});
afterAll(() => authority.stop());
beforeEach(() => {
  authority.reset();
  payments.sent.length = 0;
});

test("a small payment runs, under a real signed grant", async () => {
  await expect(payments.pay("alice", 50)).resolves.toBe("paid 50 to alice");
  expect(payments.sent).toEqual([50]);
  expect(authority).toHaveRequestedDecision({
    action: { type: "PAY", resource: "account:alice" },
    parameters: { amount: 50 },
    actor: { id: "billing-agent" },
    tenantId: "test_tenant",
  });
  const [record] = authority.decisions().slice(-1);
  expect(record!.decision.execution_token?.split(".")).toHaveLength(3);
});

test("a large payment is blocked with its reason code, and nothing is paid", async () => {
  await expect(payments.pay("mallory", 50_000)).toBeBlockedWith("BLOCK", "AMOUNT_LIMIT");
  await expect(payments.pay("mallory", 50_000)).rejects.toBeBlockedWith("BLOCK");
  await expect(payments.pay("bob", 5_000)).toBeBlockedWith("ESCALATE", "NEEDS_APPROVAL");
  expect(payments.sent).toEqual([]);
  expect(authority.intents).toHaveLength(3);
  expect(authority.lastIntent().parameters).toEqual({ to: "bob", amount: 5_000 });
});

test("the matchers say what was expected when they fail, and work under .not", async () => {
  await expect(payments.pay("alice", 1)).not.toBeBlockedWith("BLOCK");
  await expect(expect(payments.pay("alice", 2)).toBeBlockedWith("BLOCK")).rejects.toThrow(
    /expected the call to be refused \(BlockedError BLOCK\), but it resolved/,
  );
  await expect(expect(payments.pay("eve", 20_000)).toBeBlockedWith("BLOCK", "OTHER")).rejects.toThrow(
    /reason codes \["AMOUNT_LIMIT"\]/,
  );
  expect(new InvalidReceiptError("TOKEN_EXPIRED", "expired")).not.toBeBlockedWith("BLOCK");
  expect(authority).not.toHaveRequestedDecision({ action: { type: "REFUND" } });
  expect(authority).toHaveRequestedDecision({ parameters: { amount: expect.any(Number) as number } });
  expect(() => {
    expect(authority).toHaveRequestedDecision({ parameters: { amount: 3 } });
  }).toThrow(/expected an intent matching .*asked:/);
  expect(() => {
    expect({}).toHaveRequestedDecision({});
  }).toThrow(/createTestAuthority/);
});

test("policies and the script together; a throwing script fails closed", async () => {
  await using local = await createTestAuthority({
    policies: {
      policies: [
        {
          id: "payments",
          version: 1,
          rules: [
            {
              id: "weekend",
              conditions: { path: "context.weekend", operator: "equal", value: true },
              outcome: "REVIEW_REQUIRED",
              reason_codes: ["WEEKEND"],
              explanation: "Weekend payments are reviewed",
            },
          ],
          default: { outcome: "ALLOW", reason_codes: ["OK"], explanation: "ok" },
        },
      ],
    },
    decide: (intent) => {
      if (intent.actor.id === "broken") throw new Error("script bug");
      return undefined;
    },
    client: { tenantId: "acme" },
  });
  const pay = local.client.gate(async (amount: number) => amount, {
    action: "PAY",
    policy: "payments",
    actor: (amount: number) => ({ id: amount < 0 ? "broken" : "agent", type: "AI_AGENT" }),
    context: (amount: number) => ({ weekend: amount === 7 }),
  });
  await expect(pay(1)).resolves.toBe(1);
  await expect(pay(7)).toBeBlockedWith("REVIEW_REQUIRED", "WEEKEND");
  await expect(pay(-1)).toBeBlockedWith("ERROR", "SCRIPT_FAILED");
  expect(local).toHaveRequestedDecision({ tenantId: "acme", policyRefs: ["payments"] });
});

test("an escalation approved in the test, with escalation: 'wait'", async () => {
  await using local = await createTestAuthority({
    decide: (intent) => (intent.parameters["amount"] === 5_000 ? "ESCALATE" : undefined),
    client: { escalation: "wait" },
  });
  const pay = local.client.gate(async (amount: number) => `paid ${amount}`, {
    action: "PAY",
    actor: { id: "agent", type: "AI_AGENT" },
    parameters: (amount: number) => ({ amount }),
  });
  const pending = pay(5_000);
  const escalationId = await waitUntil(() => local.decisions()[0]?.decision.escalation_id);
  await local.approve(escalationId, { by: "test" });
  await expect(pending).resolves.toBe("paid 5000");
});

test("a scripted outcome that is not one fails closed as ERROR", async () => {
  await using local = await createTestAuthority({
    decide: () => ({ status: "ALLOW", reasonCodes: ["not a code"] }),
  });
  const error = await local.client
    .enforce({ actor: { id: "a", type: "T" }, action: { type: "PAY", resource: "x" } })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlockedError);
  expect(error).toBeBlockedWith("ERROR", "SCRIPT_INVALID");
});

async function waitUntil<T>(read: () => T | null | undefined, timeoutMs = 2_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}
