/**
 * Waiting for a person through the enforcer: which escalations can be waited
 * for, how long (never past the intent), what a refusal or a grant for another
 * action raises, and what a grant must still pass before it runs.
 */
import {
  BindingMismatchError,
  BlockedError,
  ConfigurationError,
  ContractError,
  EscalationTimeoutError,
  InvalidReceiptError,
  type Decision,
} from "../../src/index.js";
import { allow, clientOf, escalation, FakeAuthority, intent, refuse, rejection } from "./fake-authority.js";

const farFuture = () => new Date(Date.now() + 3_600_000).toISOString();

function escalated(options: Parameters<typeof clientOf>[1] = {}) {
  const gateway = new FakeAuthority();
  const client = clientOf(gateway, options);
  gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_1", decision_id: "dec_esc" });
  return { gateway, client };
}

async function blockedBy(client: ReturnType<typeof clientOf>): Promise<BlockedError> {
  return (await rejection(client.enforce(intent))) as BlockedError;
}

describe("waitForDecision", () => {
  it("returns the granted ALLOW, runnable once, and reports it to onDecision", async () => {
    const onDecision = jest.fn();
    const { gateway, client } = escalated({ hooks: { onDecision } });
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { decision_id: "dec_granted" }));
    const granted = await client.waitForDecision(error);
    expect(granted.decisionId).toBe("dec_granted");
    expect(granted.intentId).toBe(error.decision.intentId);
    expect(granted.idempotencyKey).toBe(error.decision.idempotencyKey);
    expect(granted.correlationId).toBe(error.decision.correlationId);
    expect(onDecision).toHaveBeenCalledTimes(2);
    expect(onDecision).toHaveBeenLastCalledWith(
      expect.objectContaining({
        decision: granted,
        shadow: false,
        durationMs: 0,
        intent: expect.objectContaining({ intentHash: gateway.last.intent_hash }),
      }),
    );
    const fn = jest.fn(() => "ran");
    await expect(client.execute(granted, fn)).resolves.toBe("ran");
    await expect(client.execute(granted, fn)).rejects.toBeInstanceOf(InvalidReceiptError);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("waits for a decision given as a Decision, and by id alone", async () => {
    const onDecision = jest.fn();
    const { gateway, client } = escalated({ hooks: { onDecision } });
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { decision_id: "dec_granted" }));
    await expect(client.waitForDecision(error.decision)).resolves.toMatchObject({ decisionId: "dec_granted" });
    onDecision.mockClear();
    const byId = await client.waitForDecision("esc_1");
    expect(byId.intentId).toBe(gateway.last.intent_id);
    expect(byId.idempotencyKey).toBe("");
    expect(byId.correlationId).toBe("");
    expect(onDecision).not.toHaveBeenCalled();
    expect(gateway.escalationPolls).toEqual(["esc_1", "esc_1"]);
  });

  it.each([
    [
      "a decision without an escalation",
      async (c: ReturnType<typeof clientOf>, g: FakeAuthority) => {
        g.decide = (r) => refuse(r, "BLOCK");
        return ((await rejection(c.enforce(intent))) as BlockedError).decision;
      },
    ],
    ["an empty id", () => Promise.resolve("")],
  ])("refuses %s before polling", async (_name, target) => {
    const { gateway, client } = escalated();
    const error = await rejection(client.waitForDecision(await target(client, gateway)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe("escalationId");
    expect(error.message).toContain("no escalation");
    expect(gateway.escalationPolls).toHaveLength(0);
  });

  it("refuses an escalation for another action", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    const other = `sha256:${"d".repeat(64)}`;
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r), { action_hash: other });
    const mismatch = (await rejection(client.waitForDecision(error))) as BindingMismatchError;
    expect(mismatch).toBeInstanceOf(BindingMismatchError);
    expect(mismatch.received).toBe(other);
    expect(mismatch.details).toMatchObject({ where: "escalation action_hash" });
  });

  it("refuses a grant whose decision is for another action", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    const other = `sha256:${"e".repeat(64)}`;
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { action_hash: other }));
    const mismatch = (await rejection(client.waitForDecision(error))) as BindingMismatchError;
    expect(mismatch).toBeInstanceOf(BindingMismatchError);
    expect(mismatch.expected).toBe(gateway.last.intent_hash);
    expect(mismatch.received).toBe(other);
  });

  it("refuses a GRANT_READY whose decision is not an ALLOW", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", refuse(r, "BLOCK"));
    const contract = await rejection(client.waitForDecision(error));
    expect(contract).toBeInstanceOf(ContractError);
    expect(contract.message).toContain("esc_1");
    expect(contract.message).toContain("BLOCK");
    expect(contract.code).toBe("GRANT_NOT_ALLOW");
  });

  it("refuses a GRANT_READY whose decision breaks the schema", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", { ...allow(r), status: "YES" });
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(ContractError);
  });

  it("refuses a grant that fails acceptance", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) =>
      escalation(
        r,
        id,
        "GRANT_READY",
        allow(r, { execution_token: "opaque", execution_token_expires_at: farFuture() }),
      );
    expect((await rejection(client.waitForDecision(error))).code).toBe("TOKEN_OUTLIVES_INTENT");
  });

  it("checks the grant's signature unless verify says otherwise", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { execution_token: "forged.x.y" }));
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(InvalidReceiptError);
    await expect(client.waitForDecision(error, { verify: "none" })).resolves.toMatchObject({ status: "ALLOW" });
  });

  it("raises a BLOCK for a refused escalation, keeping the original decision", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "REJECTED");
    const refused = (await rejection(client.waitForDecision(error))) as BlockedError;
    expect(refused).toBeInstanceOf(BlockedError);
    expect(refused.status).toBe("BLOCK");
    expect(refused.escalationStatus).toBe("REJECTED");
    expect(refused.decision).toBe(error.decision);
  });

  it("raises a BLOCK standing for a refused escalation known by id alone", async () => {
    const { gateway, client } = escalated();
    await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "EXPIRED", null, { reason_codes: ["APPROVER_TIMEOUT"] });
    const refused = (await rejection(client.waitForDecision("esc_1"))) as BlockedError;
    expect(refused).toBeInstanceOf(BlockedError);
    expect(refused.status).toBe("BLOCK");
    expect(refused.escalationStatus).toBe("EXPIRED");
    expect(refused.decisionId).toBe("esc_1");
    expect(refused.escalationId).toBe("esc_1");
    expect(refused.reasonCodes).toEqual(["APPROVER_TIMEOUT"]);
    expect(refused.decision).toMatchObject({
      status: "BLOCK",
      shouldExecute: false,
      actionHash: gateway.last.intent_hash,
      executionToken: null,
      dossierId: null,
      intentId: gateway.last.intent_id,
    });
  });
});

describe("how long a wait lasts", () => {
  it("ends at the intent's expiry when the escalation outlives it", async () => {
    const { gateway, client } = escalated({ intentTtlMs: 1_000 });
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "PENDING", null, { expires_at: farFuture() });
    const started = Date.now();
    await expect(client.waitForDecision(error)).rejects.toBeInstanceOf(EscalationTimeoutError);
    expect(Date.now() - started).toBeLessThan(2_500);
    await expect(client.waitForDecision(error, { timeoutMs: 60_000 })).rejects.toBeInstanceOf(EscalationTimeoutError);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it("ends at timeoutMs when that comes first", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    gateway.escalate = (id, r) => escalation(r, id, "PENDING", null, { expires_at: farFuture() });
    const started = Date.now();
    await expect(client.waitForDecision(error, { timeoutMs: 50 })).rejects.toBeInstanceOf(EscalationTimeoutError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("polls again until a person approves", async () => {
    const { gateway, client } = escalated();
    const error = await blockedBy(client);
    let polls = 0;
    gateway.escalate = (id, r) =>
      ++polls < 2 ? escalation(r, id, "PENDING") : escalation(r, id, "GRANT_READY", allow(r));
    await expect(client.waitForDecision(error)).resolves.toMatchObject({ status: "ALLOW" });
    expect(polls).toBe(2);
  });
});

describe('a gated call with escalation: "wait"', () => {
  it("waits for an ESCALATE, then runs the grant and reports the wait to onCall", async () => {
    const onEnd = jest.fn();
    const { gateway, client } = escalated({ escalation: "wait", hooks: { onCall: () => ({ onEnd }) } });
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { decision_id: "dec_granted" }));
    const fn = jest.fn((d: Decision | undefined) => d?.decisionId);
    await expect(client.enforce(intent, { execute: fn })).resolves.toBe("dec_granted");
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ error: undefined, waitMs: expect.any(Number) }));
    expect(onEnd.mock.calls[0][0].decision.decisionId).toBe("dec_granted");
  });

  it("does not wait for a BLOCK, nor for an ESCALATE without an escalation id", async () => {
    const { gateway, client } = escalated({ escalation: "wait" });
    gateway.decide = (r) => refuse(r, "BLOCK", { escalation_id: "esc_1" });
    await expect(client.enforce(intent)).rejects.toBeInstanceOf(BlockedError);
    gateway.decide = (r) => refuse(r, "REVIEW_REQUIRED", { escalation_id: null });
    await expect(client.enforce(intent)).rejects.toBeInstanceOf(BlockedError);
    expect(gateway.escalationPolls).toHaveLength(0);
    gateway.decide = (r) => refuse(r, "REVIEW_REQUIRED", { escalation_id: "esc_1" });
    gateway.escalate = (id, r) => escalation(r, id, "REJECTED");
    await expect(client.enforce(intent)).rejects.toBeInstanceOf(BlockedError);
    expect(gateway.escalationPolls).toEqual(["esc_1"]);
  });

  it('does not wait with escalation: "throw", and reports no wait', async () => {
    const onEnd = jest.fn();
    const { gateway, client } = escalated({ hooks: { onCall: () => ({ onEnd }) } });
    const error = await blockedBy(client);
    expect(gateway.escalationPolls).toHaveLength(0);
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ decision: error.decision, error, waitMs: undefined }));
  });

  it("bounds the wait by waitTimeoutMs, and a call's own", async () => {
    const { gateway, client } = escalated({ escalation: "wait", waitTimeoutMs: 30 });
    gateway.escalate = (id, r) => escalation(r, id, "PENDING", null, { expires_at: farFuture() });
    const started = Date.now();
    await expect(client.enforce(intent, { execute: jest.fn() })).rejects.toBeInstanceOf(EscalationTimeoutError);
    await expect(client.enforce(intent, { waitTimeoutMs: 20, execute: jest.fn() })).rejects.toBeInstanceOf(
      EscalationTimeoutError,
    );
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("stops waiting at an abort", async () => {
    const { gateway, client } = escalated({ escalation: "wait" });
    const controller = new AbortController();
    gateway.escalate = (id, r) => {
      controller.abort(new Error("stop"));
      return escalation(r, id, "PENDING", null, { expires_at: farFuture() });
    };
    const fn = jest.fn();
    const started = Date.now();
    await expect(client.enforce(intent, { execute: fn, signal: controller.signal })).rejects.toThrow("stop");
    expect(Date.now() - started).toBeLessThan(400);
    expect(fn).not.toHaveBeenCalled();
  });

  it("runs nothing when the grant fails its signature", async () => {
    const { gateway, client } = escalated({ escalation: "wait" });
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, { execution_token: "forged.x.y" }));
    const fn = jest.fn();
    await expect(client.enforce(intent, { execute: fn })).rejects.toBeInstanceOf(InvalidReceiptError);
    expect(fn).not.toHaveBeenCalled();
  });
});
