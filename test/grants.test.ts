/**
 * Grant verification (protocol 5) against a real HTTP authority that signs
 * real EdDSA grants: forged, foreign, expired and replayed tokens, key
 * rotation, unreachable keys, and the consume-token mode. Nothing runs on any failure.
 */
import { generateKeyPairSync } from "node:crypto";
import {
  BlockedError,
  DecionisClient,
  InMemoryReplayStore,
  InvalidReceiptError,
  RetryPolicy,
  type ClientOptions,
  type IntentInput,
} from "../src/index.js";
import {
  allowFor,
  decisionFor,
  escalationFor,
  grantClaims,
  jwks,
  signGrant,
  useTestAuthority,
  type RecordedRequest,
} from "./helpers/test-authority.js";
import { batchVerifier } from "../src/grants/verifier.js";
import { expectRefused as refusedCall } from "./helpers/refused.js";

const authority = useTestAuthority({ apiKey: "sk_grants", retryPolicy: RetryPolicy.none() });

const makeClient = (options: ClientOptions = {}) => authority.client(options);

const intent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
};

/** An ALLOW whose grant is built from `claims` after `patch`, signed with `sign`. */
function allowWithGrant(
  patch: (claims: Record<string, unknown>) => Record<string, unknown>,
  sign: (claims: Record<string, unknown>) => string = (c) => signGrant(c),
) {
  return {
    body: (r: RecordedRequest) => {
      const decision = allowFor(r);
      return { ...decision, execution_token: sign(patch(grantClaims(r, decision))) };
    },
  };
}

const expectRefused = (client: DecionisClient, check: string): Promise<void> => refusedCall(client, intent, check);

describe('verify: "signature" (the default with the HTTP gateway)', () => {
  it("runs on a correctly signed grant, fetching the JWKS once", async () => {
    const client = makeClient();
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    await expect(client.enforce(intent, { execute: () => "ran again" })).resolves.toBe("ran again");
    expect(authority.jwksFetches).toBe(1);
  });

  it("refuses a token signed by another key under the authority's kid", async () => {
    const forger = generateKeyPairSync("ed25519");
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) => signGrant(c, { key: forger.privateKey }),
      ),
    );
    await expectRefused(makeClient(), "TOKEN_SIGNATURE_INVALID");
  });

  it("refuses a token whose payload was changed after signing", async () => {
    authority.script({
      body: (r: RecordedRequest) => {
        const decision = allowFor(r);
        const [h, , s] = (decision["execution_token"] as string).split(".");
        const payload = Buffer.from(JSON.stringify({ ...grantClaims(r, decision), jti: "other" })).toString(
          "base64url",
        );
        return { ...decision, execution_token: `${h}.${payload}.${s}` };
      },
    });
    await expectRefused(makeClient(), "TOKEN_SIGNATURE_INVALID");
  });

  it("checks each grant of concurrent calls for its own call (batched off the event loop)", async () => {
    const forger = generateKeyPairSync("ed25519");
    authority.fallback = (r: RecordedRequest) => {
      const decision = allowFor(r);
      const forged = String(r.json.action.resource).startsWith("FORGED");
      const claims = grantClaims(r, decision);
      return {
        body: {
          ...decision,
          execution_token: forged ? signGrant(claims, { key: forger.privateKey }) : signGrant(claims),
        },
      };
    };
    const batched = jest.spyOn(batchVerifier, "verify");
    const client = makeClient();
    const ran: string[] = [];
    const resources = Array.from({ length: 24 }, (_, i) => (i % 3 === 1 ? `FORGED-${i}` : `OK-${i}`));
    const results = await Promise.allSettled(
      resources.map((resource) =>
        client.enforce(
          { ...intent, action: { type: "OPEN_POSITION", resource } },
          { execute: () => ran.push(resource) },
        ),
      ),
    );
    expect(batched).toHaveBeenCalled();
    batched.mockRestore();
    results.forEach((result, i) => {
      if (resources[i]!.startsWith("OK")) expect(result.status).toBe("fulfilled");
      else {
        expect(result.status).toBe("rejected");
        const reason = (result as PromiseRejectedResult).reason as InvalidReceiptError;
        expect(reason).toBeInstanceOf(InvalidReceiptError);
        expect(reason.code).toBe("TOKEN_SIGNATURE_INVALID");
      }
    });
    expect(ran.sort()).toEqual(resources.filter((r) => r.startsWith("OK")).sort());
  });

  it("refuses a token granted for another intent", async () => {
    authority.script(allowWithGrant((c) => ({ ...c, binding: { intent_hash: `sha256:${"1".repeat(64)}` } })));
    await expectRefused(makeClient(), "TOKEN_BINDING_MISMATCH");
  });

  it("refuses a token of another decision or tenant", async () => {
    authority.script(allowWithGrant((c) => ({ ...c, decision_id: "dec_other" })));
    await expectRefused(makeClient(), "TOKEN_DECISION_MISMATCH");
    authority.script(allowWithGrant((c) => ({ ...c, tenant_id: "other_tenant" })));
    await expectRefused(makeClient(), "TOKEN_DECISION_MISMATCH");
  });

  it("refuses an expired token, beyond the clock skew", async () => {
    authority.script(allowWithGrant((c) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 10 })));
    await expectRefused(makeClient({ clockSkewMs: 5_000 }), "TOKEN_EXPIRED");
  });

  it("allows a token just expired within the clock skew", async () => {
    authority.script(allowWithGrant((c) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 1 })));
    await expect(makeClient({ clockSkewMs: 5_000 }).enforce(intent, { execute: () => 1 })).resolves.toBe(1);
  });

  it("refuses a token with other header parameters, or alg none", async () => {
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) =>
          signGrant(c, { header: { alg: "EdDSA", kid: "test-key-1", typ: "decionis-grant+jwt", jku: "http://x" } }),
      ),
    );
    await expectRefused(makeClient(), "TOKEN_MALFORMED");
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) => signGrant(c, { header: { alg: "none", kid: "test-key-1" } }),
      ),
    );
    await expectRefused(makeClient(), "TOKEN_MALFORMED");
    authority.script({ body: (r: RecordedRequest) => allowFor(r, { execution_token: "not-a-jws" }) });
    await expectRefused(makeClient(), "TOKEN_MALFORMED");
  });

  it("refuses claims that break the schema", async () => {
    authority.script(allowWithGrant((c) => ({ ...c, jti: undefined })));
    await expectRefused(makeClient(), "TOKEN_CLAIMS_INVALID");
  });

  it("follows a key rotation: an unknown kid refetches the JWKS", async () => {
    const client = makeClient({ keysRefetchIntervalMs: 0 });
    await client.enforce(intent);
    const next = generateKeyPairSync("ed25519");
    authority.jwks = {
      keys: [
        ...jwks.keys,
        { ...next.publicKey.export({ format: "jwk" }), kid: "test-key-2", alg: "EdDSA", use: "sig" },
      ],
    };
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) => signGrant(c, { kid: "test-key-2", key: next.privateKey }),
      ),
    );
    await expect(client.enforce(intent, { execute: () => "rotated" })).resolves.toBe("rotated");
    expect(authority.jwksFetches).toBe(2);
  });

  it("refetches at most once per interval, and refuses a kid nobody publishes", async () => {
    const client = makeClient({ keysRefetchIntervalMs: 60_000 });
    await client.enforce(intent);
    const rogue = generateKeyPairSync("ed25519");
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) => signGrant(c, { kid: "rogue", key: rogue.privateKey }),
      ),
    );
    await expectRefused(client, "TOKEN_KEY_UNKNOWN");
    authority.script(
      allowWithGrant(
        (c) => c,
        (c) => signGrant(c, { kid: "rogue", key: rogue.privateKey }),
      ),
    );
    await expectRefused(client, "TOKEN_KEY_UNKNOWN");
    expect(authority.jwksFetches).toBe(1);
  });

  it("fails closed when the JWKS cannot be fetched, saying how to configure keys", async () => {
    authority.jwksStatus = 503;
    const action = jest.fn();
    const error = (await makeClient()
      .enforce(intent, { execute: action })
      .catch((e: unknown) => e)) as InvalidReceiptError;
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error.code).toBe("KEYS_UNAVAILABLE");
    expect(error.message).toMatch(/authorityKeys/);
    expect(action).not.toHaveBeenCalled();
  });

  it("uses authorityKeys given as an object without fetching", async () => {
    const client = makeClient({ authorityKeys: jwks as never });
    await expect(client.enforce(intent, { execute: () => 1 })).resolves.toBe(1);
    expect(authority.jwksFetches).toBe(0);
  });

  it("fetches authorityKeys given as a URL", async () => {
    const client = makeClient({ authorityKeys: `${authority.url}/.well-known/jwks.json` });
    await expect(client.enforce(intent, { execute: () => 1 })).resolves.toBe(1);
    expect(authority.jwksFetches).toBe(1);
  });
});

describe("single use", () => {
  it.each(["signature", "none"] as const)(
    "verify %s: two receipts carrying the same grant run once",
    async (verify) => {
      const client = makeClient({ verify });
      let first: RecordedRequest | undefined;
      authority.script({
        body: (r: RecordedRequest) => {
          first = r;
          return decisionFor(r, "ESCALATE", { escalation_id: "esc_1" });
        },
      });
      const blocked = (await client.enforce(intent).catch((e: unknown) => e)) as BlockedError;
      expect(blocked).toBeInstanceOf(BlockedError);
      const granted = allowFor(first!);
      const ready = () => ({ body: escalationFor(first!, "esc_1", "GRANT_READY", granted) });
      authority.script(ready(), ready());
      const a = await client.waitForDecision(blocked);
      const b = await client.waitForDecision(blocked);
      const action = jest.fn(() => "ran");
      await expect(client.execute(a, action)).resolves.toBe("ran");
      const error = await client.execute(b, action).catch((e: unknown) => e);
      expect((error as InvalidReceiptError).code).toBe("TOKEN_REPLAYED");
      expect(action).toHaveBeenCalledTimes(1);
    },
  );

  it("a shared replay store makes it hold across clients", async () => {
    const store = new InMemoryReplayStore();
    const one = makeClient({ replayStore: store });
    const two = makeClient({ replayStore: store });
    let first: RecordedRequest | undefined;
    authority.script({
      body: (r: RecordedRequest) => {
        first = r;
        return decisionFor(r, "ESCALATE", { escalation_id: "esc_2" });
      },
    });
    await one.enforce(intent).catch(() => undefined);
    const granted = allowFor(first!);
    authority.script(
      { body: escalationFor(first!, "esc_2", "GRANT_READY", granted) },
      { body: escalationFor(first!, "esc_2", "GRANT_READY", granted) },
    );
    const a = await one.waitForDecision("esc_2");
    const b = await two.waitForDecision("esc_2");
    const action = jest.fn();
    await one.execute(a, action);
    await expect(two.execute(b, action)).rejects.toMatchObject({ code: "TOKEN_REPLAYED" });
    expect(action).toHaveBeenCalledTimes(1);
  });

  it("the in-memory store forgets expired ids as new ones arrive", () => {
    const store = new InMemoryReplayStore({ maxEntries: 100 });
    const now = Date.now();
    for (let i = 0; i < 50; i++) store.claim(`old-${i}`, now + 1000, now);
    expect(store.size).toBe(50);
    expect(store.claim("new", now + 5000, now + 2000)).toBe(true);
    expect(store.size).toBe(1);
  });

  it("the in-memory store keeps an id claimed again after it expired, and stays right past compaction", () => {
    const store = new InMemoryReplayStore({ maxEntries: 20_000 });
    const t = 1_000_000;
    expect(store.claim("blocker", t + 15, t)).toBe(true); // stops the front sweep until t + 15
    expect(store.claim("a", t + 10, t)).toBe(true);
    expect(store.claim("a", t + 50, t + 12)).toBe(true); // expired, so claimable again
    expect(store.claim("b", t + 60, t + 20)).toBe(true); // sweeps the first "a" entry, not the second
    expect(store.claim("a", t + 70, t + 21)).toBe(false);
    // Many ids, each live 100 ms, arriving 1 ms apart: the front is swept and the queue compacted.
    for (let i = 0; i < 12_000; i++) expect(store.claim(`id-${i}`, t + 1_000 + i + 100, t + 1_000 + i)).toBe(true);
    expect(store.size).toBeLessThanOrEqual(101);
    expect(store.claim("id-11999", t + 20_000, t + 13_000)).toBe(false); // still live
    expect(store.claim("id-11000", t + 20_000, t + 13_000)).toBe(true); // expired long ago
  });

  it("the in-memory store, when full, drops expired ids out of order", () => {
    const store = new InMemoryReplayStore({ maxEntries: 3 });
    const t = 1_000_000;
    expect(store.claim("long", t + 10_000, t)).toBe(true); // blocks the front sweep
    expect(store.claim("short-1", t + 10, t)).toBe(true);
    expect(store.claim("short-2", t + 10, t)).toBe(true);
    expect(store.claim("new", t + 10_000, t + 100)).toBe(true); // full: the whole map is swept
    expect(store.size).toBe(2);
    expect(store.claim("long", t + 10_000, t + 200)).toBe(false);
    expect(store.claim("new", t + 10_000, t + 200)).toBe(false);
    expect(store.claim("later", t + 30_000, t + 20_000)).toBe(true); // both expired: swept from the rebuilt front
    expect(store.size).toBe(1);
  });

  it("the in-memory store does not forget a live id when the clock steps back", () => {
    const store = new InMemoryReplayStore();
    expect(store.claim("x", 100, 0)).toBe(true);
    expect(store.claim("y", 1_000, 150)).toBe(true); // x expired at 150 and is swept
    expect(store.claim("x", 100, 50)).toBe(false); // the clock went back to 50: x must not run twice
    expect(store.claim("nan", Number.NaN, 200)).toBe(false);
  });

  it("the in-memory store, full of live ids, refuses until the soonest one expires, then takes new ones", () => {
    const store = new InMemoryReplayStore({ maxEntries: 2 });
    expect(store.claim("long", 1_000, 0)).toBe(true);
    expect(store.claim("short", 50, 0)).toBe(true);
    expect(() => store.claim("c", 500, 10)).toThrow(/maxEntries/);
    expect(() => store.claim("d", 500, 20)).toThrow(/maxEntries/);
    expect(store.claim("e", 500, 60)).toBe(true); // "short" expired: swept, and its place taken
    expect(() => store.claim("f", 900, 61)).toThrow(/maxEntries/);
    expect(store.claim("long", 2_000, 62)).toBe(false);
    expect(store.claim("e", 600, 70)).toBe(false);
    expect(store.claim("g", 900, 501)).toBe(true); // "e" expired at 500
  });

  it("a replay store that fails fails the call closed", async () => {
    const client = makeClient({
      replayStore: {
        claim: () => {
          throw new Error("redis down");
        },
      },
    });
    await expectRefused(client, "REPLAY_STORE_FAILED");
  });

  it("an asynchronous replay store is awaited: a rejection or a second claim runs nothing", async () => {
    const rejecting = makeClient({ replayStore: { claim: () => Promise.reject(new Error("redis timeout")) } });
    await expectRefused(rejecting, "REPLAY_STORE_FAILED");
    const seen = new Set<string>();
    const shared = {
      claim: async (jti: string) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (seen.has(jti)) return false;
        seen.add(jti);
        return true;
      },
    };
    const client = makeClient({ replayStore: shared });
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(seen.size).toBe(1);
    const replayed = makeClient({ replayStore: { claim: async () => false } });
    await expectRefused(replayed, "TOKEN_REPLAYED");
  });

  it("the in-memory store is bounded and refuses when full of live grants", () => {
    const store = new InMemoryReplayStore({ maxEntries: 2 });
    const now = Date.now();
    expect(store.claim("a", now + 1000, now)).toBe(true);
    expect(store.claim("a", now + 1000, now)).toBe(false);
    expect(store.claim("b", now + 1000, now)).toBe(true);
    expect(() => store.claim("c", now + 1000, now)).toThrow(/maxEntries/);
    expect(store.claim("c", now + 5000, now + 2000)).toBe(true);
    expect(store.size).toBe(1);
  });
});

describe('verify: "consume"', () => {
  it("consumes the grant at the authority before running", async () => {
    const client = makeClient({ verify: "consume" });
    let grant: Record<string, unknown> | undefined;
    authority.script({
      body: (r: RecordedRequest) => {
        grant = allowFor(r);
        return grant;
      },
    });
    authority.script({
      body: (r: RecordedRequest) => ({
        valid: true,
        claims: {
          jti: "j",
          decision_id: grant!["decision_id"],
          dossier_id: grant!["dossier_id"],
          exp: 1,
          binding: { intent_hash: r.json.intent_hash },
        },
      }),
    });
    await expect(client.enforce(intent, { execute: () => "ran" })).resolves.toBe("ran");
    const consume = authority.requests[1]!;
    expect(consume.url).toBe("/v1/execution/consume-token");
    expect(consume.json).toMatchObject({
      execution_token: grant!["execution_token"],
      intent_hash: authority.requests[0]!.json.intent_hash,
    });
    expect(consume.json.consumed_by).toMatch(/^decionis-node@/);
  });

  it("runs nothing on 409 TOKEN_ALREADY_CONSUMED", async () => {
    authority.script(
      { body: (r: RecordedRequest) => allowFor(r) },
      { status: 409, body: { error: { code: "TOKEN_ALREADY_CONSUMED", message: "used" } } },
    );
    await expectRefused(makeClient({ verify: "consume" }), "TOKEN_CONSUMED");
    expect(authority.requests.map((r) => r.url)).toEqual([
      "/v1/authority/enforce-and-bind",
      "/v1/execution/consume-token",
    ]);
  });
});

describe('verify: "none"', () => {
  it("applies only the protocol 2.5 checks", async () => {
    authority.script({ body: (r: RecordedRequest) => allowFor(r, { execution_token: "opaque" }) });
    await expect(makeClient({ verify: "none" }).enforce(intent, { execute: () => 1 })).resolves.toBe(1);
    expect(authority.jwksFetches).toBe(0);
  });
});
