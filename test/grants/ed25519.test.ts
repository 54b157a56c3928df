/**
 * Both Ed25519 backends (libsodium through sodium-native, and node:crypto)
 * against the same vectors: every tampered, forged or non-canonical signature
 * and every small-order key is refused by both, and the choice of backend is
 * lazy, observable and, when forced, fails at construction.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { DecionisClient } from "../../src/index.js";
import {
  ed25519Backend,
  rawKey,
  setEd25519Backend,
  SMALL_ORDER_KEYS,
  verifyEd25519,
  type Ed25519Backend,
} from "../../src/grants/ed25519.js";
import { BatchVerifier } from "../../src/grants/verifier.js";
import { lastJsonLine, usePeerSandbox } from "../helpers/peer-sandbox.js";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sodium = require("sodium-native") as {
  crypto_sign_verify_detached(sig: Buffer, msg: Buffer, pk: Buffer): boolean;
};

const alice = generateKeyPairSync("ed25519");
const bob = generateKeyPairSync("ed25519");
const MESSAGE = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJqXzEifQ";
const good = sign(null, Buffer.from(MESSAGE, "latin1"), alice.privateKey);
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

const le = (n: bigint) => Buffer.from(n.toString(16).padStart(64, "0"), "hex").reverse();
const readLe = (b: Buffer) => BigInt(`0x${Buffer.from(b).reverse().toString("hex")}`);
const b64 = (b: Buffer) => b.toString("base64url");
const flip = (b: Buffer, bit: number) => {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};
const keyOf = (hex: string) =>
  createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(hex, "hex").toString("base64url") },
    format: "jwk",
  });

/** [name, message, signature (base64url), key]: every one must be refused. */
const BAD: [string, string, string, KeyObject][] = [
  ["forged (random bytes)", MESSAGE, b64(Buffer.alloc(64, 7)), alice.publicKey],
  ["another key", MESSAGE, b64(good), bob.publicKey],
  ["another payload", `${MESSAGE}x`, b64(good), alice.publicKey],
  ["signed by another key", MESSAGE, b64(sign(null, Buffer.from(MESSAGE), bob.privateKey)), alice.publicKey],
  ["truncated to 63 bytes", MESSAGE, b64(good.subarray(0, 63)), alice.publicKey],
  ["extended to 65 bytes", MESSAGE, b64(Buffer.concat([good, Buffer.of(0)])), alice.publicKey],
  ["empty", MESSAGE, "", alice.publicKey],
  ["not base64url", MESSAGE, "!!!!", alice.publicKey],
  ["all zero", MESSAGE, b64(Buffer.alloc(64)), alice.publicKey],
  ...[0, 7, 100, 255, 256, 300, 503, 511].map((bit): [string, string, string, KeyObject] => [
    `bit ${bit} flipped`,
    MESSAGE,
    b64(flip(good, bit)),
    alice.publicKey,
  ]),
  [
    "S + L (non-canonical S, same point)",
    MESSAGE,
    b64(Buffer.concat([good.subarray(0, 32), le(readLe(good.subarray(32)) + L)])),
    alice.publicKey,
  ],
  ["S = L", MESSAGE, b64(Buffer.concat([good.subarray(0, 32), le(L)])), alice.publicKey],
  ["S = 2^256 - 1", MESSAGE, b64(Buffer.concat([good.subarray(0, 32), Buffer.alloc(32, 0xff)])), alice.publicKey],
  // R = identity, S = 0 verifies under any small-order key for any message on a lax verifier.
  ...[...SMALL_ORDER_KEYS].map((hex): [string, string, string, KeyObject] => [
    `small-order / non-canonical key ${hex.slice(0, 8)}…${hex.slice(-2)}, R = identity, S = 0`,
    MESSAGE,
    b64(Buffer.concat([le(1n), Buffer.alloc(32)])),
    keyOf(hex),
  ]),
];

const BACKENDS: Ed25519Backend[] = ["sodium", "node"];

describe.each(BACKENDS)("the %s backend", (backend) => {
  it("accepts a good signature", () => {
    expect(verifyEd25519(MESSAGE, b64(good), alice.publicKey, backend)).toBe(true);
  });

  it.each(BAD)("refuses %s", (_name, message, signature, key) => {
    expect(verifyEd25519(message, signature, key, backend)).toBe(false);
  });
});

describe("what each library does alone (why the shared pre-checks exist)", () => {
  const raw = (hex: string) => Buffer.from(hex, "hex");
  const identityR = Buffer.concat([le(1n), Buffer.alloc(32)]);
  it("libsodium refuses small-order keys itself; what OpenSSL accepts with R = identity, S = 0 the node backend refuses", () => {
    const bySodium = [...SMALL_ORDER_KEYS].filter((hex) =>
      sodium.crypto_sign_verify_detached(identityR, Buffer.from(MESSAGE), raw(hex)),
    );
    const byOpenSsl = [...SMALL_ORDER_KEYS].filter((hex) => {
      try {
        return verify(null, Buffer.from(MESSAGE), keyOf(hex), identityR);
      } catch {
        return false;
      }
    });
    expect(bySodium).toEqual([]);
    // OpenSSL 3 on Node 20 accepts this forgery for 6 of the 14 encodings: the node backend
    // must refuse each before OpenSSL is asked.
    for (const hex of byOpenSsl) expect(verifyEd25519(MESSAGE, b64(identityR), keyOf(hex), "node")).toBe(false);
  });

  it("both refuse S + L on their own", () => {
    const sig = Buffer.concat([good.subarray(0, 32), le(readLe(good.subarray(32)) + L)]);
    expect(sodium.crypto_sign_verify_detached(sig, Buffer.from(MESSAGE), rawKey(alice.publicKey))).toBe(false);
    expect(verify(null, Buffer.from(MESSAGE), alice.publicKey, sig)).toBe(false);
  });

  it("agree on good signatures over many keys and messages", () => {
    for (let i = 0; i < 50; i++) {
      const pair = generateKeyPairSync("ed25519");
      const message = `${MESSAGE}.${i}`;
      const sig = b64(sign(null, Buffer.from(message), pair.privateKey));
      expect([
        verifyEd25519(message, sig, pair.publicKey, "sodium"),
        verifyEd25519(message, sig, pair.publicKey, "node"),
      ]).toEqual([true, true]);
    }
  });
});

describe.each(BACKENDS)("the verifier worker on the %s backend", (backend) => {
  afterAll(() => {
    setEd25519Backend("auto");
  });
  it("refuses every bad vector in a batch, and accepts the good one", async () => {
    setEd25519Backend(backend);
    const verifier = new BatchVerifier();
    await verifier.boot();
    const all = [[MESSAGE, b64(good), alice.publicKey] as const, ...BAD.map(([, m, s, k]) => [m, s, k] as const)];
    const results = Promise.all(all.map(([m, s, k]) => verifier.verify(m, s, k)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(verifier.pending).toBe(1);
    expect(await results).toEqual([true, ...BAD.map(() => false)]);
    await verifier.crashForTest();
  });
});

describe("choosing the backend", () => {
  afterEach(() => {
    setEd25519Backend("auto");
  });
  it('is sodium under "auto" when sodium-native loads, and node when forced', () => {
    expect(ed25519Backend()).toBe("sodium");
    new DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "node" });
    expect(ed25519Backend()).toBe("node");
    new DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "sodium" });
    expect(ed25519Backend()).toBe("sodium");
  });
  it("refuses an unknown backend, naming the option and its values", () => {
    expect(
      () => new DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "openssl" as never }),
    ).toThrow(/ed25519.*"auto", "sodium" or "node"/s);
  });
});

// Child processes: a fresh module graph, sodium-native hidden or not, CommonJS and ESM.
const sandbox = usePeerSandbox("ed25519-test");

const PROBE = `
const out = { atImport, backend: d.ed25519Backend() };
out.afterCheck = SODIUM_SEEN();
try { new d.DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "sodium" }); out.forced = "ok"; }
catch (e) { out.forced = e.name + ": " + e.message; }
console.log(JSON.stringify(out));`;

async function probe(esm: boolean, hide: boolean) {
  // Whether sodium-native's own files were read: the loader's cache holds them once required, in both module systems.
  const seen = `const SODIUM_SEEN = () => Object.keys(require("node:module")._cache).some((k) => k.includes("sodium-native"));`;
  const code = esm
    ? `import { createRequire } from "node:module"; const require = createRequire(import.meta.url); ${seen}
       const d = await import("./src/index.ts"); const atImport = SODIUM_SEEN(); ${PROBE}`
    : `${seen} const d = require("./src/index.ts"); const atImport = SODIUM_SEEN(); ${PROBE}`;
  return lastJsonLine(await sandbox.run(code, { hide: hide ? ["sodium-native"] : [], esm }));
}

describe.each([
  ["CommonJS", false],
  ["ESM", true],
])("%s: import decionis", (_mode, esm) => {
  it("does not load sodium-native; the first use does, and picks it", async () => {
    expect(await probe(esm, false)).toEqual({ atImport: false, backend: "sodium", afterCheck: true, forced: "ok" });
  }, 30_000);
  it("without sodium-native falls back to node:crypto, and a forced sodium fails at construction naming the package", async () => {
    const out = await probe(esm, true);
    expect(out).toMatchObject({ atImport: false, backend: "node", afterCheck: false });
    expect(out["forced"]).toMatch(/^ConfigurationError: .*sodium-native.*npm install sodium-native@4/);
  }, 30_000);
});
