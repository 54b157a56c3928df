/**
 * What the enforcer takes from the client and the call, and where it looks for
 * keys and replays: each option is given alone and must change the call the
 * way it says (a misread one would skip or loosen a check).
 */
import { randomUUID } from "node:crypto";
import {
  ConfigurationError,
  DecionisClient,
  EscalationTimeoutError,
  InMemoryReplayStore,
  type Decision,
  type EnforceRequest,
  type ReplayStore,
} from "../../src/index.js";
import {
  allow,
  claimsFor,
  clientOf,
  escalation,
  FakeAuthority,
  intent,
  refuse,
  rejection,
  signGrant,
} from "./fake-authority.js";

class RecordingStore implements ReplayStore {
  readonly claims: string[] = [];
  claim(jti: string): boolean {
    this.claims.push(jti);
    return true;
  }
}

describe("client options the enforcer reads", () => {
  it("puts the client's system into the intent", async () => {
    const gateway = new FakeAuthority();
    await clientOf(gateway, { system: "broker" }).enforce(intent);
    expect(gateway.last.downstream_target.system).toBe("broker");
  });

  it("shares one replay store per process between clients that set none", async () => {
    const gateway = new FakeAuthority();
    const token = `shared-${randomUUID()}`;
    gateway.decide = (r) => allow(r, { execution_token: token });
    const options = { gateway, tenantId: "acme", verify: "none" as const, circuitBreaker: false as const };
    const a = new DecionisClient(options);
    const b = new DecionisClient(options);
    const fn = jest.fn();
    await a.enforce(intent, { execute: fn });
    expect((await rejection(b.enforce(intent, { execute: fn }))).code).toBe("TOKEN_REPLAYED");
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("names where the keys came from when a kid is unknown", async () => {
    const forged = (r: Parameters<FakeAuthority["decide"]>[0]) => {
      const d = allow(r, { execution_token: "x" });
      return { ...d, execution_token: signGrant(claimsFor(r, d), { kid: "nobody" }) };
    };
    const configured = new FakeAuthority();
    configured.decide = forged;
    const a = await rejection(clientOf(configured).enforce(intent));
    expect(a.code).toBe("TOKEN_KEY_UNKNOWN");
    expect(a.message).toContain("the configured authorityKeys");
    const fetched = new FakeAuthority();
    fetched.decide = forged;
    const client = new DecionisClient({
      gateway: fetched,
      baseUrl: "https://authority.example",
      tenantId: "acme",
      circuitBreaker: false,
    });
    const b = await rejection(client.enforce(intent));
    expect(b.code).toBe("TOKEN_KEY_UNKNOWN");
    expect(b.message).toContain("https://authority.example/.well-known/jwks.json");
  });
});

describe("call options", () => {
  it("refuses null options", async () => {
    const gateway = new FakeAuthority();
    const error = await rejection(clientOf(gateway).enforce(intent, null as never));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(gateway.requests).toHaveLength(0);
  });

  it('takes escalation: "wait" and "throw" per call', async () => {
    const gateway = new FakeAuthority();
    gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_1" });
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r));
    await expect(clientOf(gateway).enforce(intent, { escalation: "wait", execute: () => "ran" })).resolves.toBe("ran");
    const waiting = clientOf(gateway, { escalation: "wait" });
    await expect(waiting.enforce(intent, { escalation: "throw", execute: () => "ran" })).rejects.toMatchObject({
      code: "DECISION_ESCALATE",
    });
    expect(gateway.escalationPolls).toHaveLength(1);
  });

  it("takes reportOutcome: true per call", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    await client.enforce(intent, { reportOutcome: true, execute: () => 1 });
    await client.close();
    expect(gateway.outcomes).toHaveLength(1);
  });

  it('takes verify: "consume" per call', async () => {
    const gateway = new FakeAuthority();
    await clientOf(gateway).enforce(intent, { verify: "consume", execute: () => 1 });
    expect(gateway.consumed).toHaveLength(1);
  });

  it("reports the time waited and the decision's duration, not more", async () => {
    const gateway = new FakeAuthority();
    const onEnd = jest.fn();
    const onDecision = jest.fn();
    const client = clientOf(gateway, { escalation: "wait", hooks: { onCall: () => ({ onEnd }), onDecision } });
    gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_1" });
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r));
    const started = performance.now();
    await client.enforce(intent, { execute: () => 1 });
    const elapsed = performance.now() - started;
    const { waitMs } = onEnd.mock.calls[0][0] as { waitMs: number };
    expect(waitMs).toBeGreaterThanOrEqual(0);
    expect(waitMs).toBeLessThanOrEqual(elapsed);
    const { durationMs } = onDecision.mock.calls[0][0] as { durationMs: number };
    expect(durationMs).toBeLessThanOrEqual(elapsed);
  });
});

describe("an abort that lands once the decision is in", () => {
  it("claims nothing: no consume-token, no replay-store entry", async () => {
    for (const verify of ["consume", "signature"] as const) {
      const gateway = new FakeAuthority();
      const replayStore = new RecordingStore();
      const controller = new AbortController();
      const client = clientOf(gateway, {
        verify,
        replayStore,
        hooks: {
          onDecision: () => {
            controller.abort(new Error("caller gone"));
          },
        },
      });
      const fn = jest.fn();
      await expect(client.enforce(intent, { execute: fn, signal: controller.signal })).rejects.toThrow("caller gone");
      expect(gateway.consumed).toHaveLength(0);
      expect(replayStore.claims).toHaveLength(0);
      expect(fn).not.toHaveBeenCalled();
    }
  });
});

describe("waitForDecision's target", () => {
  it("refuses an object that is not a decision", async () => {
    const gateway = new FakeAuthority();
    const error = await rejection(clientOf(gateway).waitForDecision({} as Decision));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(gateway.escalationPolls).toHaveLength(0);
  });

  it("keeps the original decision's intent id over the escalation's", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_1" });
    const blocked = await rejection(client.enforce(intent));
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r), { intent_id: "int_elsewhere" });
    const granted = await client.waitForDecision(blocked as never);
    expect(granted.intentId).toBe(gateway.last.intent_id);
  });

  it("does not cap a wait by an intent it does not know (by id)", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_1" });
    await rejection(client.enforce(intent));
    gateway.escalate = (id, r) => escalation(r, id, "PENDING");
    await expect(client.waitForDecision("esc_1", { timeoutMs: 10 })).rejects.toBeInstanceOf(EscalationTimeoutError);
  });
});

describe("SHADOW mode, unobserved", () => {
  it("reports a capture failure once and asks nothing", async () => {
    const onError = jest.fn();
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { mode: "SHADOW", hooks: { onError }, replayStore: new InMemoryReplayStore() });
    await expect(client.enforce({ ...intent, actor: undefined } as never, { execute: () => "ran" })).resolves.toBe(
      "ran",
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(onError).toHaveBeenCalledTimes(1);
    expect(gateway.requests).toHaveLength(0);
  });
});

describe("where the keys come from", () => {
  it("trusts the configured authorityKeys, not what the gateway serves", async () => {
    const gateway = new FakeAuthority();
    gateway.keys = { keys: [] };
    const client = clientOf(gateway);
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(gateway.jwksUrls).toHaveLength(0);
  });

  it("refetches the authority's keys once they are ten minutes old, not before", async () => {
    let now = Date.now();
    jest.spyOn(Date, "now").mockImplementation(() => now);
    try {
      const gateway = new FakeAuthority();
      const client = new DecionisClient({ gateway, tenantId: "acme", circuitBreaker: false });
      await client.enforce(intent, { execute: () => 1 });
      now += 9 * 60_000;
      await client.enforce(intent, { execute: () => 2 });
      expect(gateway.jwksUrls).toHaveLength(1);
      now += 2 * 60_000;
      await client.enforce(intent, { execute: () => 3 });
      expect(gateway.jwksUrls).toHaveLength(2);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('tells onCall the verify mode it falls back to: "none" without keys', async () => {
    const onCall = jest.fn(() => undefined);
    const gateway = {
      enforceAndBind: (r: EnforceRequest) => Promise.resolve(allow(r.request, { execution_token: "t" })),
    };
    const client = new DecionisClient({ gateway, tenantId: "acme", circuitBreaker: false, hooks: { onCall } });
    await client.enforce(intent);
    expect(onCall).toHaveBeenCalledWith(expect.objectContaining({ verify: "none" }));
  });

  it("tells onCall of a decide call, with its intent and settings", async () => {
    const onCall = jest.fn(() => undefined);
    const gateway = new FakeAuthority();
    await clientOf(gateway, { hooks: { onCall } }).decide(intent, { verify: "none" });
    expect(onCall).toHaveBeenCalledWith({
      intent: expect.objectContaining({ intentHash: gateway.last.intent_hash }),
      verify: "none",
      escalation: "throw",
    });
  });
});

describe("waitForDecision(null) from plain JavaScript", () => {
  it("is a ConfigurationError, not a TypeError", async () => {
    const gateway = new FakeAuthority();
    const error = await rejection(clientOf(gateway).waitForDecision(null as never));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(gateway.escalationPolls).toHaveLength(0);
  });
});
