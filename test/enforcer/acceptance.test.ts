/**
 * The enforcer's acceptance and verification checks, each at its edge: an ALLOW
 * that fails one check (or sits exactly on a boundary) runs nothing, and the
 * call settings that choose the checks cannot be given a value that skips them.
 * In-process gateway, real EdDSA grants: fast enough to pin every boundary.
 */
import {
  BindingMismatchError,
  BlockedError,
  ConfigurationError,
  DecionisClient,
  InvalidReceiptError,
  type ClientOptions,
} from "../../src/index.js";
import {
  allow,
  claimsFor,
  clientOf,
  escalation,
  FakeAuthority,
  intent,
  jwks,
  refuse,
  rejection,
  signGrant,
} from "./fake-authority.js";

afterEach(() => {
  jest.restoreAllMocks();
});

function setup(options: ClientOptions = {}) {
  const gateway = new FakeAuthority();
  const client = clientOf(gateway, options);
  const action = jest.fn(() => "ran");
  return { gateway, client, action, run: () => client.enforce(intent, { execute: action }) };
}

describe("acceptance of an ALLOW (protocol 2.5), with verify none", () => {
  it("accepts a token that expires exactly when the intent does", async () => {
    const { gateway, run, action } = setup({ verify: "none" });
    gateway.decide = (r) => allow(r, { execution_token: "opaque", execution_token_expires_at: r.expires_at });
    await expect(run()).resolves.toBe("ran");
    expect(action).toHaveBeenCalledTimes(1);
  });

  it("refuses a token that outlives the intent by one millisecond, naming both instants", async () => {
    const { gateway, run, action } = setup({ verify: "none" });
    gateway.decide = (r) =>
      allow(r, {
        execution_token: "opaque",
        execution_token_expires_at: new Date(Date.parse(r.expires_at) + 1).toISOString(),
      });
    const error = await rejection(run());
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error.code).toBe("TOKEN_OUTLIVES_INTENT");
    expect(error.message).toContain(gateway.last.expires_at);
    expect(error.details).toMatchObject({ check: "TOKEN_OUTLIVES_INTENT", decisionId: expect.stringMatching(/^dec_/) });
    expect(action).not.toHaveBeenCalled();
  });

  it("refuses a token that expires at this very millisecond", async () => {
    const { gateway, run, action } = setup({ verify: "none" });
    const now = Date.now();
    const expiry = new Date(now + 10_000).toISOString();
    gateway.decide = (r) => allow(r, { execution_token: "opaque", execution_token_expires_at: expiry });
    jest.spyOn(Date, "now").mockReturnValue(now + 10_000);
    const error = await rejection(run());
    expect(error.code).toBe("TOKEN_EXPIRED");
    expect(error.message).toContain(expiry);
    expect(error.details).toMatchObject({ expiredAt: expiry, decisionId: expect.stringMatching(/^dec_/) });
    expect(action).not.toHaveBeenCalled();
  });

  it.each([
    ["should_execute false", { should_execute: false }, "SHOULD_EXECUTE_FALSE", "should_execute is false"],
    ["no token", { execution_token: null }, "TOKEN_MISSING", "without an execution token"],
    ["no dossier id", { dossier_id: null }, "DOSSIER_ID_MISSING", "without a dossier id"],
    [
      "no token expiry",
      { execution_token_expires_at: null },
      "TOKEN_EXPIRY_MISSING",
      "without an execution token expiry",
    ],
  ])("refuses an ALLOW with %s, naming the decision", async (_name, fields, code, text) => {
    const { gateway, run, action } = setup({ verify: "none" });
    gateway.decide = (r) => allow(r, { execution_token: "opaque", decision_id: "dec_named", ...fields });
    const error = await rejection(run());
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error.code).toBe(code);
    expect(error.message).toContain("dec_named");
    expect(error.message).toContain(text);
    expect(error.details).toMatchObject({ decisionId: "dec_named" });
    expect(action).not.toHaveBeenCalled();
  });

  it("refuses an ALLOW bound to another action hash, naming both hashes", async () => {
    const { gateway, run, action } = setup({ verify: "none" });
    const other = `sha256:${"a".repeat(64)}`;
    gateway.decide = (r) => allow(r, { execution_token: "opaque", action_hash: other });
    const error = (await rejection(run())) as BindingMismatchError;
    expect(error).toBeInstanceOf(BindingMismatchError);
    expect(error.expected).toBe(gateway.last.intent_hash);
    expect(error.received).toBe(other);
    expect(action).not.toHaveBeenCalled();
  });

  it("throws BlockedError for a BLOCK, never an acceptance error", async () => {
    const { gateway, run, action } = setup({ verify: "none" });
    gateway.decide = (r) => refuse(r, "BLOCK", { decision_id: "dec_block" });
    const error = (await rejection(run())) as BlockedError;
    expect(error).toBeInstanceOf(BlockedError);
    expect(error.decisionId).toBe("dec_block");
    expect(action).not.toHaveBeenCalled();
  });

  it("returns the decision with the intent's ids", async () => {
    const { gateway, client } = setup({ verify: "none" });
    const decision = await client.enforce({ ...intent, idempotencyKey: "idem-1" });
    const sent = gateway.requests[0]!;
    expect(decision.intentId).toBe(sent.request.intent_id);
    expect(decision.idempotencyKey).toBe("idem-1");
    expect(decision.correlationId).toBe(sent.correlationId);
  });
});

describe("signature verification", () => {
  it("is the default when keys are configured: a forged grant is refused", async () => {
    const { gateway, run, action } = setup();
    gateway.decide = (r) => allow(r, { execution_token: "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln" });
    const error = await rejection(run());
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(action).not.toHaveBeenCalled();
  });

  it("is the default with a gateway that serves keys: fetched once, from the authority's own JWKS", async () => {
    const gateway = new FakeAuthority();
    const client = new DecionisClient({ gateway, tenantId: "acme", circuitBreaker: false });
    const action = jest.fn(() => "ran");
    await client.enforce(intent, { execute: action });
    await client.enforce(intent, { execute: action });
    expect(action).toHaveBeenCalledTimes(2);
    expect(gateway.jwksUrls).toEqual([undefined]);
    gateway.decide = (r) => allow(r, { execution_token: "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln" });
    await expect(client.enforce(intent, { execute: action })).rejects.toBeInstanceOf(InvalidReceiptError);
    expect(action).toHaveBeenCalledTimes(2);
  });

  it("fetches a JWKS URL through the gateway", async () => {
    const gateway = new FakeAuthority();
    const client = new DecionisClient({
      gateway,
      tenantId: "acme",
      circuitBreaker: false,
      authorityKeys: "https://keys.test/jwks.json",
    });
    await client.enforce(intent, { execute: () => 1 });
    expect(gateway.jwksUrls).toEqual(["https://keys.test/jwks.json"]);
  });

  it("refuses a JWKS URL when the gateway cannot fetch one", () => {
    const gateway = { enforceAndBind: () => Promise.resolve({}) };
    let error: unknown;
    try {
      new DecionisClient({ gateway, authorityKeys: "https://keys.test/jwks.json" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe("authorityKeys");
    expect((error as Error).message).toContain("getJwks");
  });

  it("falls back to verify none with neither keys nor getJwks", async () => {
    const gateway = {
      requests: 0,
      enforceAndBind: (r: any) => Promise.resolve(allow(r.request, { execution_token: "opaque" })),
    };
    const client = new DecionisClient({ gateway, tenantId: "acme", circuitBreaker: false });
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    const error = await rejection(client.enforce(intent, { verify: "signature" }));
    expect(error.code).toBe("KEYS_UNAVAILABLE");
    expect(error.message).toContain("authorityKeys");
  });

  it("refetches an unknown kid after keysRefetchIntervalMs", async () => {
    const gateway = new FakeAuthority();
    const client = new DecionisClient({ gateway, tenantId: "acme", circuitBreaker: false, keysRefetchIntervalMs: 0 });
    await client.enforce(intent); // keys fetched
    const rotated = { keys: [{ ...jwks.keys[0], kid: "rotated" }] };
    gateway.keys = rotated;
    gateway.decide = (r) => {
      const d = allow(r, { execution_token: "x" });
      return { ...d, execution_token: signGrant(claimsFor(r, d), { kid: "rotated" }) };
    };
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(gateway.jwksUrls).toHaveLength(2);
  });

  it.each([
    ["another decision", () => ({ decision_id: "dec_other" })],
    ["another dossier", () => ({ dossier_id: "dos_other" })],
    ["another tenant", () => ({ tenant_id: "globex" })],
    ["another intent", () => ({ binding: { intent_hash: `sha256:${"b".repeat(64)}` } })],
  ])("refuses a grant of %s", async (_name, claims) => {
    const { gateway, run, action } = setup();
    gateway.decide = (r) => allow(r, {}, claims());
    const error = await rejection(run());
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error.code).toMatch(/MISMATCH/);
    expect(action).not.toHaveBeenCalled();
  });

  it("refuses a grant that outlives the intent though the decision's expiry does not", async () => {
    const { gateway, run, action } = setup();
    gateway.decide = (r) => allow(r, {}, { exp: Math.floor(Date.parse(r.expires_at) / 1000) + 60 });
    const error = await rejection(run());
    expect(error.code).toBe("TOKEN_OUTLIVES_INTENT");
    expect(action).not.toHaveBeenCalled();
  });

  it("admits a grant expired within clockSkewMs, and refuses it past the skew", async () => {
    const expiredBy2s = (r: any) => allow(r, {}, { exp: Math.floor(Date.now() / 1000) - 2 });
    const lenient = setup({ clockSkewMs: 10_000 });
    lenient.gateway.decide = expiredBy2s;
    await expect(lenient.run()).resolves.toBe("ran");
    const strict = setup({ clockSkewMs: 0 });
    strict.gateway.decide = expiredBy2s;
    expect((await rejection(strict.run())).code).toBe("TOKEN_EXPIRED");
    expect(strict.action).not.toHaveBeenCalled();
  });

  it("checks a grant fetched by escalation id alone against the client's tenant", async () => {
    const { gateway, client } = setup({ escalation: "throw" });
    gateway.decide = (r) => refuse(r, "ESCALATE", { escalation_id: "esc_t" });
    await rejection(client.enforce(intent));
    gateway.escalate = (id, r) => escalation(r, id, "GRANT_READY", allow(r, {}, { tenant_id: "globex" }));
    const error = await rejection(client.waitForDecision("esc_t"));
    expect(error.code).toBe("TOKEN_DECISION_MISMATCH");
  });
});

describe("call settings cannot switch a check off", () => {
  it.each([
    ["verify", { verify: "skip" }],
    ["mode", { mode: "LIVE" }],
    ["escalation", { escalation: "ask" }],
    ["waitTimeoutMs", { waitTimeoutMs: -1 }],
    ["reportOutcome", { reportOutcome: "yes" }],
    ["signal", { signal: { aborted: false } }],
  ])("refuses a bad %s before any request", async (field, options) => {
    const { gateway, client, action } = setup();
    gateway.decide = (r) => allow(r, { execution_token: "forged.token.x" });
    const error = await rejection(client.enforce(intent, { ...(options as object), execute: action }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe(field);
    expect(gateway.requests).toHaveLength(0);
    expect(action).not.toHaveBeenCalled();
  });

  it("refuses an array of options", async () => {
    const { client, gateway } = setup();
    const error = await rejection(client.enforce(intent, [] as never));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(gateway.requests).toHaveLength(0);
  });

  it("applies each call option over the client's", async () => {
    const { gateway, client, action } = setup({ verify: "signature" });
    gateway.decide = (r) => allow(r, { execution_token: "opaque" });
    await expect(client.enforce(intent, { verify: "none", execute: action })).resolves.toBe("ran");
    await expect(client.enforce(intent, { execute: action })).rejects.toBeInstanceOf(InvalidReceiptError);
    gateway.decide = (r) => refuse(r, "BLOCK");
    await expect(client.enforce(intent, { mode: "SHADOW", execute: action })).resolves.toBe("ran");
    expect(action).toHaveBeenCalledTimes(2);
  });

  it("uses the client's settings for a call that sets none", async () => {
    const { gateway, client, action } = setup({ verify: "none", reportOutcome: true });
    gateway.decide = (r) => allow(r, { execution_token: "opaque" });
    await client.enforce(intent, { execute: action });
    await client.close();
    expect(gateway.outcomes).toHaveLength(1);
  });
});
