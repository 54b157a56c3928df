/**
 * enforce-and-bind against the local h.authority, through the public SDK where
 * it has an API and raw HTTP where the wire itself is the subject.
 */
import { AuthenticationError, BlockedError, gate, type Decision, type JsonObject } from "../../src/index.js";
import { wireDecisionSchema, wireErrorBodySchema } from "../../src/gateway/wire.js";
import { startLocalAuthority } from "../../src/local/index.js";
import { call, clientFor, jwksOf, order, POLICIES, rawRequest, useHarness, verifyJws } from "./helpers.js";

const h = useHarness();

async function blocked(promise: Promise<unknown>): Promise<BlockedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BlockedError);
  return error as BlockedError;
}

/** The request the h.authority recorded for a decision. */
function requestOf(decision: Decision) {
  return h.authority.decisions().find((d) => d.decision.decision_id === decision.decisionId)!.request;
}

describe("every outcome", () => {
  test("ALLOW carries a grant signed with a JWKS key, bound to the intent, expiring by the intent", async () => {
    const decision = await h.client.enforce(order(5_000));
    expect(decision).toMatchObject({
      status: "ALLOW",
      allowed: true,
      shouldExecute: true,
      reasonCodes: ["WITHIN_LIMITS"],
    });
    expect(decision.policyVersion).toBe("trading@7");
    expect(decision.dossierUrl).toBe(`${h.authority.url}/dossiers/${decision.dossierId!}`);
    expect(decision.decisionId).toMatch(/^dec_[0-9A-Z]{26}$/);

    const { header, claims, valid } = verifyJws(decision.executionToken!, await jwksOf(h.authority));
    expect(valid).toBe(true);
    expect(header).toEqual({ alg: "EdDSA", kid: expect.any(String), typ: "decionis-grant+jwt" });
    const request = requestOf(decision);
    expect(claims).toEqual({
      iss: h.authority.url,
      jti: expect.stringMatching(/^grt_/),
      decision_id: decision.decisionId,
      dossier_id: decision.dossierId,
      tenant_id: request.tenant_id,
      iat: expect.any(Number),
      exp: decision.executionTokenExpiresAt!.getTime() / 1000,
      binding: { intent_hash: decision.actionHash },
    });
    expect(decision.executionTokenExpiresAt!.getTime()).toBeLessThanOrEqual(Date.parse(request.expires_at));
    expect(decision.executionTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 25_000);
  });

  test("a forged signature does not verify (the check above is real)", async () => {
    const decision = await h.client.enforce(order(5_000));
    const [head, body] = decision.executionToken!.split(".");
    const forged = `${head!}.${body!}.${Buffer.alloc(64, 7).toString("base64url")}`;
    expect(verifyJws(forged, await jwksOf(h.authority)).valid).toBe(false);
  });

  test("the grant never outlives a short intent", async () => {
    const c = clientFor(h.authority, { intentTtlMs: 2_500 });
    const decision = await c.enforce(order(5_000));
    const expiresAt = Date.parse(requestOf(decision).expires_at);
    expect(decision.executionTokenExpiresAt!.getTime()).toBeLessThanOrEqual(expiresAt);
    expect(expiresAt - decision.executionTokenExpiresAt!.getTime()).toBeLessThan(1_000);
    await c.close();
  });

  test("BLOCK: the gated function does not run and BlockedError says why", async () => {
    const open = jest.fn(async (o: { notional: number }) => `opened ${o.notional}`);
    const gated = gate(open, {
      client: h.client,
      action: "OPEN_POSITION",
      policy: "trading",
      actor: { id: "bot_7", type: "TRADING_BOT" },
      resource: "EURUSD",
      parameters: (o) => ({ notional: o.notional }),
      context: (o) => ({ notional: o.notional }),
    });
    await expect(gated({ notional: 100 })).resolves.toBe("opened 100");
    const error = await blocked(gated({ notional: 5_000_000 }));
    expect(open).toHaveBeenCalledTimes(1);
    expect(error).toMatchObject({
      status: "BLOCK",
      reasonCodes: ["NOTIONAL_LIMIT_EXCEEDED"],
      explanation: "Notional above 1,000,000",
      escalationId: null,
    });
    expect(error.dossierUrl).toBe(`${h.authority.url}/dossiers/${error.dossierId!}`);
    expect(error.decision.executionToken).toBeNull();
    expect(error.decision.shouldExecute).toBe(false);
  });

  test("ESCALATE creates an escalation the client can follow", async () => {
    const error = await blocked(h.client.enforce(order(500_000)));
    expect(error).toMatchObject({ status: "ESCALATE", reasonCodes: ["LARGE_NOTIONAL"] });
    expect(error.escalationId).toMatch(/^esc_[0-9A-Z]{26}$/);
    const escalation = await call(h.authority, "GET", `/v1/authority/escalations/${error.escalationId!}`);
    expect(escalation.status).toBe(200);
    expect(escalation.json).toMatchObject({ status: "AWAITING_APPROVER", action_hash: error.decision.actionHash });
  });

  test("REVIEW_REQUIRED comes back from decide() without throwing", async () => {
    const receipt = await h.client.decide(order(1_000, { parameters: { symbol: "XAUUSD" } }));
    expect(receipt).toMatchObject({ status: "REVIEW_REQUIRED", reasonCodes: ["EXOTIC_SYMBOL"], allowed: false });
    expect(receipt.escalationId).not.toBeNull();
    expect(receipt.executionToken).toBeNull();
    await expect(h.client.execute(receipt, () => "ran")).rejects.toBeInstanceOf(BlockedError);
  });

  test("caller data at the SDK's own limits is taken (depth counted per value, entries over both)", async () => {
    let deep: JsonObject = { leaf: 1 };
    for (let i = 0; i < 18; i++) deep = { deep }; // parameters is level 1, the leaf object level 20
    const list = Array.from({ length: 4_900 }, (_, i) => i);
    const receipt = await h.client.decide(
      order(1_000, { parameters: { symbol: "EURUSD", deep }, context: { notional: 1, list } }),
    );
    expect(receipt.status).toBe("ALLOW");
  });

  test("every answer passes the SDK's own schema", async () => {
    const res = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", rawRequest());
    expect(res.status).toBe(200);
    expect(wireDecisionSchema.safeParse(res.json).success).toBe(true);
  });
});

describe("several policies", () => {
  test.each([
    // [context, expected status, reason codes]
    [{ notional: 1_000, kyc: "verified" }, "ALLOW", ["WITHIN_LIMITS", "KYC_OK"]],
    [{ notional: 1_000, kyc: "pending" }, "REVIEW_REQUIRED", ["KYC_PENDING", "WITHIN_LIMITS"]],
    [{ notional: 500_000, kyc: "pending" }, "ESCALATE", ["LARGE_NOTIONAL", "KYC_PENDING"]],
    [{ notional: 500_000 }, "BLOCK", ["KYC_MISSING", "LARGE_NOTIONAL"]],
  ])("the most restrictive outcome wins and reasons merge (%j)", async (context, status, reasons) => {
    const receipt = await h.client.decide(order(0, { context, policyRefs: ["trading", "kyc"] }));
    expect(receipt.status).toBe(status);
    expect(receipt.reasonCodes).toEqual(reasons);
    expect(receipt.policyVersion).toBe("trading@7,kyc@2026-01");
  });

  test("an unknown policy ref blocks with POLICY_NOT_FOUND, whatever the others say", async () => {
    const alone = await h.client.decide(order(1_000, { policyRefs: ["no-such-policy"] }));
    expect(alone).toMatchObject({ status: "BLOCK", reasonCodes: ["POLICY_NOT_FOUND"] });
    const mixed = await h.client.decide(order(1_000, { policyRefs: ["trading", "no-such-policy"] }));
    expect(mixed.status).toBe("BLOCK");
    expect(mixed.reasonCodes).toEqual(["POLICY_NOT_FOUND", "WITHIN_LIMITS"]);
    expect(mixed.explanation).toContain('no-such-policy: No policy "no-such-policy" is loaded');
  });

  test("an intent that names no policy is blocked unless the file sets default_policy_refs", async () => {
    const none = await h.client.decide(order(1_000, { policyRefs: [] }));
    expect(none).toMatchObject({ status: "BLOCK", reasonCodes: ["NO_POLICY_REFS"] });

    const withDefault = await startLocalAuthority({ policies: { ...POLICIES, default_policy_refs: ["trading"] } });
    const c = clientFor(withDefault);
    try {
      await expect(c.decide(order(1_000, { policyRefs: [] }))).resolves.toMatchObject({ status: "ALLOW" });
    } finally {
      await c.close();
      await withDefault.stop();
    }
  });
});

describe("requests the h.authority refuses", () => {
  test("a missing field: 400 naming it", async () => {
    const body = rawRequest();
    delete (body["action"] as Record<string, unknown>)["type"];
    const res = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", body);
    expect(res.status).toBe(400);
    expect(wireErrorBodySchema.parse(res.json).error).toMatchObject({
      code: "INVALID_REQUEST",
      details: { field: "action.type" },
    });
    expect(res.json.error.message).toMatch(/^action\.type: /);
  });

  test.each([
    ["a bad correlation id", "correlation_id", () => ({ ...rawRequest(), correlation_id: "t:other|c:nope" })],
    ["an unknown mode", "mode", () => ({ ...rawRequest(), mode: "YOLO" })],
    ["an intent longer than 300 s", "expires_at", () => rawRequest({ ttlMs: 301_000 })],
    [
      "a key that is not JSON data in the binding",
      "context.__proto__",
      () => JSON.parse(JSON.stringify(rawRequest()).replace('"context":{', '"context":{"__proto__":1,')),
    ],
  ])("%s: 400 naming %s", async (_what, field, body) => {
    const res = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", body());
    expect(res.status).toBe(400);
    expect(res.json.error.details.field).toBe(field);
  });

  test("headers that disagree with the body: 400", async () => {
    const body = rawRequest();
    const res = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", body, { "idempotency-key": "other" });
    expect(res.status).toBe(400);
    expect(res.json.error.details.field).toBe("idempotency-key");
  });

  test("a binding changed after hashing: 400 INTENT_HASH_MISMATCH with both hashes", async () => {
    const body = rawRequest({ context: { notional: 1_000 } });
    const sent = body["intent_hash"];
    body["context"] = { notional: 999_999_999 };
    const res = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: "INTENT_HASH_MISMATCH", details: { received: sent } });
    expect(res.json.error.details.expected).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.json.error.details.expected).not.toBe(sent);
  });

  test("not JSON: 400 INVALID_JSON; too large: 413", async () => {
    const bad = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", "{nope");
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("INVALID_JSON");
    const big = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", `"${"x".repeat(300 * 1024)}"`);
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("an intent already expired is blocked, not granted", async () => {
    const res = await call(
      h.authority,
      "POST",
      "/v1/authority/enforce-and-bind",
      rawRequest({ capturedAt: Date.now() - 10_000, ttlMs: 5_000 }),
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: "BLOCK", reason_codes: ["INTENT_EXPIRED"], execution_token: null });
  });

  test("a bad API key: 401 with the protocol's error body, AuthenticationError in the SDK, key never echoed", async () => {
    const key = "dk_wrong_key_123456";
    const raw = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", rawRequest(), {
      authorization: `Bearer ${key}`,
    });
    expect(raw.status).toBe(401);
    expect(wireErrorBodySchema.parse(raw.json).error.code).toBe("UNAUTHENTICATED");
    expect(raw.text).not.toContain(key);
    const none = await fetch(`${h.authority.url}/v1/protocol/dossiers/dos_X`);
    expect(none.status).toBe(401);

    const wrong = clientFor(h.authority, { apiKey: key });
    const error = await wrong.enforce(order(1_000)).catch((e: unknown) => e);
    await wrong.close();
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(JSON.stringify(error)).not.toContain(key);
  });

  test("health answers; unknown routes 404 and wrong methods 405 with error bodies", async () => {
    expect((await call(h.authority, "GET", "/v1/health")).json).toEqual({ status: "ok", version: expect.any(String) });
    const missing = await call(h.authority, "GET", "/v1/nothing");
    expect(missing.status).toBe(404);
    expect(wireErrorBodySchema.safeParse(missing.json).success).toBe(true);
    const method = await call(h.authority, "GET", "/v1/authority/enforce-and-bind");
    expect(method.status).toBe(405);
  });
});
