/**
 * The Ed25519 primitive behind grant checks, with two backends:
 *
 * - **sodium**: libsodium's `crypto_sign_verify_detached` through the optional
 *   peer `sodium-native` (4.x: 5.x targets the Bare runtime only). About half
 *   the CPU of OpenSSL per check (BENCHMARKS.md, session 4).
 * - **node**: `node:crypto` (OpenSSL), always there.
 *
 * `import "decionis"` never loads `sodium-native`: it is required lazily, once,
 * by the first grant check or by a client built with `ed25519: "sodium"`. When
 * it is absent or fails to load, `"auto"` falls back to node:crypto; which one
 * runs is visible through {@link ed25519Backend}.
 *
 * Both backends are held to the same rules before either runs: a 64-byte
 * signature whose S is canonical (S < L). libsodium also refuses small-order
 * and non-canonical public keys and small-order R; OpenSSL does not check the
 * key's order, so on node:crypto those keys are refused here too
 * ({@link SMALL_ORDER_KEYS}), and the two agree on every vector of
 * test/grants/ed25519.test.ts.
 */
import { verify, type KeyObject } from "node:crypto";
import { localRequire } from "../gateway/peer.js";
import { ConfigurationError } from "../errors/input.js";

/** Which Ed25519 implementation checks grants. `"auto"`: sodium-native when it loads, else node:crypto. */
export type Ed25519Choice = "auto" | "sodium" | "node";
/** The implementation in use. */
export type Ed25519Backend = "sodium" | "node";

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** undefined: not tried yet; null: tried and unavailable. */
let sodium: Sodium | null | undefined;
let sodiumPath: string | undefined;
let sodiumError: string | undefined;
let choice: Ed25519Choice = "auto";

/** Loads a libsodium binding: its resolved path (for the worker) and the module. */
type SodiumLoader = () => { path: string; module: unknown };

const requireSodiumNative: SodiumLoader = () => {
  const load = localRequire();
  const path = load.resolve("sodium-native");
  return { path, module: load(path) };
};
let loader = requireSodiumNative;

/**
 * Tests: load libsodium with `next` from now on (a stand-in that fails, lacks
 * the function or answers wrongly), or with sodium-native again when undefined;
 * what was loaded before is forgotten.
 * @internal
 */
export function useSodiumLoaderForTest(next?: SodiumLoader): void {
  loader = next ?? requireSodiumNative;
  sodium = undefined;
  sodiumPath = undefined;
  sodiumError = undefined;
}

function loadSodium(): Sodium | null {
  if (sodium !== undefined) return sodium;
  sodium = null;
  try {
    const { path, module } = loader();
    const mod = module as Partial<Sodium>;
    if (typeof mod.crypto_sign_verify_detached !== "function") throw new Error("no crypto_sign_verify_detached");
    sodium = mod as Sodium;
    sodiumPath = path;
  } catch (error) {
    sodiumError = error instanceof Error ? error.message : String(error);
  }
  return sodium;
}

/**
 * Chooses the Ed25519 implementation for this process's grant checks (the
 * client's `ed25519` option calls it).
 * @throws {@link ConfigurationError} `"sodium"` when `sodium-native` cannot be loaded.
 * @example setEd25519Backend("node")
 */
export function setEd25519Backend(next: Ed25519Choice): void {
  if (next === "sodium" && loadSodium() === null)
    throw new ConfigurationError(
      "ed25519",
      `ed25519: "sodium" needs the package "sodium-native" (^4.3.0), which could not be loaded (${sodiumError ?? "unknown error"}). ` +
        `Install it: npm install sodium-native@4, or set ed25519 to "auto" or "node"`,
      { package: "sodium-native" },
    );
  choice = next;
}

/**
 * The Ed25519 implementation grant checks use now; loads `sodium-native` on first call under `"auto"`.
 * @example if (ed25519Backend() === "node") console.warn("install sodium-native for cheaper grant checks")
 */
export function ed25519Backend(): Ed25519Backend {
  if (choice === "node") return "node";
  return loadSodium() === null ? "node" : "sodium";
}

/** @internal The resolved path of sodium-native when in use, for the verifier worker. */
export function sodiumModulePath(): string | undefined {
  return ed25519Backend() === "sodium" ? sodiumPath : undefined;
}

/** @internal The group order L, little-endian hex: S must be below it (also the verifier worker's). */
export const GROUP_ORDER_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
const L = Buffer.from(GROUP_ORDER_HEX, "hex");

/** @internal Whether S (bytes 32..63, little-endian) is below L. */
export function canonicalS(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = L[i]!;
    if (s !== l) return s < l;
  }
  return false;
}

/**
 * Encodings of the small-order points (and their non-canonical twins) that
 * libsodium refuses as a public key; node:crypto is made to refuse them too.
 */
export const SMALL_ORDER_KEYS: ReadonlySet<string> = new Set([
  "0100000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "0100000000000000000000000000000000000000000000000000000000000080",
]);

/** Per key: its 32 raw bytes, and whether it is one of {@link SMALL_ORDER_KEYS}. */
const rawKeys = new WeakMap<KeyObject, { raw: Buffer; smallOrder: boolean }>();

function keyInfo(key: KeyObject): { raw: Buffer; smallOrder: boolean } {
  let info = rawKeys.get(key);
  if (info === undefined) {
    const { x } = key.export({ format: "jwk" });
    const raw = Buffer.from(x ?? "", "base64url");
    info = { raw, smallOrder: SMALL_ORDER_KEYS.has(raw.toString("hex")) };
    rawKeys.set(key, info);
  }
  return info;
}

/** @internal The 32 raw bytes of an Ed25519 public key, cached per KeyObject. */
export function rawKey(key: KeyObject): Buffer {
  return keyInfo(key).raw;
}

/**
 * Checks an Ed25519 signature (base64url) over `message` (latin1) with `key`,
 * on the backend in use. Never throws: anything malformed is `false`.
 */
export function verifyEd25519(message: string, signature: string, key: KeyObject, backend = ed25519Backend()): boolean {
  try {
    const sig = Buffer.from(signature, "base64url");
    if (sig.length !== 64 || !canonicalS(sig)) return false;
    const { raw, smallOrder } = keyInfo(key);
    if (raw.length !== 32) return false;
    const data = Buffer.from(message, "latin1");
    if (backend === "sodium") {
      const lib = loadSodium();
      if (lib !== null) return lib.crypto_sign_verify_detached(sig, data, raw);
    }
    if (smallOrder) return false;
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}
