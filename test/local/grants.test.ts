/**
 * Execution grants (protocol 4 and 5): consume-token single use, the checks
 * it makes, key rotation, and the key file.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wireConsumeResponseSchema, wireJwksSchema } from "../../src/gateway/wire.js";
import { startLocalAuthority, type KeyFile } from "../../src/local/index.js";
import { call, clientFor, jwksOf, order, POLICIES, sleep, useHarness, verifyJws } from "./helpers.js";

const h = useHarness();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "decionis-keys-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const consume = (body: unknown) => call(h.authority, "POST", "/v1/execution/consume-token", body);

describe("consume-token", () => {
  test("a grant is consumed once; the second use is 409 TOKEN_ALREADY_CONSUMED", async () => {
    const decision = await h.client.enforce(order(1_000));
    const body = {
      execution_token: decision.executionToken,
      intent_hash: decision.actionHash,
      consumed_by: "worker-1",
    };
    const first = await consume(body);
    expect(first.status).toBe(200);
    expect(wireConsumeResponseSchema.parse(first.json)).toEqual({
      valid: true,
      claims: {
        jti: expect.stringMatching(/^grt_/),
        decision_id: decision.decisionId,
        dossier_id: decision.dossierId,
        exp: decision.executionTokenExpiresAt!.getTime() / 1000,
        binding: { intent_hash: decision.actionHash },
      },
    });
    const second = await consume({ ...body, consumed_by: "worker-2" });
    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe("TOKEN_ALREADY_CONSUMED");
  });

  test("a grant for another intent, a forged one, and a malformed body are refused", async () => {
    const a = await h.client.enforce(order(1_000));
    const b = await h.client.enforce(order(2_000));
    const other = await consume({ execution_token: a.executionToken, intent_hash: b.actionHash, consumed_by: "w" });
    expect(other.status).toBe(400);
    expect(other.json.error.code).toBe("TOKEN_BINDING_MISMATCH");

    const [head, claims] = a.executionToken!.split(".");
    const forged = await consume({
      execution_token: `${head!}.${claims!}.${Buffer.alloc(64).toString("base64url")}`,
      intent_hash: a.actionHash,
      consumed_by: "w",
    });
    expect(forged.status).toBe(400);
    expect(forged.json.error).toMatchObject({ code: "TOKEN_INVALID", message: "execution_token: bad signature" });

    const malformed = await consume({ execution_token: a.executionToken, intent_hash: "md5:x", consumed_by: "w" });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.details.field).toBe("intent_hash");
    // The refusals consumed nothing.
    expect(
      (await consume({ execution_token: a.executionToken, intent_hash: a.actionHash, consumed_by: "w" })).status,
    ).toBe(200);
  });

  test("an expired grant is refused", async () => {
    // The grant cannot outlive the intent: a 3 s intent makes a grant that expires within 3 s
    // (seconds of margin so a loaded machine still accepts it at enforce time).
    const shortLived = clientFor(h.authority, { intentTtlMs: 3_000 });
    const decision = await shortLived.enforce(order(1_000));
    await shortLived.close();
    await sleep(Math.max(0, decision.executionTokenExpiresAt!.getTime() - Date.now()) + 20);
    const res = await consume({
      execution_token: decision.executionToken,
      intent_hash: decision.actionHash,
      consumed_by: "late",
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("TOKEN_EXPIRED");
  });
});

describe("keys", () => {
  test("rotation: new grants use the new key, both keys stay published, old grants still verify", async () => {
    const before = await h.client.enforce(order(1_000));
    const oldKid = verifyJws(before.executionToken!, await jwksOf(h.authority)).header["kid"];
    const newKid = h.authority.rotateKey();
    expect(newKid).not.toBe(oldKid);

    const jwks = wireJwksSchema.parse(await jwksOf(h.authority));
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    expect(jwks.keys.every((k) => k.alg === "EdDSA" && k.use === "sig" && !("d" in k))).toBe(true);

    // A new client: the SDK's own key cache after a rotation is issue 4's subject, not this one's.
    const fresh = clientFor(h.authority);
    const after = await fresh.enforce(order(1_000));
    await fresh.close();
    const checked = verifyJws(after.executionToken!, await jwksOf(h.authority));
    expect(checked).toMatchObject({ valid: true, header: { kid: newKid } });
    expect(verifyJws(before.executionToken!, await jwksOf(h.authority)).valid).toBe(true);
  });

  test("a key file is created on first start (0600), reused on the next, and rotation is written back", async () => {
    const keyFile = join(dir, "authority-key.json");
    const first = await startLocalAuthority({ policies: POLICIES, keyFile });
    const kid = (await jwksOf(first)).keys[0]!["kid"];
    await first.stop();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(keyFile, "utf8")) as KeyFile;
    expect(saved).toMatchObject({ active: kid, keys: [{ kty: "OKP", crv: "Ed25519", kid, d: expect.any(String) }] });

    const second = await startLocalAuthority({ policies: POLICIES, keyFile });
    expect((await jwksOf(second)).keys.map((k) => k["kid"])).toEqual([kid]);
    const rotated = second.rotateKey();
    await second.stop();
    expect(JSON.parse(readFileSync(keyFile, "utf8"))).toMatchObject({
      active: rotated,
      keys: [{ kid: rotated }, { kid }],
    });
  });

  test("a retired key (no private part) is published but never signs", async () => {
    const keyFile = join(dir, "two-keys.json");
    const a = await startLocalAuthority({ policies: POLICIES, keyFile });
    const oldKid = (await jwksOf(a)).keys[0]!["kid"] as string;
    a.rotateKey();
    await a.stop();
    const file = JSON.parse(readFileSync(keyFile, "utf8")) as KeyFile;
    const retired = {
      ...file,
      active: undefined,
      keys: file.keys.map((k) => (k.kid === oldKid ? { ...k, d: undefined } : k)),
    };
    const b = await startLocalAuthority({ policies: POLICIES, keys: JSON.parse(JSON.stringify(retired)) as KeyFile });
    const client = clientFor(b);
    try {
      const jwks = await jwksOf(b);
      expect(jwks.keys.map((k) => k["kid"])).toContain(oldKid);
      const decision = await client.enforce(order(1_000));
      expect(verifyJws(decision.executionToken!, jwks)).toMatchObject({ valid: true });
      expect(verifyJws(decision.executionToken!, jwks).header["kid"]).not.toBe(oldKid);
    } finally {
      await client.close();
      await b.stop();
    }
  });

  test.each([
    ["not JSON", "{", /Cannot read the key file .*two\.json/],
    ["a wrong curve", JSON.stringify({ keys: [{ kty: "OKP", crv: "X25519", x: "abc" }] }), /keys\.0\.crv/],
    [
      "no private key",
      JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] }),
      /no key has a private part/,
    ],
  ])("a bad key file (%s) stops the start with the file and the reason", async (_what, content, message) => {
    const keyFile = join(dir, "two.json");
    writeFileSync(keyFile, content);
    await expect(startLocalAuthority({ policies: POLICIES, keyFile })).rejects.toMatchObject({
      code: "KEY_FILE_INVALID",
      message: expect.stringMatching(message),
    });
  });
});
