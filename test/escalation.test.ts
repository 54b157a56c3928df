/**
 * Waiting for a person (protocol 3) against a real HTTP authority: approve,
 * reject, expire, timeout, abort, unknown statuses, and a gate that waits.
 */
import {
  BlockedError,
  ContractError,
  DecionisClient,
  EscalationTimeoutError,
  gate,
  RetryPolicy,
  type EscalationUpdate,
  type IntentInput,
} from "../src/index.js";
import { pollDelay } from "../src/escalation/wait.js";
import {
  allowFor,
  decisionFor,
  defaultAnswer,
  escalationFor,
  useTestAuthority,
  type RecordedRequest,
} from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_esc", retryPolicy: RetryPolicy.none() });
let client: DecionisClient;
beforeAll(() => {
  client = authority.client();
});

const intent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
  parameters: { qty: 5_000_000 },
};

let escalated: RecordedRequest | undefined;
function escalate(id = "esc_1") {
  return {
    body: (r: RecordedRequest) => {
      escalated = r;
      return decisionFor(r, "ESCALATE", { escalation_id: id, reason_codes: ["NEEDS_APPROVAL"] });
    },
  };
}
function poll(status: string, decision: unknown = null, overrides: Record<string, unknown> = {}) {
  const resolved = () => (typeof decision === "function" ? (decision as () => unknown)() : decision);
  return { body: () => escalationFor(escalated!, "esc_1", status, resolved(), overrides) };
}
const granted = () => allowFor(escalated!, { decision_id: "dec_granted" });

async function blocked(): Promise<BlockedError> {
  authority.script(escalate());
  return (await client.enforce(intent).catch((e: unknown) => e)) as BlockedError;
}

describe("waitForDecision", () => {
  it("resolves with the granted ALLOW, executable once", async () => {
    const error = await blocked();
    expect(error.escalationId).toBe("esc_1");
    authority.script(poll("AWAITING_APPROVER"), poll("GRANT_READY", granted));
    const updates: EscalationUpdate[] = [];
    const decision = await client.waitForDecision(error, { onUpdate: (u) => updates.push(u) });
    expect(decision).toMatchObject({
      status: "ALLOW",
      decisionId: "dec_granted",
      actionHash: escalated!.json.intent_hash,
    });
    expect(updates.map((u) => u.status)).toEqual(["AWAITING_APPROVER", "GRANT_READY"]);
    expect(authority.requests.at(-1)!.url).toBe("/v1/authority/escalations/esc_1");
    const action = jest.fn(() => "executed");
    await expect(client.execute(decision, action)).resolves.toBe("executed");
    await expect(client.execute(decision, action)).rejects.toMatchObject({ code: "RECEIPT_ALREADY_USED" });
  });

  it.each(["REJECTED", "EXPIRED", "CANCELLED", "BLOCKED", "FAILED"])("throws BlockedError on %s", async (status) => {
    const error = await blocked();
    authority.script(poll(status));
    const refused = (await client.waitForDecision(error).catch((e: unknown) => e)) as BlockedError;
    expect(refused).toBeInstanceOf(BlockedError);
    expect(refused.status).toBe("BLOCK");
    expect(refused.escalationStatus).toBe(status);
    expect(refused.message).toMatch(status);
  });

  it("accepts an escalation id alone", async () => {
    await blocked();
    authority.script(poll("REJECTED"));
    const refused = (await client.waitForDecision("esc_1").catch((e: unknown) => e)) as BlockedError;
    expect(refused.escalationStatus).toBe("REJECTED");
  });

  it("keeps waiting through unknown non-terminal statuses", async () => {
    const error = await blocked();
    authority.script(poll("REAUTHORIZING_V2"), poll("GRANT_READY", granted));
    await expect(client.waitForDecision(error)).resolves.toMatchObject({ status: "ALLOW" });
  });

  it("fails closed on a decision under an unknown status", async () => {
    const error = await blocked();
    authority.script(poll("MYSTERY", granted));
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(ContractError);
  });

  it("fails closed on a grant for another action", async () => {
    const error = await blocked();
    authority.script(poll("GRANT_READY", () => ({ ...granted(), action_hash: `sha256:${"2".repeat(64)}` })));
    await expect(client.waitForDecision(error)).rejects.toMatchObject({ name: "BindingMismatchError" });
  });

  it("fails closed on a GRANT_READY that is not an ALLOW", async () => {
    const error = await blocked();
    authority.script(poll("GRANT_READY", () => decisionFor(escalated!, "BLOCK")));
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(ContractError);
  });

  it("stops at the caller's timeout with EscalationTimeoutError", async () => {
    const error = await blocked();
    authority.fallback = () => poll("PENDING");
    try {
      const started = Date.now();
      const timeout = (await client
        .waitForDecision(error, { timeoutMs: 150 })
        .catch((e: unknown) => e)) as EscalationTimeoutError;
      expect(timeout).toBeInstanceOf(EscalationTimeoutError);
      expect(timeout.lastStatus).toBe("PENDING");
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      authority.fallback = defaultAnswer;
    }
  });

  it("stops at the escalation's expiry", async () => {
    const error = await blocked();
    authority.script(poll("PENDING", null, { expires_at: new Date(Date.now() - 1).toISOString() }));
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(EscalationTimeoutError);
  });

  it("rejects with the signal's reason when aborted", async () => {
    const error = await blocked();
    authority.fallback = () => poll("PENDING");
    try {
      const controller = new AbortController();
      setTimeout(() => {
        controller.abort(new Error("operator left"));
      }, 100);
      await expect(client.waitForDecision(error, { signal: controller.signal })).rejects.toThrow("operator left");
    } finally {
      authority.fallback = defaultAnswer;
    }
  });

  it("refuses a decision without an escalation", async () => {
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    const error = (await client.enforce(intent).catch((e: unknown) => e)) as BlockedError;
    await expect(client.waitForDecision(error)).rejects.toMatchObject({ name: "ConfigurationError" });
  });

  it("backs off from 500 ms to 5 s with jitter", () => {
    expect(pollDelay(0, () => 0.5)).toBe(500);
    expect(pollDelay(1, () => 0.5)).toBe(1000);
    expect(pollDelay(10, () => 0.5)).toBe(5000);
    expect(pollDelay(10, () => 0.999)).toBeLessThanOrEqual(6000);
    expect(pollDelay(0, () => 0)).toBe(400);
  });
});

describe('gate with escalation: "wait"', () => {
  const opened: number[] = [];
  // Built per call: the client exists only once beforeAll has run.
  const open = (qty: number) =>
    gate(
      async (n: number) => {
        opened.push(n);
        return `opened ${n}`;
      },
      {
        client,
        action: "OPEN_POSITION",
        actor: { id: "bot", type: "TRADING_BOT" },
        resource: "EURUSD",
        escalation: "wait",
      },
    )(qty);

  it("waits for the person, then runs once", async () => {
    authority.script(escalate(), poll("AWAITING_APPROVER"), poll("GRANT_READY", granted));
    await expect(open(7)).resolves.toBe("opened 7");
    expect(opened).toEqual([7]);
  });

  it("runs nothing on a rejection", async () => {
    opened.length = 0;
    authority.script(escalate(), poll("REJECTED"));
    await expect(open(8)).rejects.toMatchObject({ status: "BLOCK", escalationStatus: "REJECTED" });
    expect(opened).toEqual([]);
  });

  it("still throws at once on BLOCK", async () => {
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    await expect(open(9)).rejects.toMatchObject({ status: "BLOCK", escalationStatus: null });
    expect(opened).toEqual([]);
  });
});
