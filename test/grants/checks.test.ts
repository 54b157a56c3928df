/**
 * Each check of a grant (protocol 5) on its own, at its boundary: removing or
 * loosening any of them fails a test here (mutation testing of grants/).
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { InvalidReceiptError } from "../../src/index.js";
import { readGrantHeader, verifyGrant, type GrantExpectations } from "../../src/grants/jws.js";
import { importJwks, KeyRing } from "../../src/grants/keys.js";
import { InMemoryReplayStore } from "../../src/grants/replay.js";
import { KID, jwks, signGrant, signingKey } from "../helpers/test-authority.js";

const NOW = Date.parse("2026-11-21T10:00:00Z");
const S = NOW / 1000;
const HASH = `sha256:${"a".repeat(64)}`;

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: "authority",
  jti: "jti_1",
  decision_id: "dec_1",
  dossier_id: "dos_1",
  tenant_id: "acme",
  iat: S - 1,
  exp: S + 30,
  binding: { intent_hash: HASH },
  ...overrides,
});

const expected = (overrides: Partial<GrantExpectations> = {}): GrantExpectations => ({
  intentHash: HASH,
  decisionId: "dec_1",
  dossierId: "dos_1",
  tenantId: "acme",
  intentExpiresAtMs: (S + 60) * 1000,
  clockSkewMs: 5_000,
  now: NOW,
  ...overrides,
});

async function check(
  claimOverrides: Record<string, unknown>,
  expectOverrides: Partial<GrantExpectations> = {},
  key: KeyObject = signingKey.publicKey,
): Promise<string> {
  try {
    await verifyGrant(readGrantHeader(signGrant(claims(claimOverrides))), key, expected(expectOverrides));
    return "OK";
  } catch (error) {
    if (error instanceof InvalidReceiptError) return error.code;
    throw error;
  }
}

describe("verifyGrant", () => {
  it("accepts a grant that matches its call, and returns its claims", async () => {
    const parts = readGrantHeader(signGrant(claims()));
    await expect(verifyGrant(parts, signingKey.publicKey, expected())).resolves.toEqual(claims());
  });

  it("the signature, inline or batched", async () => {
    const other = generateKeyPairSync("ed25519").publicKey;
    expect(await check({}, {}, other)).toBe("TOKEN_SIGNATURE_INVALID");
    const parts = readGrantHeader(signGrant(claims()));
    await expect(verifyGrant(parts, other, expected(), true)).rejects.toMatchObject({
      code: "TOKEN_SIGNATURE_INVALID",
    });
    await expect(verifyGrant(parts, signingKey.publicKey, expected(), true)).resolves.toMatchObject({ jti: "jti_1" });
  });

  it("the claims' schema", async () => {
    expect(await check({ jti: "" })).toBe("TOKEN_CLAIMS_INVALID");
    expect(await check({ exp: 1.5 })).toBe("TOKEN_CLAIMS_INVALID");
    expect(await check({ binding: { intent_hash: "sha256:x" } })).toBe("TOKEN_CLAIMS_INVALID");
  });

  it("a payload that is not JSON", async () => {
    const [h, , s] = signGrant(claims()).split(".");
    const parts = readGrantHeader(`${h}.${Buffer.from("not json").toString("base64url")}.${s}`);
    const error = await verifyGrant({ ...parts }, signingKey.publicKey, expected()).catch((e: unknown) => e);
    // The signature no longer matches either; with it forged away, the payload itself is refused.
    expect((error as InvalidReceiptError).code).toBe("TOKEN_SIGNATURE_INVALID");
  });

  it("the binding: this intent's hash", async () => {
    expect(await check({ binding: { intent_hash: `sha256:${"b".repeat(64)}` } })).toBe("TOKEN_BINDING_MISMATCH");
  });

  it("the decision, the dossier (when known) and the tenant (when known)", async () => {
    expect(await check({ decision_id: "dec_2" })).toBe("TOKEN_DECISION_MISMATCH");
    expect(await check({ dossier_id: "dos_2" })).toBe("TOKEN_DECISION_MISMATCH");
    expect(await check({ dossier_id: "dos_2" }, { dossierId: null })).toBe("OK");
    expect(await check({ tenant_id: "other" })).toBe("TOKEN_DECISION_MISMATCH");
    expect(await check({ tenant_id: "other" }, { tenantId: undefined })).toBe("OK");
  });

  it("expiry, with the clock skew, to the second", async () => {
    // Valid while exp * 1000 + skew > now.
    expect(await check({ exp: S - 4 })).toBe("OK");
    expect(await check({ exp: S - 5 }, { intentExpiresAtMs: undefined })).toBe("TOKEN_EXPIRED");
    expect(await check({ exp: S - 4 }, { clockSkewMs: 4_000 })).toBe("TOKEN_EXPIRED");
    expect(await check({ exp: S }, { clockSkewMs: 0 })).toBe("TOKEN_EXPIRED");
    expect(await check({ exp: S + 1 }, { clockSkewMs: 0 })).toBe("OK");
  });

  it("issued in the future beyond the skew", async () => {
    expect(await check({ iat: S + 5 })).toBe("OK");
    expect(await check({ iat: S + 6 })).toBe("TOKEN_CLAIMS_INVALID");
    expect(await check({ iat: S + 1 }, { clockSkewMs: 0 })).toBe("TOKEN_CLAIMS_INVALID");
    expect(await check({ iat: S }, { clockSkewMs: 0 })).toBe("OK");
  });

  it("TOKEN_OUTLIVES_INTENT: a grant may not expire after its intent, without skew", async () => {
    const intentEnds = (S + 60) * 1000;
    expect(await check({ exp: S + 60 }, { intentExpiresAtMs: intentEnds })).toBe("OK");
    expect(await check({ exp: S + 61 }, { intentExpiresAtMs: intentEnds })).toBe("TOKEN_OUTLIVES_INTENT");
    expect(await check({ exp: S + 61 }, { intentExpiresAtMs: intentEnds + 999 })).toBe("TOKEN_OUTLIVES_INTENT");
    expect(await check({ exp: S + 3600 }, { intentExpiresAtMs: undefined })).toBe("OK");
  });

  it("names the decision and the grant in what it refuses", async () => {
    const error = await verifyGrant(
      readGrantHeader(signGrant(claims({ exp: S + 61 }))),
      signingKey.publicKey,
      expected({ intentExpiresAtMs: (S + 60) * 1000 }),
    ).catch((e: unknown) => e);
    expect((error as InvalidReceiptError).details).toMatchObject({ decisionId: "dec_1", jti: "jti_1" });
  });
});

describe("readGrantHeader", () => {
  it("splits a compact JWS and reads its kid", () => {
    const token = signGrant(claims());
    const [h, p, s] = token.split(".");
    expect(readGrantHeader(token)).toEqual({ kid: KID, signingInput: `${h}.${p}`, signature: s, payload: p });
  });

  it.each([
    ["two parts", "a.b"],
    ["four parts", "a.b.c.d"],
    ["an empty part", "a..c"],
    ["a character outside base64url", "a.b+.c"],
    ["padding", "a.b.c="],
  ])("refuses %s as TOKEN_MALFORMED", (_what, token) => {
    expect(() => readGrantHeader(token)).toThrow(expect.objectContaining({ code: "TOKEN_MALFORMED" }));
  });

  it.each([
    ["alg none", { alg: "none", kid: KID, typ: "decionis-grant+jwt" }],
    ["another typ", { alg: "EdDSA", kid: KID, typ: "JWT" }],
    ["an extra member", { alg: "EdDSA", kid: KID, typ: "decionis-grant+jwt", jku: "https://x" }],
    ["no kid", { alg: "EdDSA", typ: "decionis-grant+jwt" }],
    ["an empty kid", { alg: "EdDSA", kid: "", typ: "decionis-grant+jwt" }],
  ])("refuses a header with %s", (_what, header) => {
    const token = signGrant(claims(), { header });
    expect(() => readGrantHeader(token)).toThrow(expect.objectContaining({ code: "TOKEN_MALFORMED" }));
  });

  it("refuses a header that is not JSON", () => {
    const token = `${Buffer.from("{nope").toString("base64url")}.e30.c2ln`;
    expect(() => readGrantHeader(token)).toThrow(/not JSON/);
  });

  it("reads a second key's header after the first (no stale cache)", () => {
    expect(readGrantHeader(signGrant(claims(), { kid: "k-a" })).kid).toBe("k-a");
    expect(readGrantHeader(signGrant(claims(), { kid: "k-b" })).kid).toBe("k-b");
    expect(readGrantHeader(signGrant(claims(), { kid: "k-b" })).kid).toBe("k-b");
  });
});

describe("keys", () => {
  const limits = { refetchIntervalMs: 1_000, maxAgeMs: 60_000 };

  it("importJwks refuses a set that is not Ed25519 keys, naming the source", () => {
    expect(() => importJwks({ keys: [{ kty: "RSA" }] }, "the test")).toThrow(/the test/);
    expect(() => importJwks({ keys: [{ kty: "OKP", crv: "Ed25519", x: "AA", kid: "bad" }] }, "src")).toThrow(
      expect.objectContaining({ code: "KEYS_UNAVAILABLE", message: expect.stringContaining("bad") }),
    );
    expect(importJwks(jwks, "src").get(KID)).toBeDefined();
  });

  it("a given set is used as is and never fetched; an unknown kid is TOKEN_KEY_UNKNOWN", async () => {
    const ring = new KeyRing("the configured keys", undefined, limits, jwks as never);
    expect(ring.peek(KID)).toBeDefined();
    await expect(ring.get(KID)).resolves.toBeDefined();
    await expect(ring.get("nope")).rejects.toMatchObject({ code: "TOKEN_KEY_UNKNOWN", details: { kid: "nope" } });
  });

  it("fetches before first use, again after maxAgeMs, and on an unknown kid at most once per interval", async () => {
    let fetches = 0;
    let served: unknown = jwks;
    const ring = new KeyRing(
      "the authority",
      () => {
        fetches++;
        return Promise.resolve(served);
      },
      limits,
    );
    expect(ring.peek(KID, 0)).toBeUndefined();
    await ring.get(KID, 0);
    expect(fetches).toBe(1);
    expect(ring.peek(KID, 60_000)).toBeDefined();
    expect(ring.peek(KID, 60_001)).toBeUndefined();
    await expect(ring.get("k2", 999)).rejects.toMatchObject({ code: "TOKEN_KEY_UNKNOWN" });
    expect(fetches).toBe(1);
    served = { keys: [...jwks.keys, { ...jwks.keys[0], kid: "k2" }] };
    await expect(ring.get("k2", 1_000)).resolves.toBeDefined();
    expect(fetches).toBe(2);
    await ring.get(KID, 61_001);
    expect(fetches).toBe(3);
  });

  it("concurrent gets share one fetch; a failed fetch is KEYS_UNAVAILABLE saying what to do", async () => {
    let fetches = 0;
    const ring = new KeyRing(
      "the authority",
      async () => {
        fetches++;
        await new Promise((r) => setImmediate(r));
        return jwks;
      },
      limits,
    );
    await Promise.all([ring.get(KID, 0), ring.get(KID, 0), ring.get(KID, 0)]);
    expect(fetches).toBe(1);
    const failing = new KeyRing("the authority", () => Promise.reject(new Error("down")), limits);
    await expect(failing.get(KID, 0)).rejects.toMatchObject({
      code: "KEYS_UNAVAILABLE",
      details: { cause: "down" },
      message: expect.stringContaining("authorityKeys"),
    });
    const malformed = new KeyRing("the authority", () => Promise.resolve({ keys: "no" }), limits);
    await expect(malformed.get(KID, 0)).rejects.toMatchObject({ code: "KEYS_UNAVAILABLE" });
  });
});

describe("the in-memory replay store at its edges", () => {
  it("an id is held until the instant its grant expires, and claimable from then on", () => {
    const store = new InMemoryReplayStore();
    expect(store.claim("x", 100, 0)).toBe(true);
    expect(store.claim("x", 200, 99)).toBe(false);
    expect(store.claim("x", 200, 100)).toBe(true);
  });

  it("a grant that expires now, or expired, or has no expiry, is never claimable", () => {
    const store = new InMemoryReplayStore();
    expect(store.claim("now", 100, 100)).toBe(false);
    expect(store.claim("past", 99, 100)).toBe(false);
    expect(store.claim("nan", Number.NaN, 100)).toBe(false);
    expect(store.size).toBe(0);
  });

  it("holds exactly maxEntries live ids", () => {
    const store = new InMemoryReplayStore({ maxEntries: 3 });
    for (const id of ["a", "b", "c"]) expect(store.claim(id, 1_000, 0)).toBe(true);
    expect(() => store.claim("d", 1_000, 0)).toThrow("the replay store holds 3 unexpired grants; raise maxEntries");
    expect(store.size).toBe(3);
  });

  it("forgets an id at the instant its grant expires", () => {
    const store = new InMemoryReplayStore();
    expect(store.claim("a", 100, 0)).toBe(true);
    expect(store.claim("b", 1_000, 100)).toBe(true);
    expect(store.size).toBe(1);
  });

  it("when full, sweeps an id expiring out of claim order at that instant", () => {
    const store = new InMemoryReplayStore({ maxEntries: 2 });
    expect(store.claim("late", 300, 0)).toBe(true);
    expect(store.claim("early", 100, 0)).toBe(true);
    expect(() => store.claim("c", 1_000, 99)).toThrow("raise maxEntries");
    expect(store.claim("c", 1_000, 100)).toBe(true);
    expect(store.size).toBe(2);
  });

  it("when full, waits for the soonest expiry and keeps tracking it after a sweep", () => {
    const store = new InMemoryReplayStore({ maxEntries: 3 });
    for (const [id, exp] of [
      ["front", 500],
      ["a", 100],
      ["b", 150],
    ] as const)
      expect(store.claim(id, exp, 0)).toBe(true);
    expect(() => store.claim("c", 1_000, 50)).toThrow("raise maxEntries");
    // Before a: b expires after a, the sweep of now must note a's expiry, not the last one iterated.
    expect(store.claim("c", 1_000, 120)).toBe(true);
    // The sweep found b the soonest; c, expiring later, must not push the next sweep past b.
    expect(store.claim("d", 1_000, 200)).toBe(true);
    expect(store.size).toBe(3);
  });
});

describe("what each refusal says", () => {
  async function refusalOf(token: string, expect_: Partial<GrantExpectations> = {}): Promise<InvalidReceiptError> {
    try {
      await verifyGrant(readGrantHeader(token), signingKey.publicKey, expected(expect_));
    } catch (error) {
      return error as InvalidReceiptError;
    }
    throw new Error("accepted");
  }

  it("names the check in its message and the ids in its details", async () => {
    const other = `sha256:${"b".repeat(64)}`;
    const binding = await refusalOf(signGrant(claims({ binding: { intent_hash: other } })));
    expect(binding.message).toContain("The execution token was granted for another intent");
    expect(binding.details).toMatchObject({ decisionId: "dec_1", jti: "jti_1", expected: HASH, received: other });
    expect((await refusalOf(signGrant(claims({ decision_id: "x" })))).message).toContain("belongs to another decision");
    expect((await refusalOf(signGrant(claims({ tenant_id: "x" })))).message).toContain("belongs to another tenant");
    const expired = await refusalOf(signGrant(claims({ exp: S - 60 })));
    expect(expired.message).toContain(`expired at ${new Date((S - 60) * 1000).toISOString()}`);
    expect(expired.details).toMatchObject({ decisionId: "dec_1", jti: "jti_1" });
    const future = await refusalOf(signGrant(claims({ iat: S + 60 })));
    expect(future.message).toContain("issued in the future");
    expect(future.details).toMatchObject({ jti: "jti_1" });
    const outlives = await refusalOf(signGrant(claims({ exp: S + 61 })), { intentExpiresAtMs: (S + 60) * 1000 });
    expect(outlives.message).toContain("outlives its intent");
    const schema = await refusalOf(signGrant(claims({ jti: "" })));
    expect(schema.message).toContain("claims do not match protocol 5");
    expect((schema.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
    const unsigned = await refusalOf(signGrant(claims(), { key: generateKeyPairSync("ed25519").privateKey }));
    expect(unsigned.message).toContain("signature does not verify");
  });

  it("claims that are not JSON, under a valid signature", async () => {
    const { sign } = await import("node:crypto");
    const h = Buffer.from(JSON.stringify({ alg: "EdDSA", kid: KID, typ: "decionis-grant+jwt" })).toString("base64url");
    const p = Buffer.from("{not json").toString("base64url");
    const s = sign(null, Buffer.from(`${h}.${p}`), signingKey.privateKey).toString("base64url");
    const error = await refusalOf(`${h}.${p}.${s}`);
    expect(error.code).toBe("TOKEN_CLAIMS_INVALID");
    expect(error.details).toMatchObject({ issues: [] });
  });

  it("the header's refusals", () => {
    expect(() => readGrantHeader("a.b")).toThrow("The execution token is not a compact JWS");
    const extra = signGrant(claims(), { header: { alg: "EdDSA", kid: KID, typ: "JWT" } });
    let error: InvalidReceiptError | undefined;
    try {
      readGrantHeader(extra);
    } catch (e) {
      error = e as InvalidReceiptError;
    }
    expect(error!.message).toContain('{"alg":"EdDSA","kid":…,"typ":"decionis-grant+jwt"} and nothing else');
    expect((error!.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
  });

  it("the key ring's refusals name the source and the kid", async () => {
    const ring = new KeyRing("the configured keys", undefined, { refetchIntervalMs: 1, maxAgeMs: 1 }, jwks as never);
    await expect(ring.get("nope")).rejects.toThrow(
      'The execution token names key "nope", which the configured keys does not publish',
    );
    expect(() => importJwks({ keys: "x" }, "somewhere")).toThrow(
      "The JWKS from somewhere is not a set of Ed25519 keys",
    );
    // A fetch may reject with anything, not only an Error.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    const rejectPlain = () => Promise.reject("plain");
    const failing = new KeyRing("the authority", rejectPlain, { refetchIntervalMs: 1, maxAgeMs: 1 });
    await expect(failing.get(KID, 0)).rejects.toMatchObject({
      details: { cause: "plain" },
      message: expect.stringContaining("Could not fetch the authority's keys from the authority"),
    });
  });
});

describe("edges the first mutation run found unguarded", () => {
  const token = signGrant(claims());
  const [h, p, s] = token.split(".") as [string, string, string];

  it.each([
    ["a fourth part", `${token}.${s}`],
    ["a bad character in the payload", `${h}.${p}+.${s}`],
    ["padding at the end", `${h}.${p}.${s}=`],
    ["a bad character at the start", `${h}.=${p}.${s}`],
  ])("a well-formed header does not rescue %s", (_what, bad) => {
    expect(() => readGrantHeader(bad)).toThrow("The execution token is not a compact JWS");
  });

  it("importJwks keeps zod's issues", () => {
    let error: InvalidReceiptError | undefined;
    try {
      importJwks({ keys: "x" }, "src");
    } catch (e) {
      error = e as InvalidReceiptError;
    }
    expect((error!.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
  });

  it("freshness is measured from the last fetch, and a known key is not refetched", async () => {
    let fetches = 0;
    const ring = new KeyRing(
      "the authority",
      () => {
        fetches++;
        return Promise.resolve(jwks);
      },
      { refetchIntervalMs: 1_000, maxAgeMs: 60_000 },
    );
    await ring.get(KID, 40_000);
    expect(ring.peek(KID, 50_000)).toBeDefined();
    expect(ring.peek(KID, 100_000)).toBeDefined();
    expect(ring.peek(KID, 100_001)).toBeUndefined();
    await ring.get(KID, 45_000);
    expect(fetches).toBe(1);
    await expect(ring.get("unknown", 40_500)).rejects.toMatchObject({ code: "TOKEN_KEY_UNKNOWN" });
    expect(fetches).toBe(1);
    await expect(ring.get("unknown", 41_000)).rejects.toMatchObject({ code: "TOKEN_KEY_UNKNOWN" });
    expect(fetches).toBe(2);
  });

  it("a ring with no keys and nothing to fetch refuses every kid", async () => {
    const ring = new KeyRing("nothing", undefined, { refetchIntervalMs: 1, maxAgeMs: 1 });
    expect(ring.peek(KID)).toBeUndefined();
    await expect(ring.get(KID)).rejects.toMatchObject({ code: "TOKEN_KEY_UNKNOWN" });
  });

  it("a fetched set that is malformed is refused as such, not as a failed fetch", async () => {
    const ring = new KeyRing("the authority", () => Promise.resolve({ keys: 1 }), {
      refetchIntervalMs: 1,
      maxAgeMs: 1,
    });
    await expect(ring.get(KID, 0)).rejects.toThrow("The JWKS from the authority is not a set of Ed25519 keys");
  });
});

describe("edges the second mutation run found unguarded", () => {
  it("a header that is not JSON is TOKEN_MALFORMED", () => {
    expect(() => readGrantHeader(`${Buffer.from("{nope").toString("base64url")}.e30.c2ln`)).toThrow(
      expect.objectContaining({ code: "TOKEN_MALFORMED" }),
    );
  });

  it("after a failed fetch the next call fetches again", async () => {
    let fetches = 0;
    const ring = new KeyRing(
      "the authority",
      () => {
        fetches++;
        return fetches === 1 ? Promise.reject(new Error("down")) : Promise.resolve(jwks);
      },
      { refetchIntervalMs: 10_000, maxAgeMs: 60_000 },
    );
    await expect(ring.get(KID, 0)).rejects.toMatchObject({ code: "KEYS_UNAVAILABLE" });
    await expect(ring.get(KID, 1)).resolves.toBeDefined();
    expect(fetches).toBe(2);
  });
});
