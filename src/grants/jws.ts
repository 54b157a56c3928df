/**
 * Execution grants (protocol 5): compact JWS, EdDSA over Ed25519, verified with
 * node:crypto. One algorithm, one key type and the compact form are all the
 * protocol allows, so this is a short, strict parser rather than a general JOSE
 * library: anything else in the header is refused.
 */
import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { InvalidReceiptError } from "../errors/decision.js";
import { HASH_PATTERN } from "../gateway/wire.js";
import { batchVerifier, verifyInline } from "./verifier.js";

export const GRANT_TYPE = "decionis-grant+jwt";

const headerSchema = z.strictObject({
  alg: z.literal("EdDSA"),
  kid: z.string().min(1).max(200),
  typ: z.literal(GRANT_TYPE),
});

/** The claims of an execution grant. */
export const grantClaimsSchema = z.compile(
  z.object({
    iss: z.string().min(1),
    jti: z.string().min(1).max(200),
    decision_id: z.string().min(1),
    dossier_id: z.string().min(1),
    tenant_id: z.string().min(1),
    iat: z.number().int(),
    exp: z.number().int(),
    binding: z.object({ intent_hash: z.string().regex(HASH_PATTERN) }),
  }),
);
export type GrantClaims = z.infer<typeof grantClaimsSchema>;

/** What a grant must match: this call's intent and decision. */
export interface GrantExpectations {
  intentHash: string;
  decisionId: string;
  dossierId: string | null;
  /** The intent's tenant; unknown for a grant fetched by escalation id alone. */
  tenantId: string | undefined;
  /** The intent's expiry, ms since the epoch: a grant may not outlive it. */
  intentExpiresAtMs: number | undefined;
  clockSkewMs: number;
  now: number;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodeJson(part: string): unknown {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/** A compact JWS split, with its header read but nothing trusted yet. */
export interface GrantParts {
  kid: string;
  /** `header.payload`, ASCII: the bytes the signature covers. */
  signingInput: string;
  /** The signature, base64url as in the token. */
  signature: string;
  payload: string;
}

/** Splits a compact JWS and reads its header, without trusting anything yet. */
export function readGrantHeader(token: string): GrantParts {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)))
    throw new InvalidReceiptError("TOKEN_MALFORMED", "The execution token is not a compact JWS");
  const [h, p, s] = parts as [string, string, string];
  return { kid: kidOf(h), signingInput: `${h}.${p}`, signature: s, payload: p };
}

// Every grant signed with one key has the same header bytes: the last one read is kept.
let lastHeader = { encoded: "", kid: "" };

/** The `kid` of an encoded header, which must be exactly `{ alg: "EdDSA", kid, typ }`. */
function kidOf(encoded: string): string {
  if (encoded === lastHeader.encoded) return lastHeader.kid;
  let header: unknown;
  try {
    header = decodeJson(encoded);
  } catch {
    throw new InvalidReceiptError("TOKEN_MALFORMED", "The execution token's header is not JSON");
  }
  const parsed = headerSchema.safeParse(header);
  if (!parsed.success)
    throw new InvalidReceiptError(
      "TOKEN_MALFORMED",
      `The execution token's header must be {"alg":"EdDSA","kid":…,"typ":"${GRANT_TYPE}"} and nothing else`,
      { issues: parsed.error.issues },
    );
  lastHeader = { encoded, kid: parsed.data.kid };
  return parsed.data.kid;
}

/**
 * Verifies the grant's signature with `key` and its claims against this call.
 * `overlapping`: many calls are in flight, so the signature check is batched
 * to the verifier thread (see `verifier.ts`) instead of run inline.
 * @throws {@link InvalidReceiptError} naming the failed check.
 */
export async function verifyGrant(
  grant: GrantParts,
  key: KeyObject,
  expected: GrantExpectations,
  overlapping = false,
): Promise<GrantClaims> {
  const { signingInput, signature, payload } = grant;
  const valid = overlapping
    ? await batchVerifier.verify(signingInput, signature, key)
    : verifyInline(signingInput, signature, key);
  if (!valid)
    throw new InvalidReceiptError("TOKEN_SIGNATURE_INVALID", "The execution token's signature does not verify");
  let claims: GrantClaims;
  try {
    const parsed = grantClaimsSchema.safeParse(decodeJson(payload));
    if (!parsed.success) throw parsed.error;
    claims = parsed.data;
  } catch (error) {
    throw new InvalidReceiptError("TOKEN_CLAIMS_INVALID", "The execution token's claims do not match protocol 5", {
      issues: error instanceof z.ZodError ? error.issues : [],
    });
  }
  const ids = { decisionId: expected.decisionId, jti: claims.jti };
  if (claims.binding.intent_hash !== expected.intentHash)
    throw new InvalidReceiptError("TOKEN_BINDING_MISMATCH", "The execution token was granted for another intent", {
      ...ids,
      expected: expected.intentHash,
      received: claims.binding.intent_hash,
    });
  if (
    claims.decision_id !== expected.decisionId ||
    (expected.dossierId !== null && claims.dossier_id !== expected.dossierId)
  )
    throw new InvalidReceiptError("TOKEN_DECISION_MISMATCH", "The execution token belongs to another decision", ids);
  if (expected.tenantId !== undefined && claims.tenant_id !== expected.tenantId)
    throw new InvalidReceiptError("TOKEN_DECISION_MISMATCH", "The execution token belongs to another tenant", ids);
  const skew = expected.clockSkewMs;
  if (claims.exp * 1000 + skew <= expected.now)
    throw new InvalidReceiptError(
      "TOKEN_EXPIRED",
      `The execution token expired at ${new Date(claims.exp * 1000).toISOString()}`,
      ids,
    );
  if (claims.iat * 1000 - skew > expected.now)
    throw new InvalidReceiptError("TOKEN_CLAIMS_INVALID", "The execution token was issued in the future", ids);
  // No skew here: both instants come from the same clock, the authority's.
  if (expected.intentExpiresAtMs !== undefined && claims.exp * 1000 > expected.intentExpiresAtMs)
    throw new InvalidReceiptError("TOKEN_OUTLIVES_INTENT", "The execution token outlives its intent", ids);
  return claims;
}
