/**
 * Both Ed25519 backends (libsodium through sodium-native, and node:crypto)
 * against the same vectors: every tampered, forged or non-canonical signature
 * and every small-order key is refused by both, and the choice of backend is
 * lazy, observable and, when forced, fails at construction.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { ConfigurationError, DecionisClient } from "../../src/index.js";
import {
  canonicalS,
  ed25519Backend,
  rawKey,
  setEd25519Backend,
  SMALL_ORDER_KEYS,
  sodiumModulePath,
  useSodiumLoaderForTest,
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

/**
 * Runs `body` with `loader` standing in for sodium-native (none: the real one) and the
 * backend put back to "auto" after. In the test, not a hook: Stryker counts code run in
 * hooks as covered by no test, and re-runs every suite for each mutant in it.
 */
async function withBackend(loader: Parameters<typeof useSodiumLoaderForTest>[0], body: () => unknown): Promise<void> {
  if (loader !== undefined) useSodiumLoaderForTest(loader);
  try {
    await body();
  } finally {
    useSodiumLoaderForTest();
    setEd25519Backend("auto");
  }
}

describe.each(BACKENDS)("the verifier worker on the %s backend", (backend) => {
  it("refuses every bad vector in a batch, and accepts the good one", () =>
    withBackend(undefined, async () => {
      setEd25519Backend(backend);
      const verifier = new BatchVerifier();
      await verifier.boot();
      // The worker says which library it ran on: the one in use here, not merely one that agrees.
      const ranOnSodium: boolean[] = [];
      verifier.workerForTest()?.on("message", (answer: { sodium: boolean }) => ranOnSodium.push(answer.sodium));
      const all = [[MESSAGE, b64(good), alice.publicKey] as const, ...BAD.map(([, m, s, k]) => [m, s, k] as const)];
      const results = Promise.all(all.map(([m, s, k]) => verifier.verify(m, s, k)));
      await new Promise((resolve) => setImmediate(resolve));
      expect(verifier.pending).toBe(1);
      expect(await results).toEqual([true, ...BAD.map(() => false)]);
      expect(ranOnSodium).toEqual([backend === "sodium"]);
      await verifier.crashForTest();
    }));
});

describe("S < L, at the boundary", () => {
  const withS = (s: bigint) => Buffer.concat([Buffer.alloc(32, 0xab), le(s)]);
  it.each([
    ["0", true, 0n],
    ["L - 1 (differs from L in its lowest byte only)", true, L - 1n],
    ["L - 2^248 (differs in its highest byte only)", true, L - (1n << 248n)],
    ["L", false, L],
    ["L + 1", false, L + 1n],
    ["L + 2^248", false, L + (1n << 248n)],
    ["2^256 - 1", false, (1n << 256n) - 1n],
  ])("S = %s: canonical %s", (_name, canonical, s) => {
    expect(canonicalS(withS(s))).toBe(canonical);
  });
});

describe("which libsodium is loaded, and what a wrong one cannot do", () => {
  type Sig = (sig: Uint8Array, message: Uint8Array, key: Uint8Array) => boolean;
  const path = "/stand-in/sodium.node";
  let loads = 0;
  const standIn = (verify: Sig) => () => {
    loads++;
    return { path, module: { crypto_sign_verify_detached: verify } };
  };
  const good64 = b64(good);

  it("loads it once, and hands its path to the worker only while it is in use", () =>
    withBackend(
      standIn(() => true),
      () => {
        loads = 0;
        expect(loads).toBe(0);
        for (let i = 0; i < 3; i++) {
          expect(ed25519Backend()).toBe("sodium");
          expect(verifyEd25519(MESSAGE, good64, alice.publicKey)).toBe(true);
        }
        expect(loads).toBe(1);
        expect(sodiumModulePath()).toBe(path);
        setEd25519Backend("node");
        expect(sodiumModulePath()).toBeUndefined();
        setEd25519Backend("sodium");
        expect(sodiumModulePath()).toBe(path);
        expect(loads).toBe(1);
      },
    ));

  it.each([
    [
      "it is not installed",
      () => {
        throw new Error("Cannot find module 'sodium-native'");
      },
      "Cannot find module 'sodium-native'",
    ],
    [
      "it throws a non-Error",
      () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a native addon's loader may throw
        throw "dlopen: wrong ELF class";
      },
      "dlopen: wrong ELF class",
    ],
    [
      "it lacks the function",
      () => ({ path, module: { crypto_sign_keypair: () => undefined } }),
      "no crypto_sign_verify_detached",
    ],
    ["it is not an object", () => ({ path, module: null }), "Cannot read properties of null"],
  ])("when %s: node:crypto under auto, and a forced sodium names the package and why", (_name, loader, why) =>
    withBackend(loader, () => {
      expect([ed25519Backend(), sodiumModulePath()]).toEqual(["node", undefined]);
      setEd25519Backend("node");
      let error: unknown;
      try {
        setEd25519Backend("sodium");
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(ConfigurationError);
      const { message, option, details } = error as ConfigurationError;
      expect(option).toBe("ed25519");
      expect(details).toEqual({ option: "ed25519", package: "sodium-native" });
      expect(message).toContain(
        `ed25519: "sodium" needs the package "sodium-native" (^4.3.0), which could not be loaded (${why}`,
      );
      expect(message).toMatch(/\)\. Install it: npm install sodium-native@4, or set ed25519 to "auto" or "node"$/);
      expect(ed25519Backend()).toBe("node"); // the refused choice left "node" in place
      // A check asked of the sodium backend it could not load runs on node:crypto, with its rules.
      expect(verifyEd25519(MESSAGE, good64, alice.publicKey, "sodium")).toBe(true);
      const identityR = b64(Buffer.concat([le(1n), Buffer.alloc(32)]));
      const smallOrder = keyOf("0100000000000000000000000000000000000000000000000000000000000000");
      expect(verifyEd25519(MESSAGE, identityR, smallOrder, "sodium")).toBe(false);
    }),
  );

  it("a libsodium that accepts anything still gets no malformed signature or key past the checks before it", () => {
    const asked: number[] = [];
    return withBackend(
      standIn((sig) => (asked.push(sig.length), true)),
      () => {
        expect(verifyEd25519(MESSAGE, good64, alice.publicKey, "sodium")).toBe(true);
        const s = good.subarray(32);
        const refused = {
          "65 bytes": Buffer.concat([good, Buffer.of(0)]),
          "63 bytes": good.subarray(0, 63),
          "S + L": Buffer.concat([good.subarray(0, 32), le(readLe(s) + L)]),
          "S = L": Buffer.concat([good.subarray(0, 32), le(L)]),
        };
        for (const sig of Object.values(refused))
          expect(verifyEd25519(MESSAGE, b64(sig), alice.publicKey, "sodium")).toBe(false);
        // A key that is not an Ed25519 key has no 32 raw bytes.
        const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
        expect(verifyEd25519(MESSAGE, good64, rsa, "sodium")).toBe(false);
        expect(asked).toEqual([64]);
        // Asked for node:crypto, it is node:crypto that answers.
        expect(verifyEd25519(MESSAGE, b64(Buffer.alloc(64, 1)), alice.publicKey, "node")).toBe(false);
        expect(asked).toEqual([64]);
      },
    );
  });

  it("the sodium backend is the one that answers, and a throwing one is a refusal, not a throw", () =>
    withBackend(
      standIn(() => false),
      () => {
        expect(verifyEd25519(MESSAGE, good64, alice.publicKey, "sodium")).toBe(false);
        expect(verifyEd25519(MESSAGE, good64, alice.publicKey, "node")).toBe(true);
        useSodiumLoaderForTest(
          standIn(() => {
            throw new TypeError("signature must be 64 bytes");
          }),
        );
        expect(verifyEd25519(MESSAGE, good64, alice.publicKey, "sodium")).toBe(false);
      },
    ));

  it("sodium-native again once the stand-in is gone, as every other suite expects", async () => {
    await withBackend(
      standIn(() => false),
      () => undefined,
    );
    expect([ed25519Backend(), sodiumModulePath()]).toEqual(["sodium", expect.stringContaining("sodium-native")]);
  });

  it("the message is read as latin1 bytes, one per character, as documented", () => {
    const message = `${MESSAGE}.caf\u00e9`; // é is one byte in latin1, two in UTF-8
    const signature = b64(sign(null, Buffer.from(message, "latin1"), alice.privateKey));
    for (const backend of BACKENDS) expect(verifyEd25519(message, signature, alice.publicKey, backend)).toBe(true);
  });

  it("the raw key bytes are read once per key", () => {
    expect(rawKey(alice.publicKey)).toBe(rawKey(alice.publicKey));
    expect(rawKey(alice.publicKey)).toHaveLength(32);
  });
});

describe("choosing the backend", () => {
  it('is sodium under "auto" when sodium-native loads, and node when forced', () =>
    withBackend(undefined, () => {
      expect(ed25519Backend()).toBe("sodium");
      new DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "node" });
      expect(ed25519Backend()).toBe("node");
      new DecionisClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", ed25519: "sodium" });
      expect(ed25519Backend()).toBe("sodium");
    }));
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
