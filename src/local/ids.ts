/**
 * Unguessable identifiers of the local authority: a prefix and 26 characters
 * of Crockford base32 over 128 random bits (`dec_7M2Q…`). Nothing in them is
 * derived from time or a counter, so holding one id tells nothing of another.
 */
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31]!;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]!;
  return out;
}

/** `<prefix>_` + 26 base32 characters of 16 random bytes. */
export function randomId(prefix: string): string {
  return `${prefix}_${base32(randomBytes(16))}`;
}

/** A new key for the local authority: `dk_local_` (or `prefix`) + 32 base32 characters (160 random bits). */
export function newApiKey(prefix = "dk_local_"): string {
  return `${prefix}${base32(randomBytes(20))}`;
}
