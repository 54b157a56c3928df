/**
 * The authority's signing keys: a JWKS given in the options, or fetched from
 * `{baseUrl}/.well-known/jwks.json` (or a URL) through the SDK's own HTTP
 * client, cached, and refetched — at most once per interval — when a token
 * names a key the cache does not hold (key rotation).
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { InvalidReceiptError } from "../errors/decision.js";
import { wireJwksSchema, type WireJwks } from "../gateway/wire.js";

/** Options of the key cache. */
export interface KeyRingOptions {
  /** Least time between two fetches caused by unknown key ids. */
  refetchIntervalMs: number;
  /** Age after which the cached set is fetched again before use. */
  maxAgeMs: number;
}

/** @internal Imports every Ed25519 key of a JWKS; throws on a malformed set. */
export function importJwks(jwks: unknown, source: string): Map<string, KeyObject> {
  const parsed = wireJwksSchema.safeParse(jwks);
  if (!parsed.success)
    throw new InvalidReceiptError("KEYS_UNAVAILABLE", `The JWKS from ${source} is not a set of Ed25519 keys`, {
      issues: parsed.error.issues,
    });
  const keys = new Map<string, KeyObject>();
  for (const jwk of parsed.data.keys) {
    try {
      keys.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" }));
    } catch {
      throw new InvalidReceiptError(
        "KEYS_UNAVAILABLE",
        `Key ${jwk.kid} in the JWKS from ${source} is not an Ed25519 key`,
      );
    }
  }
  return keys;
}

/** @internal */
export class KeyRing {
  #keys: Map<string, KeyObject> | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<Map<string, KeyObject>> | undefined;

  /**
   * @param fetch - fetches the JWKS; absent when the keys were given as an object.
   * @param source - where the keys come from, for messages.
   */
  constructor(
    private readonly source: string,
    private readonly fetch: (() => Promise<unknown>) | undefined,
    private readonly options: KeyRingOptions,
    given?: WireJwks,
  ) {
    if (given !== undefined) this.#keys = importJwks(given, source);
  }

  /** Whether the set must be fetched before use: never fetched yet, or older than `maxAgeMs`. */
  #due(now: number): boolean {
    return this.fetch !== undefined && (this.#keys === undefined || now - this.#fetchedAt > this.options.maxAgeMs);
  }

  /** The key `kid` if it is held and fresh, without waiting: the common case. */
  peek(kid: string, now = Date.now()): KeyObject | undefined {
    return this.#due(now) ? undefined : this.#keys?.get(kid);
  }

  /**
   * The key `kid`, fetching or refetching the set as the rules allow.
   * @throws {@link InvalidReceiptError} `KEYS_UNAVAILABLE` or `TOKEN_KEY_UNKNOWN`.
   */
  async get(kid: string, now = Date.now()): Promise<KeyObject> {
    if (this.#due(now)) await this.#refresh(now);
    let key = this.#keys?.get(kid);
    if (key === undefined && this.fetch !== undefined && now - this.#fetchedAt >= this.options.refetchIntervalMs) {
      await this.#refresh(now);
      key = this.#keys?.get(kid);
    }
    if (key === undefined)
      throw new InvalidReceiptError(
        "TOKEN_KEY_UNKNOWN",
        `The execution token names key "${kid}", which ${this.source} does not publish`,
        {
          kid,
        },
      );
    return key;
  }

  async #refresh(now: number): Promise<void> {
    const fetch = this.fetch!;
    // Concurrent calls share one fetch.
    this.#inFlight ??= (async () => {
      try {
        return importJwks(await fetch(), this.source);
      } catch (error) {
        if (error instanceof InvalidReceiptError) throw error;
        throw new InvalidReceiptError(
          "KEYS_UNAVAILABLE",
          `Could not fetch the authority's keys from ${this.source}: pass \`authorityKeys\` (a JWKS object or its URL) ` +
            `to the client, check \`baseUrl\`, or set \`verify: "consume"\` to have the authority check each grant`,
          { cause: error instanceof Error ? error.message : String(error) },
        );
      } finally {
        this.#fetchedAt = now;
      }
    })();
    try {
      this.#keys = await this.#inFlight;
    } finally {
      this.#inFlight = undefined;
    }
  }
}
