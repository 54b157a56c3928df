// The benchmark's stand-in authority: a signing key, its JWKS, and the ALLOW (protocol 2.4)
// with a signed grant (protocol 5) for one request. Used by the loopback server (bench/server.mjs)
// and by the in-process gateway of the profile (bench/profile.mjs), so both answer alike.
import { generateKeyPairSync, sign } from "node:crypto";

export const KID = "bench-key-1";
export const TOKEN_TTL_MS = 30_000;
export const { privateKey, publicKey } = generateKeyPairSync("ed25519");
export const JWKS = { keys: [{ ...publicKey.export({ format: "jwk" }), kid: KID, alg: "EdDSA", use: "sig" }] };

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const JWS_HEADER = b64({ alg: "EdDSA", kid: KID, typ: "decionis-grant+jwt" });

let seq = 0;

/**
 * An ALLOW for one intent. Ids are fixed-width so every answer has the same size; the grant's
 * `exp` is in whole seconds and never after the intent's expiry.
 */
export function allowAnswer({ hash, tenantId, expiresAt, issuer }) {
  const n = String(++seq).padStart(12, "0");
  const now = Date.now();
  const intentExpiry = Date.parse(expiresAt);
  const exp = Math.floor(
    (Number.isFinite(intentExpiry) ? Math.min(now + TOKEN_TTL_MS, intentExpiry) : now + TOKEN_TTL_MS) / 1000,
  );
  const claims = {
    iss: issuer,
    jti: `grt_${n}`,
    decision_id: `dec_${n}`,
    dossier_id: `dos_${n}`,
    tenant_id: tenantId,
    iat: Math.floor(now / 1000),
    exp,
    binding: { intent_hash: hash },
  };
  const signingInput = `${JWS_HEADER}.${b64(claims)}`;
  return {
    decision_id: `dec_${n}`,
    status: "ALLOW",
    should_execute: true,
    reason_codes: ["WITHIN_LIMITS"],
    action_hash: hash,
    execution_token: `${signingInput}.${sign(null, Buffer.from(signingInput), privateKey).toString("base64url")}`,
    execution_token_expires_at: new Date(exp * 1000).toISOString(),
    dossier_id: `dos_${n}`,
    dossier_url: `https://bench.invalid/dossiers/dos_${n}`,
    explanation: "Notional within limits",
    policy_version: "cfd-risk-policy@7",
    escalation_id: null,
  };
}
