/**
 * The enforcer's pipeline around the checks: aborts before a request, the
 * re-check of the live arguments, what hooks and observers are told, outcome
 * reports, `decide`, and SHADOW mode's background asks and their bound.
 */
import { BindingMismatchError, BlockedError, DecionisError, type Decision, type IntentInput } from "../../src/index.js";
import { allow, clientOf, FakeAuthority, intent, refuse, rejection } from "./fake-authority.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("a gated call", () => {
  it("sends nothing when the signal is already aborted (enforce and decide)", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    const signal = AbortSignal.abort(new Error("gone"));
    const fn = jest.fn();
    await expect(client.enforce(intent, { signal, execute: fn })).rejects.toThrow("gone");
    await expect(client.decide(intent, { signal })).rejects.toThrow("gone");
    expect(gateway.requests).toHaveLength(0);
    expect(fn).not.toHaveBeenCalled();
  });

  it("refuses arguments changed while the decision was pending, naming both hashes", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    const live: IntentInput = { ...intent, parameters: { qty: 1000 } };
    gateway.decide = (r) => {
      (live.parameters as { qty: number }).qty = 9_000_000;
      return allow(r);
    };
    const fn = jest.fn();
    const error = (await rejection(client.enforce(live, { execute: fn }))) as BindingMismatchError;
    expect(error).toBeInstanceOf(BindingMismatchError);
    const approved = gateway.last.intent_hash;
    expect(error.expected).toBe(approved);
    expect(error.received).not.toBe(approved);
    expect(error.details).toMatchObject({ where: "re-captured intent" });
    expect(error.message).toContain(approved);
    expect(error.message).toContain(error.received);
    expect(error.message).toContain("arguments changed");
    expect(fn).not.toHaveBeenCalled();
  });

  it("tells onCall the intent and settings, then the decision", async () => {
    const onEnd = jest.fn();
    const onCall = jest.fn(() => ({ onEnd, headers: { "x-trace": "t1" } }));
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { hooks: { onCall } });
    const decision = await client.enforce(intent, { verify: "signature" });
    expect(onCall).toHaveBeenCalledWith({
      intent: expect.objectContaining({ intentHash: gateway.last.intent_hash }),
      verify: "signature",
      escalation: "throw",
    });
    expect(gateway.decideOptions[0]?.headers).toEqual({ "x-trace": "t1" });
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ decision, error: undefined, waitMs: undefined }));
  });

  it("tells onCall and onError of a failure with its intent; a BLOCK only to onCall", async () => {
    const onEnd = jest.fn();
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { hooks: { onCall: () => ({ onEnd }), onError } });
    gateway.decide = (r) => allow(r, { should_execute: false });
    const error = await rejection(client.enforce(intent, { execute: jest.fn() }));
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ decision: undefined, error }));
    expect(onError).toHaveBeenCalledWith({
      error,
      intent: expect.objectContaining({ intentHash: gateway.last.intent_hash }),
    });
    onError.mockClear();
    gateway.decide = (r) => refuse(r, "BLOCK");
    const blocked = (await rejection(client.enforce(intent))) as BlockedError;
    expect(onEnd).toHaveBeenLastCalledWith(expect.objectContaining({ decision: blocked.decision, error: blocked }));
    expect(onError).not.toHaveBeenCalled();
  });

  it("tells onDecision each decision as received, with its intent and duration", async () => {
    const onDecision = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { hooks: { onDecision } });
    gateway.decide = (r) => refuse(r, "BLOCK");
    await rejection(client.enforce(intent));
    expect(onDecision).toHaveBeenCalledWith({
      decision: expect.objectContaining({ status: "BLOCK" }),
      intent: expect.objectContaining({ intentHash: gateway.last.intent_hash }),
      shadow: false,
      durationMs: expect.any(Number),
    });
    expect(onDecision.mock.calls[0][0].durationMs).toBeGreaterThanOrEqual(0);
  });

  it("reports the outcome of a run when asked, success and failure", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { reportOutcome: true });
    const ok = await client.enforce(intent, { execute: (d) => d?.decisionId });
    await expect(
      client.enforce(intent, { execute: () => Promise.reject(new TypeError("broker down")) }),
    ).rejects.toThrow("broker down");
    await client.enforce(intent, { reportOutcome: false, execute: () => 1 });
    await client.close();
    expect(gateway.outcomes).toHaveLength(2);
    expect(gateway.outcomes[0]).toMatchObject({ decisionId: ok, outcome: { status: "SUCCEEDED" } });
    expect(gateway.outcomes[1]!.outcome).toMatchObject({
      status: "FAILED",
      error: { name: "TypeError", message: "broker down" },
    });
  });

  it("reports the outcome of execute(receipt) when asked", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    const receipt = await client.decide(intent);
    await client.execute(receipt, () => 1, { reportOutcome: true });
    await client.close();
    expect(gateway.outcomes).toEqual([
      { decisionId: receipt.decisionId, outcome: expect.objectContaining({ status: "SUCCEEDED" }) },
    ]);
  });

  it("tells onError when an outcome cannot be reported", async () => {
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    gateway.outcome = () => Promise.reject(new Error("outcome lost"));
    const client = clientOf(gateway, { reportOutcome: true, hooks: { onError } });
    await client.enforce(intent, { execute: () => 1 });
    await client.close();
    expect(onError).toHaveBeenCalledWith({ error: expect.any(Error), intent: undefined });
  });
});

describe("decide", () => {
  it("returns a BLOCK as it is, and tells onCall", async () => {
    const onEnd = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { hooks: { onCall: () => ({ onEnd }) } });
    gateway.decide = (r) => refuse(r, "BLOCK");
    const decision = await client.decide(intent);
    expect(decision.status).toBe("BLOCK");
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ decision, error: undefined, waitMs: undefined }));
  });

  it("tells onCall and onError of a failure", async () => {
    const onEnd = jest.fn();
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { hooks: { onCall: () => ({ onEnd }), onError } });
    gateway.decide = (r) => allow(r, { dossier_id: null });
    const error = await rejection(client.decide(intent));
    expect(error.code).toBe("DOSSIER_ID_MISSING");
    expect(onEnd).toHaveBeenCalledWith(expect.objectContaining({ decision: undefined, error, waitMs: undefined }));
    expect(onError).toHaveBeenCalledWith({ error, intent: expect.objectContaining({ mode: "ENFORCEMENT" }) });
  });

  it("asks in the call's mode", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    gateway.decide = (r) => refuse(r, "BLOCK");
    await client.decide(intent, { mode: "SHADOW" });
    expect(gateway.last.mode).toBe("SHADOW");
    await client.decide(intent);
    expect(gateway.last.mode).toBe("ENFORCEMENT");
  });
});

describe("SHADOW mode", () => {
  it("runs at once and reports the decision in the background, unchecked", async () => {
    const onDecision = jest.fn();
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW", hooks: { onDecision, onError } });
    gateway.decide = (r) => allow(r, { execution_token: "forged.x.y", should_execute: false });
    const fn = jest.fn((d: Decision | undefined) => d);
    await expect(client.enforce(intent, { execute: fn })).resolves.toBeUndefined();
    await tick();
    expect(gateway.last.mode).toBe("SHADOW");
    expect(onDecision).toHaveBeenCalledWith(expect.objectContaining({ shadow: true }));
    expect(onError).not.toHaveBeenCalled();
  });

  it("returns the decision whatever its status without execute", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW" });
    gateway.decide = (r) => refuse(r, "BLOCK");
    await expect(client.enforce(intent)).resolves.toMatchObject({ status: "BLOCK" });
  });

  it("tells onError of a failed background ask, with its intent, and still runs", async () => {
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    gateway.decide = () => ({ nonsense: true });
    const client = clientOf(gateway, { mode: "SHADOW", hooks: { onError } });
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    await tick();
    expect(onError).toHaveBeenCalledWith({
      error: expect.any(DecionisError),
      intent: expect.objectContaining({ mode: "SHADOW" }),
    });
  });

  it("runs, unobserved, when the intent cannot be captured", async () => {
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW", hooks: { onError } });
    const bad = { ...intent, actor: undefined } as unknown as IntentInput;
    await expect(client.enforce(bad, { execute: () => "ran" })).resolves.toBe("ran");
    expect(gateway.requests).toHaveLength(0);
    expect(onError).toHaveBeenCalledWith({ error: expect.any(DecionisError), intent: undefined });
  });

  it("asks at most maxShadowInFlight at a time, and again once they settle", async () => {
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW", maxShadowInFlight: 1, hooks: { onError } });
    await client.enforce(intent, { execute: () => 1 });
    await client.enforce(intent, { execute: () => 2 });
    expect(gateway.requests).toHaveLength(1);
    expect(onError).toHaveBeenCalledTimes(1);
    const { error } = onError.mock.calls[0][0] as { error: DecionisError };
    expect(error.code).toBe("SHADOW_OVERLOADED");
    expect(error.details).toEqual({ inFlight: 1 });
    expect(error.message).toMatch(/^1 shadow decisions/);
    await tick();
    await tick();
    await client.enforce(intent, { execute: () => 3 });
    expect(gateway.requests).toHaveLength(2);
  });

  it("asks nothing with maxShadowInFlight 0", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW", maxShadowInFlight: 0 });
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(gateway.requests).toHaveLength(0);
  });
});

describe("close", () => {
  it("waits for the outcome reports still on their way", async () => {
    const gateway = new FakeAuthority();
    let recorded = false;
    gateway.outcome = () =>
      new Promise((resolve) =>
        setTimeout(() => {
          recorded = true;
          resolve({ recorded: true });
        }, 30),
      );
    const client = clientOf(gateway, { reportOutcome: true });
    await client.enforce(intent, { execute: () => 1 });
    await client.close();
    expect(recorded).toBe(true);
  });
});
