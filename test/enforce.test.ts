/**
 * Fail closed (protocol 2.5): against a real HTTP server, every answer that is
 * not an acceptable ALLOW runs nothing and raises a typed error; an ALLOW runs
 * the action exactly once with its own arguments and result.
 */
import {
  BindingMismatchError,
  BlockedError,
  ContractError,
  DecionisBlockedError,
  DecionisClient,
  InvalidReceiptError,
  MissingReceiptError,
  RetryPolicy,
  type Decision,
} from "../src/index.js";
import {
  allowFor,
  decisionFor,
  sampleIntent,
  useTestAuthority,
  type RecordedRequest,
} from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_enforce", retryPolicy: RetryPolicy.none() });
let client: DecionisClient;
beforeAll(() => {
  client = authority.client();
});

const intent = sampleIntent;

const inPast = () => new Date(Date.now() - 1000).toISOString();
const farFuture = () => new Date(Date.now() + 3_600_000).toISOString();

type Answer = (req: RecordedRequest) => unknown;
const failClosed: [string, Answer, new (...a: never[]) => Error, string?][] = [
  ["BLOCK", (r) => decisionFor(r, "BLOCK"), BlockedError, "DECISION_BLOCK"],
  ["ESCALATE", (r) => decisionFor(r, "ESCALATE", { escalation_id: "esc_1" }), BlockedError, "DECISION_ESCALATE"],
  ["REVIEW_REQUIRED", (r) => decisionFor(r, "REVIEW_REQUIRED"), BlockedError, "DECISION_REVIEW_REQUIRED"],
  ["ERROR", (r) => decisionFor(r, "ERROR"), BlockedError, "DECISION_ERROR"],
  ["BLOCK that says should_execute", (r) => decisionFor(r, "BLOCK", { should_execute: true }), BlockedError],
  ["an unknown status", (r) => allowFor(r, { status: "MAYBE" }), ContractError],
  [
    "ALLOW without should_execute",
    (r) => allowFor(r, { should_execute: false }),
    InvalidReceiptError,
    "SHOULD_EXECUTE_FALSE",
  ],
  ["ALLOW without a token", (r) => allowFor(r, { execution_token: null }), InvalidReceiptError, "TOKEN_MISSING"],
  ["ALLOW without a dossier id", (r) => allowFor(r, { dossier_id: null }), InvalidReceiptError, "DOSSIER_ID_MISSING"],
  [
    "ALLOW without a token expiry",
    (r) => allowFor(r, { execution_token_expires_at: null }),
    InvalidReceiptError,
    "TOKEN_EXPIRY_MISSING",
  ],
  [
    "ALLOW with an expired token",
    (r) => allowFor(r, { execution_token_expires_at: inPast() }),
    InvalidReceiptError,
    "TOKEN_EXPIRED",
  ],
  [
    "ALLOW whose token outlives the intent",
    (r) => allowFor(r, { execution_token_expires_at: farFuture() }),
    InvalidReceiptError,
    "TOKEN_OUTLIVES_INTENT",
  ],
  ["ALLOW for another action", (r) => allowFor(r, { action_hash: `sha256:${"0".repeat(64)}` }), BindingMismatchError],
  ["ALLOW without action_hash", (r) => ({ ...allowFor(r), action_hash: undefined }), ContractError],
  ["ALLOW without decision_id", (r) => ({ ...allowFor(r), decision_id: undefined }), ContractError],
  ["ALLOW without the execution_token key", (r) => ({ ...allowFor(r), execution_token: undefined }), ContractError],
  ["ALLOW with should_execute as a string", (r) => allowFor(r, { should_execute: "true" }), ContractError],
  ["ALLOW with a malformed reason code", (r) => allowFor(r, { reason_codes: ["ok lower"] }), ContractError],
  ["ALLOW with an invalid expiry", (r) => allowFor(r, { execution_token_expires_at: "tomorrow" }), ContractError],
  ["a JSON array", () => [], ContractError],
  ["a JSON string", () => "ALLOW", ContractError],
  ["null", () => null, ContractError],
];

describe("nothing runs unless the answer is an acceptable ALLOW", () => {
  // Rows padded to four cells: jest would take a missing cell for `done`.
  it.each(failClosed.map(([w, a, t, c]) => [w, a, t, c ?? null] as const))("%s", async (_what, answer, type, code) => {
    authority.script({ body: (r: RecordedRequest) => JSON.stringify(answer(r)) });
    const action = jest.fn(() => "ran");
    const error = await client.enforce(intent, { execute: action }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    if (code !== null) expect((error as InvalidReceiptError).code).toBe(code);
    expect(action).not.toHaveBeenCalled();
  });

  it("keeps zod's issues on a ContractError", async () => {
    authority.script({ body: (r: RecordedRequest) => ({ ...allowFor(r), decision_id: 7 }) });
    const error = (await client.enforce(intent).catch((e: unknown) => e)) as ContractError;
    expect(error.issues[0]).toMatchObject({ path: ["decision_id"], code: "invalid_type" });
  });
});

describe("BlockedError", () => {
  it("carries the decision and a message a person can act on", async () => {
    authority.script({
      body: (r: RecordedRequest) =>
        decisionFor(r, "BLOCK", {
          decision_id: "dec_42",
          reason_codes: ["NOTIONAL_LIMIT", "RISK:HIGH"],
          explanation: "Notional 2,000,000 over the 1,000,000 limit",
          dossier_id: "dos_42",
          dossier_url: "https://authority.test/dossiers/dos_42",
          extra_field: { kept: true },
        }),
    });
    const error = (await client.enforce(intent).catch((e: unknown) => e)) as BlockedError;
    expect(error).toBeInstanceOf(BlockedError);
    expect(error).toBeInstanceOf(DecionisBlockedError);
    expect(error).toMatchObject({
      status: "BLOCK",
      decisionId: "dec_42",
      reasonCodes: ["NOTIONAL_LIMIT", "RISK:HIGH"],
      explanation: "Notional 2,000,000 over the 1,000,000 limit",
      dossierId: "dos_42",
      dossierUrl: "https://authority.test/dossiers/dos_42",
      escalationId: null,
      code: "DECISION_BLOCK",
    });
    expect(error.message).toBe(
      "Decionis blocked decision dec_42 [NOTIONAL_LIMIT, RISK:HIGH]: Notional 2,000,000 over the 1,000,000 limit; " +
        "nothing ran. Record: https://authority.test/dossiers/dos_42",
    );
    expect(error.response["extra_field"]).toEqual({ kept: true });
    expect(error.decision.status).toBe("BLOCK");
  });

  it("names the escalation of an ESCALATE", async () => {
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "ESCALATE", { escalation_id: "esc_9" }) });
    const error = (await client.enforce(intent).catch((e: unknown) => e)) as BlockedError;
    expect(error.escalationId).toBe("esc_9");
    expect(error.message).toMatch(/escalated/);
  });
});

describe("an accepted ALLOW", () => {
  it("runs the action once and returns its result, with the decision", async () => {
    let seen: Decision | undefined;
    const result = await client.enforce(intent, {
      execute: (d) => {
        seen = d;
        return Promise.resolve({ orderId: 7 });
      },
    });
    expect(result).toEqual({ orderId: 7 });
    expect(seen).toMatchObject({ status: "ALLOW", allowed: true, shouldExecute: true });
    expect(seen!.executionTokenExpiresAt).toBeInstanceOf(Date);
    expect(seen!.actionHash).toBe(authority.requests[0]!.json.intent_hash);
    expect(seen!.intentId).toBe(authority.requests[0]!.json.intent_id);
    expect(seen!.correlationId).toBe(authority.requests[0]!.json.correlation_id);
    expect(authority.requests).toHaveLength(1);
  });

  it("passes the action's own error through untouched and never retries it", async () => {
    const own = new Error("broker down");
    const action = jest.fn(() => {
      throw own;
    });
    await expect(client.enforce(intent, { execute: action })).rejects.toBe(own);
    expect(action).toHaveBeenCalledTimes(1);
    expect(authority.requests).toHaveLength(1);
  });

  it("keeps unknown response fields in raw", async () => {
    authority.script({ body: (r: RecordedRequest) => allowFor(r, { vendor_extension: 1 }) });
    const decision = await client.enforce(intent);
    expect(decision.raw["vendor_extension"]).toBe(1);
  });
});

describe("decide and execute", () => {
  it("decide returns any status without throwing", async () => {
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "REVIEW_REQUIRED") });
    const receipt = await client.decide(intent);
    expect(receipt.status).toBe("REVIEW_REQUIRED");
    expect(receipt.allowed).toBe(false);
  });

  it("execute runs an ALLOW receipt once", async () => {
    const receipt = await client.decide(intent);
    const action = jest.fn(() => 5);
    await expect(client.execute(receipt, action)).resolves.toBe(5);
    const again = await client.execute(receipt, action).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(InvalidReceiptError);
    expect((again as InvalidReceiptError).code).toBe("RECEIPT_ALREADY_USED");
    expect(action).toHaveBeenCalledTimes(1);
  });

  it("execute refuses a missing receipt", async () => {
    const action = jest.fn();
    await expect(client.execute(undefined, action)).rejects.toBeInstanceOf(MissingReceiptError);
    await expect(client.execute(null, action)).rejects.toBeInstanceOf(MissingReceiptError);
    expect(action).not.toHaveBeenCalled();
  });

  it("execute refuses a non-ALLOW receipt with BlockedError", async () => {
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    const receipt = await client.decide(intent);
    const action = jest.fn();
    await expect(client.execute(receipt, action)).rejects.toBeInstanceOf(BlockedError);
    expect(action).not.toHaveBeenCalled();
  });

  it("execute refuses a receipt whose grant expired since the decision", async () => {
    authority.script({
      body: (r: RecordedRequest) =>
        allowFor(r, { execution_token_expires_at: new Date(Date.now() + 150).toISOString() }),
    });
    const receipt = await client.decide(intent);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const action = jest.fn();
    const error = await client.execute(receipt, action).catch((e: unknown) => e);
    expect((error as InvalidReceiptError).code).toBe("TOKEN_EXPIRED");
    expect(action).not.toHaveBeenCalled();
  });

  it("execute refuses a receipt it did not issue, even a copy of a real one", async () => {
    const receipt = await client.decide(intent);
    const forged = { ...receipt };
    const action = jest.fn();
    const error = await client.execute(forged, action).catch((e: unknown) => e);
    expect((error as InvalidReceiptError).code).toBe("RECEIPT_UNKNOWN");
    const other = new DecionisClient({ apiKey: "k", baseUrl: authority.url, tenantId: "acme" });
    await expect(other.execute(receipt, action)).rejects.toBeInstanceOf(InvalidReceiptError);
    await other.close();
    expect(action).not.toHaveBeenCalled();
  });

  it("decide throws when an ALLOW cannot be accepted", async () => {
    authority.script({ body: (r: RecordedRequest) => allowFor(r, { execution_token: null }) });
    await expect(client.decide(intent)).rejects.toBeInstanceOf(InvalidReceiptError);
  });
});

describe("hooks observe and never change the outcome", () => {
  it("onDecision sees every decision; onError sees failures; throwing hooks are ignored", async () => {
    const decisions: unknown[] = [];
    const errors: unknown[] = [];
    const observed = new DecionisClient({
      apiKey: "k",
      baseUrl: authority.url,
      tenantId: "acme",
      retryPolicy: RetryPolicy.none(),
      hooks: {
        onDecision: (e) => {
          decisions.push(e);
          throw new Error("hook bug");
        },
        onError: (e) => {
          errors.push(e.error);
          return Promise.reject(new Error("async hook bug"));
        },
      },
    });
    await expect(observed.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(decisions[0]).toMatchObject({
      shadow: false,
      decision: { status: "ALLOW" },
      intent: { mode: "ENFORCEMENT" },
    });
    expect((decisions[0] as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);

    authority.script({ body: "not json" });
    await expect(observed.enforce(intent)).rejects.toBeInstanceOf(ContractError);
    expect(errors[0]).toBeInstanceOf(ContractError);

    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    await expect(observed.enforce(intent)).rejects.toBeInstanceOf(BlockedError);
    expect(errors).toHaveLength(1);
    expect(decisions).toHaveLength(2);
    await observed.close();
  });
});
