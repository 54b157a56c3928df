/**
 * Edges found in review, each a way the gate could have run something it
 * should not, or sent something other than it hashed. Real HTTP authority.
 */
import {
  ConfigurationError,
  DecionisClient,
  gate,
  InvalidReceiptError,
  RetryPolicy,
  ValidationError,
  type EnforceExecuteOptions,
} from "../src/index.js";
import { MockGateway } from "./helpers/mock-gateway.js";
import {
  allowFor,
  escalationFor,
  grantClaims,
  sampleIntent as intent,
  signGrant,
  useTestAuthority,
  type RecordedRequest,
} from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_edges", retryPolicy: RetryPolicy.none() });

describe("options that would switch checks off are refused", () => {
  it("a misspelt verify, per call and per gate", async () => {
    const client = authority.client();
    const action = jest.fn();
    await expect(client.enforce(intent, { verify: "Signature" as never, execute: action })).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    const gated = gate(action, { client, action: "X", actor: { id: "a", type: "B" }, verify: "nope" as never });
    await expect(gated()).rejects.toMatchObject({ name: "ConfigurationError", option: "verify" });
    expect(action).not.toHaveBeenCalled();
    expect(authority.requests).toHaveLength(0);
  });

  it("options that are not an object, or a verify that changes between reads", async () => {
    const client = authority.client();
    const action = jest.fn();
    for (const bad of [[], null, "signature"])
      await expect(client.enforce(intent, bad as never)).rejects.toBeInstanceOf(ConfigurationError);
    // A getter that passes the check and then says "none" must not switch the check off: read once.
    let reads = 0;
    const shifty = {
      get verify() {
        reads++;
        return reads === 1 ? "nope" : "none";
      },
      execute: action,
    };
    await expect(client.enforce(intent, shifty as never)).rejects.toMatchObject({ option: "verify" });
    expect(reads).toBe(1);
    expect(action).not.toHaveBeenCalled();
    expect(authority.requests).toHaveLength(0);
  });

  it("a key URL with a gateway that cannot fetch it", () => {
    expect(
      () => new DecionisClient({ gateway: new MockGateway(), authorityKeys: "https://keys.example/jwks.json" }),
    ).toThrow(/authorityKeys/);
  });

  it("a wait timeout that is not a number of ms", async () => {
    await expect(authority.client().waitForDecision("esc_1", { timeoutMs: Number.NaN })).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    expect(authority.requests).toHaveLength(0);
  });
});

describe("one grant, one run", () => {
  it("the signed expiry is checked again at execute time, not only the unsigned one", async () => {
    const client = authority.client({ clockSkewMs: 0 });
    // Seconds of margin so a loaded machine still accepts the grant at decide time.
    let exp = 0;
    authority.script({
      body: (r: RecordedRequest) => {
        const decision = allowFor(r);
        exp = Math.floor(Date.now() / 1000) + 3;
        return { ...decision, execution_token: signGrant({ ...grantClaims(r, decision), exp }) };
      },
    });
    const receipt = await client.decide(intent);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 100));
    const action = jest.fn();
    const error = await client.execute(receipt, action).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect((error as InvalidReceiptError).code).toBe("TOKEN_EXPIRED");
    expect(action).not.toHaveBeenCalled();
  });
});

describe("a grant fetched by escalation id alone", () => {
  it("must be for the client's own tenant", async () => {
    let first: RecordedRequest | undefined;
    authority.script({
      body: (r: RecordedRequest) => {
        first = r;
        return allowFor(r);
      },
    });
    await authority.client().decide(intent);
    authority.script({ body: () => escalationFor(first!, "esc_t", "GRANT_READY", allowFor(first!)) });
    const stranger = authority.client({ tenantId: "another_tenant" });
    await expect(stranger.waitForDecision("esc_t")).rejects.toMatchObject({ code: "TOKEN_DECISION_MISMATCH" });
  });
});

describe("an abort", () => {
  it("that lands after the answer still stops the run", async () => {
    const controller = new AbortController();
    const client = authority.client({
      hooks: {
        onDecision: () => {
          controller.abort(new Error("caller left"));
        },
      },
    });
    const action = jest.fn();
    await expect(client.enforce(intent, { signal: controller.signal, execute: action })).rejects.toThrow("caller left");
    expect(action).not.toHaveBeenCalled();
  });
});

describe("what travels in headers matches the body", () => {
  it.each([
    ["a non-ASCII idempotency key", { idempotencyKey: "заказ-1" }, "idempotencyKey"],
    ["a line break", { idempotencyKey: "a\nb" }, "idempotencyKey"],
    ["a non-ASCII tenant", { tenantId: "租户" }, "tenantId"],
  ])("%s is refused before any request", async (_what, patch, path) => {
    const error = await authority
      .client()
      .enforce({ ...intent, ...patch })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe(path);
    expect(authority.requests).toHaveLength(0);
  });
});

describe("types", () => {
  interface Order {
    symbol: string;
    qty: number;
  }

  it("enforce with execute options in a variable returns the action's result type", async () => {
    const options: EnforceExecuteOptions<number> = { execute: () => 7 };
    const result: number = await authority.client().enforce(intent, options);
    expect(result).toBe(7);
  });

  it("interface-typed data is accepted as parameters and context", async () => {
    const order: Order = { symbol: "EURUSD", qty: 5 };
    await expect(authority.client().enforce({ ...intent, parameters: order, context: order })).resolves.toMatchObject({
      status: "ALLOW",
    });
  });
});
