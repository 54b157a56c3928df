/**
 * The authority's Ed25519 keys: signing execution grants (compact JWS,
 * protocol 5) and dossiers (protocol 6), publishing the JWKS, rotation.
 *
 * Key file (`--key`), a JWK Set with private parts and the key that signs:
 *
 * ```json
 * { "active": "k-2026-02",
 *   "keys": [ { "kty": "OKP", "crv": "Ed25519", "kid": "k-2026-02", "x": "…", "d": "…" },
 *             { "kty": "OKP", "crv": "Ed25519", "kid": "k-2026-01", "x": "…" } ] }
 * ```
 *
 * Every key is published; only keys with `d` can sign. A key without `kid`
 * gets its RFC 7638 thumbprint.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import type { WireJwks } from "../gateway/wire.js";
import { GRANT_TYPE, grantClaimsSchema, readGrantHeader, type GrantClaims } from "../grants/jws.js";
import { LocalAuthorityError } from "./errors.js";

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url");

/** The key file's format. */
export const keyFileSchema = z.strictObject({
  /** kid of the signing key. @default the first key with `d` */
  active: z.string().min(1).optional(),
  keys: z
    .array(
      z.object({
        kty: z.literal("OKP"),
        crv: z.literal("Ed25519"),
        kid: z.string().min(1).max(200).optional(),
        x: b64url,
        d: b64url.optional(),
      }),
    )
    .min(1),
});
export type KeyFile = z.infer<typeof keyFileSchema>;

interface Key {
  kid: string;
  x: string;
  publicKey: KeyObject;
  privateKey: KeyObject | undefined;
  /** As found in or written to the key file. */
  jwk: KeyFile["keys"][number];
}

/** RFC 7638 thumbprint of an Ed25519 public key. */
function thumbprint(x: string): string {
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}

function newKeyJwk(): KeyFile["keys"][number] {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  return { kty: "OKP", crv: "Ed25519", kid: thumbprint(jwk.x!), x: jwk.x!, d: jwk.d! };
}

function toKey(jwk: KeyFile["keys"][number], where: string): Key {
  const kid = jwk.kid ?? thumbprint(jwk.x);
  try {
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x } as JsonWebKey, format: "jwk" });
    if (jwk.d === undefined) return { kid, x: jwk.x, publicKey, privateKey: undefined, jwk };
    const privateKey = createPrivateKey({ key: { ...jwk } as JsonWebKey, format: "jwk" });
    if (createPublicKey(privateKey).export({ format: "jwk" }).x !== jwk.x)
      throw new Error("its d does not belong to its x");
    return { kid, x: jwk.x, publicKey, privateKey, jwk };
  } catch (error) {
    throw new LocalAuthorityError(
      "KEY_FILE_INVALID",
      `Invalid ${where}: key "${kid}": ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** The keys of one authority; the active one signs, all are published. */
export class KeyRing {
  readonly #keys: Key[];
  #active: Key;
  readonly #file: string | undefined;

  private constructor(keys: Key[], active: Key, file: string | undefined) {
    this.#keys = keys;
    this.#active = active;
    this.#file = file;
  }

  /** One new key, kept in memory only. */
  static generate(): KeyRing {
    const key = toKey(newKeyJwk(), "generated key");
    return new KeyRing([key], key, undefined);
  }

  /**
   * Keys from a key file object; with `file`, `rotate()` writes back to it.
   * @throws {@link LocalAuthorityError} `KEY_FILE_INVALID`
   */
  static from(value: unknown, where = "key object", file?: string): KeyRing {
    const parsed = keyFileSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new LocalAuthorityError(
        "KEY_FILE_INVALID",
        `Invalid ${where}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`,
      );
    }
    const keys = parsed.data.keys.map((jwk) => toKey(jwk, where));
    const kids = new Set<string>();
    for (const key of keys) {
      if (kids.has(key.kid))
        throw new LocalAuthorityError("KEY_FILE_INVALID", `Invalid ${where}: kid "${key.kid}" is used twice`);
      kids.add(key.kid);
    }
    const wanted = parsed.data.active;
    const active =
      wanted === undefined ? keys.find((k) => k.privateKey !== undefined) : keys.find((k) => k.kid === wanted);
    if (active?.privateKey === undefined)
      throw new LocalAuthorityError(
        "KEY_FILE_INVALID",
        wanted === undefined
          ? `Invalid ${where}: no key has a private part ("d"), so nothing can be signed`
          : `Invalid ${where}: the active key "${wanted}" is not in keys or has no private part ("d")`,
      );
    return new KeyRing(keys, active, file);
  }

  /**
   * Keys from `path`; a missing file is created with one new key (mode 0600),
   * so restarts keep signing with the same key.
   */
  static load(path: string): KeyRing {
    if (!existsSync(path)) {
      const ring = KeyRing.from({ keys: [newKeyJwk()] }, `key file ${path}`, path);
      ring.#save();
      return ring;
    }
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new LocalAuthorityError(
        "KEY_FILE_INVALID",
        `Cannot read the key file ${path}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return KeyRing.from(value, `key file ${path}`, path);
  }

  /** kid of the signing key. */
  get activeKid(): string {
    return this.#active.kid;
  }

  /** The published keys (public parts only), the active one first. */
  jwks(): WireJwks {
    const ordered = [this.#active, ...this.#keys.filter((k) => k !== this.#active)];
    return {
      keys: ordered.map((k) => ({ kty: "OKP", crv: "Ed25519", x: k.x, kid: k.kid, alg: "EdDSA", use: "sig" })),
    };
  }

  /**
   * Adds a new key and makes it the signing key; the old keys stay published so
   * what they signed still verifies. Written to the key file when there is one.
   * @returns the new kid.
   */
  rotate(): string {
    const key = toKey(newKeyJwk(), "generated key");
    this.#keys.unshift(key);
    this.#active = key;
    this.#save();
    return key.kid;
  }

  /** Ed25519 signature of `bytes` with the active key. */
  sign(bytes: Buffer): { kid: string; signature: Buffer } {
    return { kid: this.#active.kid, signature: sign(null, bytes, this.#active.privateKey!) };
  }

  /** Checks an Ed25519 signature against the published key `kid`. */
  verify(kid: string, bytes: Buffer, signature: Buffer): boolean {
    const key = this.#keys.find((k) => k.kid === kid);
    return key !== undefined && verify(null, bytes, key.publicKey, signature);
  }

  /** An execution grant (protocol 5): compact JWS, header `{"alg":"EdDSA","kid","typ":"decionis-grant+jwt"}`. */
  signGrant(claims: GrantClaims): string {
    const header = { alg: "EdDSA", kid: this.#active.kid, typ: GRANT_TYPE };
    const input =
      Buffer.from(JSON.stringify(header)).toString("base64url") +
      "." +
      Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${input}.${this.sign(Buffer.from(input)).signature.toString("base64url")}`;
  }

  /** The claims of an execution grant this ring signed, or why it is not one. */
  verifyGrant(token: string): { claims: GrantClaims } | { error: string } {
    let header: ReturnType<typeof readGrantHeader>;
    try {
      header = readGrantHeader(token);
    } catch (error) {
      return { error: (error as Error).message };
    }
    if (!this.verify(header.kid, Buffer.from(header.signingInput, "ascii"), Buffer.from(header.signature, "base64url")))
      return { error: this.#keys.some((k) => k.kid === header.kid) ? "bad signature" : `unknown kid ${header.kid}` };
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(header.payload, "base64url").toString("utf8"));
    } catch {
      return { error: "its claims are not JSON" };
    }
    const parsed = grantClaimsSchema.safeParse(claims);
    return parsed.success ? { claims: parsed.data } : { error: "its claims do not match protocol 5" };
  }

  #save(): void {
    if (this.#file === undefined) return;
    const file: KeyFile = { active: this.#active.kid, keys: this.#keys.map((k) => ({ ...k.jwk, kid: k.kid })) };
    writeFileSync(this.#file, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  }
}
