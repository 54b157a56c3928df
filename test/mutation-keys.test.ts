/**
 * What the key ring says when it cannot fetch the authority's keys: the whole
 * fix, not only its first half. The survivor of the 2026-12-04 Stryker run of
 * src/grants/keys.ts (the second line of the message emptied) failed no test.
 */
import { KeyRing } from "../src/grants/keys.js";
import { InvalidReceiptError } from "../src/index.js";
import { KID } from "./helpers/test-authority.js";

const limits = { refetchIntervalMs: 1_000, maxAgeMs: 60_000 };

describe("a key ring that cannot fetch", () => {
  it("names the source, the cause and every way out", async () => {
    const ring = new KeyRing("https://keys.example/jwks.json", () => Promise.reject(new Error("ECONNREFUSED")), limits);
    const error = await ring.get(KID, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error).toMatchObject({
      code: "KEYS_UNAVAILABLE",
      details: { check: "KEYS_UNAVAILABLE", cause: "ECONNREFUSED" },
      message:
        "Could not fetch the authority's keys from https://keys.example/jwks.json: pass `authorityKeys` " +
        '(a JWKS object or its URL) to the client, check `baseUrl`, or set `verify: "consume"` ' +
        "to have the authority check each grant; nothing ran.",
    });
  });

  it("a fetch that throws what is not an Error still says why", async () => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a non-Error rejection is the case under test
    const ring = new KeyRing("the authority", () => Promise.reject("offline"), limits);
    await expect(ring.get(KID, 0)).rejects.toMatchObject({ code: "KEYS_UNAVAILABLE", details: { cause: "offline" } });
  });
});
