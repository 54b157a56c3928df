/**
 * Dossiers (protocol 6): the signed JSON record, its HTML page (escaped), the
 * outcome endpoint, and the 100 KiB cap on what is answered.
 */
import { createHash, createPublicKey, verify, type JsonWebKey } from "node:crypto";
import { BlockedError, canonicalJson, verifyDossier, type Decision, type JsonObject } from "../../src/index.js";
import { wireJwksSchema } from "../../src/gateway/wire.js";
import { canonicalRecord } from "../../src/intent/canonical.js";
import type { PoliciesFile } from "../../src/local/index.js";
import { call, jwksOf, order, POLICIES, useHarness } from "./helpers.js";

const HOSTILE = `<script>alert("x")</script>&'`;

const policies: PoliciesFile = {
  policies: [
    ...POLICIES.policies,
    {
      id: "hostile",
      version: 1,
      rules: [],
      default: { outcome: "BLOCK", reason_codes: ["HOSTILE"], explanation: `Refused ${HOSTILE}` },
    },
  ],
};

const h = useHarness({ policies });

const getDossier = async (id: string) => (await call(h.authority, "GET", `/v1/protocol/dossiers/${id}`)).json;

/**
 * Checks the integrity block by hand (canonical form, SHA-256, Ed25519 against
 * the JWKS with node:crypto), and with the SDK's verifyDossier: both must agree.
 */
async function integrityHolds(dossier: Record<string, any>): Promise<boolean> {
  const { integrity, ...record } = dossier;
  const canonical = Buffer.from(canonicalRecord(record), "utf8");
  const jwks = await jwksOf(h.authority);
  const jwk = jwks.keys.find((k) => k["kid"] === integrity.key_id)!;
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x } as JsonWebKey, format: "jwk" });
  const byHand =
    integrity.algorithm === "Ed25519" &&
    createHash("sha256").update(canonical).digest("hex") === integrity.canonical_sha256 &&
    verify(null, canonical, key, Buffer.from(integrity.signature, "base64url"));
  expect(verifyDossier(dossier, wireJwksSchema.parse(jwks)).valid).toBe(byHand);
  return byHand;
}

test("the JSON record holds the binding, decision, trace and grant, and its signature verifies", async () => {
  const decision = await h.client.enforce(order(5_000));
  const dossier = await getDossier(decision.dossierId!);
  expect(dossier).toMatchObject({
    dossier_id: decision.dossierId,
    intent: { intent_hash: decision.actionHash, binding: { intent_id: decision.intentId }, binding_summarised: false },
    decision: { decision_id: decision.decisionId, status: "ALLOW", reason_codes: ["WITHIN_LIMITS"] },
    evaluation: [{ policy: "trading", version: "7", rule: "within-limits", outcome: "ALLOW" }],
    grants: [{ decision_id: decision.decisionId, consumed: null }],
    escalation: null,
    outcome: null,
  });
  // The binding in the record is the one that was hashed.
  expect("sha256:" + createHash("sha256").update(canonicalJson(dossier.intent.binding)).digest("hex")).toBe(
    decision.actionHash,
  );
  expect(JSON.stringify(dossier)).not.toContain(decision.executionToken!);
  expect(await integrityHolds(dossier)).toBe(true);

  dossier.decision.status = "BLOCK";
  expect(await integrityHolds(dossier)).toBe(false);
});

test("the HTML page needs no key and shows every field escaped", async () => {
  const error = (await h.client
    .enforce(
      order(5_000, {
        actor: { id: `bot${HOSTILE}`, type: "TRADING_BOT" },
        parameters: { note: `"><img src=x onerror=alert(1)>` },
        policyRefs: ["hostile"],
      }),
    )
    .catch((e: unknown) => e)) as BlockedError;
  expect(error).toBeInstanceOf(BlockedError);
  const res = await fetch(error.dossierUrl!);
  const html = await res.text();
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  expect(html).not.toContain("<script");
  expect(html).not.toContain("<img");
  expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;");
  expect(html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  for (const shown of [error.decisionId, "HOSTILE", "BLOCK", "hostile@1", "Valid: verifies"])
    expect(html).toContain(shown);

  expect((await fetch(`${h.authority.url}/dossiers/dos_NOPE`)).status).toBe(404);
  expect((await call(h.authority, "GET", "/v1/protocol/dossiers/dos_NOPE")).json.error.code).toBe("DOSSIER_NOT_FOUND");
});

test("the page shows the escalation timeline", async () => {
  const error = (await h.client.enforce(order(500_000)).catch((e: unknown) => e)) as BlockedError;
  await h.authority.approve(error.escalationId!, { by: "alice <ops>" });
  const html = await (await fetch(error.dossierUrl!)).text();
  expect(html).toMatch(/AWAITING_APPROVER.*GRANT_READY.*by alice &lt;ops&gt;/s);
  expect(await integrityHolds(await getDossier(error.dossierId!))).toBe(true);
});

describe("outcomes", () => {
  const outcome = (status: "SUCCEEDED" | "FAILED", extra: Record<string, unknown> = {}) => ({
    status,
    started_at: "2026-01-01T00:00:00.000Z",
    finished_at: "2026-01-01T00:00:01.000Z",
    ...extra,
  });
  const post = (decision: Decision | string, body: unknown) =>
    call(
      h.authority,
      "POST",
      `/v1/authority/decisions/${typeof decision === "string" ? decision : decision.decisionId}/outcome`,
      body,
    );

  test("stored on the dossier and its page; the same report again is accepted, another is 409", async () => {
    const decision = await h.client.enforce(order(5_000));
    const failed = outcome("FAILED", { error: { name: "BrokerError", message: "market <closed>" } });
    const res = await post(decision, failed);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ decision_id: decision.decisionId, dossier_id: decision.dossierId, status: "RECORDED" });
    expect((await getDossier(decision.dossierId!)).outcome).toMatchObject(failed);
    expect(await (await fetch(decision.dossierUrl!)).text()).toContain("BrokerError: market &lt;closed&gt;");

    expect((await post(decision, failed)).status).toBe(202);
    const other = await post(decision, outcome("SUCCEEDED"));
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe("OUTCOME_ALREADY_RECORDED");
  });

  test("refused for a decision that allowed nothing, an unknown one, or a bad body", async () => {
    const receipt = await h.client.decide(order(5_000_000));
    expect((await post(receipt, outcome("SUCCEEDED"))).json.error.code).toBe("DECISION_NOT_ALLOWED");
    expect((await post("dec_NOPE", outcome("SUCCEEDED"))).status).toBe(404);
    const allowed = await h.client.enforce(order(5_000));
    const bad = await post(allowed, { ...outcome("SUCCEEDED"), status: "MAYBE" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.details.field).toBe("status");
  });
});

describe("the 100 KiB cap", () => {
  test("a dossier that would be over 100 KiB carries a digest of the caller data, and still verifies", async () => {
    const parameters = { blob: "x".repeat(95 * 1024) };
    // Through the SDK: the authority must take whatever the SDK's own limits let through.
    const receipt = await h.client.decide(order(5_000, { parameters }));
    expect(receipt.status).toBe("ALLOW");
    const raw = await call(h.authority, "GET", `/v1/protocol/dossiers/${receipt.dossierId!}`);
    expect(Buffer.byteLength(raw.text)).toBeLessThanOrEqual(100 * 1024);
    expect(raw.json.intent.binding_summarised).toBe(true);
    expect(raw.json.intent.binding.action.parameters).toEqual({
      $omitted: expect.any(String),
      sha256: createHash("sha256").update(JSON.stringify(parameters)).digest("hex"),
      bytes: Buffer.byteLength(JSON.stringify(parameters)),
    });
    expect(await integrityHolds(raw.json)).toBe(true);
  });

  test("caller data as deep as the SDK allows is carried whole (the record is deeper than 20 levels)", async () => {
    let deep: JsonObject = { leaf: true };
    for (let i = 0; i < 18; i++) deep = { deep };
    const receipt = await h.client.decide(order(5_000, { parameters: deep }));
    const dossier = await getDossier(receipt.dossierId!);
    expect(dossier.intent.binding_summarised).toBe(false);
    expect(dossier.intent.binding.action.parameters).toEqual(deep);
    expect(await integrityHolds(dossier)).toBe(true);
  });
});
