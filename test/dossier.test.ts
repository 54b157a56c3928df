/** verifyDossier: the integrity block of protocol 6, checked against a JWKS; any change is caught. */
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { verifyDossier, type Jwks } from "../src/index.js";
import { canonicalRecord } from "../src/intent/canonical.js";

const key = generateKeyPairSync("ed25519");
const jwks = { keys: [{ ...key.publicKey.export({ format: "jwk" }), kid: "k1" }] } as Jwks;

function signed(record: Record<string, unknown>, keyId = "k1", privateKey = key.privateKey) {
  const canonical = canonicalRecord(record);
  return {
    ...record,
    integrity: {
      algorithm: "Ed25519",
      key_id: keyId,
      canonical_sha256: createHash("sha256").update(canonical).digest("hex"),
      signature: sign(null, Buffer.from(canonical), privateKey).toString("base64url"),
    },
  };
}

const record = {
  dossier_id: "dos_1",
  binding: { tenant_id: "acme", action: { type: "OPEN", parameters: { qty: 1000, note: "café 🚀" } } },
  decision: { decision_id: "dec_1", status: "ALLOW", reason_codes: ["WITHIN_LIMITS"] },
  outcome: null,
};

describe("verifyDossier", () => {
  it("accepts an untouched record", () => {
    expect(verifyDossier(signed(record), jwks)).toEqual({ valid: true, keyId: "k1" });
  });

  it("detects a changed field", () => {
    const dossier = signed(record) as Record<string, any>;
    dossier["decision"].status = "BLOCK";
    expect(verifyDossier(dossier, jwks)).toMatchObject({ valid: false, reason: expect.stringMatching(/changed/) });
  });

  it("detects a forged signature over a recomputed digest", () => {
    const forger = generateKeyPairSync("ed25519");
    expect(verifyDossier(signed(record, "k1", forger.privateKey), jwks)).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/signature/),
    });
  });

  it("refuses an unknown key and a missing integrity block", () => {
    expect(verifyDossier(signed(record, "k9"), jwks)).toMatchObject({ valid: false, keyId: "k9" });
    expect(verifyDossier(record, jwks)).toMatchObject({ valid: false, keyId: null });
  });

  it("handles records nested deeper than the intent limits", () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 30; i++) deep = { d: deep };
    expect(verifyDossier(signed({ ...record, deep }), jwks)).toMatchObject({ valid: true });
  });
});
