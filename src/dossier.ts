/**
 * Dossiers (protocol 6): the authority's signed record of a decision, and the
 * check of its `integrity` block against the authority's keys.
 */
import { verify } from "node:crypto";
import { z } from "zod";
import { importJwks } from "./grants/keys.js";
import { canonicalRecord, sha256Hex } from "./intent/canonical.js";
import type { WireJwks } from "./gateway/wire.js";

export const dossierSchema = z.looseObject({
  integrity: z.object({
    algorithm: z.literal("Ed25519"),
    key_id: z.string().min(1),
    canonical_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    signature: z.string().min(1),
  }),
});

/** A decision record as the authority serves it; fields beyond `integrity` vary. */
export type Dossier = z.infer<typeof dossierSchema>;

/** The result of {@link verifyDossier}. */
export type DossierVerification =
  | { readonly valid: true; readonly keyId: string }
  | { readonly valid: false; readonly keyId: string | null; readonly reason: string };

/**
 * Checks a dossier's `integrity` block: the SHA-256 of the canonical record
 * without `integrity`, and its Ed25519 signature with the named key of `jwks`.
 * A changed field, an unknown key or a bad signature makes it invalid.
 *
 * @example
 * const dossier = await client.getDossier(decision.dossierId!);
 * const check = verifyDossier(dossier, await (await fetch(jwksUrl)).json());
 * if (!check.valid) throw new Error(check.reason);
 */
export function verifyDossier(dossier: unknown, jwks: WireJwks): DossierVerification {
  const parsed = dossierSchema.safeParse(dossier);
  if (!parsed.success) return { valid: false, keyId: null, reason: "the record has no valid integrity block" };
  const { integrity, ...record } = parsed.data;
  let canonical: string;
  try {
    canonical = canonicalRecord(record);
  } catch {
    return { valid: false, keyId: integrity.key_id, reason: "the record is not JSON data" };
  }
  const digest = sha256Hex(canonical);
  if (digest !== integrity.canonical_sha256)
    return {
      valid: false,
      keyId: integrity.key_id,
      reason: "the record was changed after it was signed (digest differs)",
    };
  let key;
  try {
    key = importJwks(jwks, "the given JWKS").get(integrity.key_id);
  } catch {
    return { valid: false, keyId: integrity.key_id, reason: "the given JWKS is malformed" };
  }
  if (key === undefined)
    return { valid: false, keyId: integrity.key_id, reason: `key ${integrity.key_id} is not in the given JWKS` };
  const ok = verify(null, Buffer.from(canonical, "utf8"), key, Buffer.from(integrity.signature, "base64url"));
  return ok
    ? { valid: true, keyId: integrity.key_id }
    : { valid: false, keyId: integrity.key_id, reason: "the signature does not verify" };
}
