/**
 * Claiming a receipt for one run: who issued it, whether it is still an
 * acceptable ALLOW at that moment, the replay store's key and expiry, and
 * consume-token's answers. Each check is provoked alone; nothing may run.
 */
import {
  BlockedError,
  InMemoryReplayStore,
  InvalidReceiptError,
  MissingReceiptError,
  type ReplayStore,
} from "../../src/index.js";
import { sha256Tagged } from "../../src/intent/canonical.js";
import { allow, clientOf, FakeAuthority, intent, refuse, rejection } from "./fake-authority.js";

afterEach(() => {
  jest.restoreAllMocks();
});

/** A replay store that records each claim and answers with `answer`. */
class RecordingStore implements ReplayStore {
  readonly claims: { jti: string; expiresAtMs: number }[] = [];
  constructor(private readonly answer: (jti: string) => boolean | Promise<boolean> = () => true) {}
  claim(jti: string, expiresAtMs: number): boolean | Promise<boolean> {
    this.claims.push({ jti, expiresAtMs });
    return this.answer(jti);
  }
}

function grantOf(token: string): { jti: string; exp: number } {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { jti: string; exp: number };
}

describe("execute(receipt)", () => {
  it("runs once under a receipt from decide, with the decision", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    const receipt = await client.decide(intent);
    const fn = jest.fn((d: unknown) => d);
    await expect(client.execute(receipt, fn)).resolves.toBe(receipt);
    const again = await rejection(client.execute(receipt, fn));
    expect(again.code).toBe("RECEIPT_ALREADY_USED");
    expect(again.message).toContain(receipt.decisionId);
    expect(again.details).toMatchObject({ decisionId: receipt.decisionId });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("runs a receipt returned by enforce without execute (enforce did not use it)", async () => {
    const client = clientOf(new FakeAuthority());
    const decision = await client.enforce(intent);
    await expect(client.execute(decision, () => "ran")).resolves.toBe("ran");
  });

  it.each([null, undefined])("refuses %s as a receipt, and tells onError", async (receipt) => {
    const onError = jest.fn();
    const client = clientOf(new FakeAuthority(), { hooks: { onError } });
    const fn = jest.fn();
    await expect(client.execute(receipt, fn)).rejects.toBeInstanceOf(MissingReceiptError);
    expect(fn).not.toHaveBeenCalled();
    expect(onError).toHaveBeenCalledWith({ error: expect.any(MissingReceiptError), intent: undefined });
  });

  it("refuses a receipt of another client, and a copy of one", async () => {
    const gateway = new FakeAuthority();
    const receipt = await clientOf(gateway).decide(intent);
    const other = clientOf(gateway);
    const fn = jest.fn();
    const error = await rejection(other.execute(receipt, fn));
    expect(error.code).toBe("RECEIPT_UNKNOWN");
    expect(error.message).toContain("not issued by this client");
    expect((await rejection(other.execute({ ...receipt }, fn))).code).toBe("RECEIPT_UNKNOWN");
    expect(fn).not.toHaveBeenCalled();
  });

  it("refuses a BLOCK receipt with BlockedError, without telling onError", async () => {
    const gateway = new FakeAuthority();
    const onError = jest.fn();
    const client = clientOf(gateway, { hooks: { onError } });
    gateway.decide = (r) => refuse(r, "BLOCK");
    const receipt = await client.decide(intent);
    expect(receipt.status).toBe("BLOCK");
    await expect(client.execute(receipt, jest.fn())).rejects.toBeInstanceOf(BlockedError);
    expect(onError).not.toHaveBeenCalled();
  });

  it("re-checks the token's expiry when it is used", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway);
    const receipt = await client.decide(intent);
    jest.spyOn(Date, "now").mockReturnValue(receipt.executionTokenExpiresAt!.getTime());
    const fn = jest.fn();
    const error = await rejection(client.execute(receipt, fn));
    expect(error.code).toBe("TOKEN_EXPIRED");
    expect(fn).not.toHaveBeenCalled();
  });

  it("re-checks the grant's exp (plus clockSkewMs) when it is used, to the millisecond", async () => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { clockSkewMs: 1_000 });
    const exp = Math.floor(Date.now() / 1000) + 2;
    gateway.decide = (r) => allow(r, {}, { exp });
    const early = await client.decide(intent);
    const onTime = await client.decide(intent);
    const fn = jest.fn(() => "ran");
    const now = jest.spyOn(Date, "now").mockReturnValue(exp * 1000 + 1_000 - 1);
    await expect(client.execute(onTime, fn)).resolves.toBe("ran");
    now.mockReturnValue(exp * 1000 + 1_000);
    const error = await rejection(client.execute(early, fn));
    expect(error.code).toBe("TOKEN_EXPIRED");
    expect(error.message).toContain(early.decisionId);
    expect(error.details).toMatchObject({ decisionId: early.decisionId });
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("the replay store", () => {
  it("is claimed with the grant's jti until its exp plus clockSkewMs", async () => {
    const gateway = new FakeAuthority();
    const replayStore = new RecordingStore();
    const client = clientOf(gateway, { replayStore, clockSkewMs: 2_000 });
    const receipt = await client.decide(intent);
    await client.execute(receipt, () => undefined);
    const grant = grantOf(receipt.executionToken!);
    expect(replayStore.claims).toEqual([{ jti: grant.jti, expiresAtMs: grant.exp * 1000 + 2_000 }]);
  });

  it("is claimed with the token's hash until its expiry when signatures are not checked", async () => {
    const gateway = new FakeAuthority();
    const replayStore = new RecordingStore();
    const client = clientOf(gateway, { replayStore, verify: "none" });
    const receipt = await client.decide(intent);
    await client.execute(receipt, () => undefined);
    expect(replayStore.claims).toEqual([
      {
        jti: `token:${sha256Tagged(receipt.executionToken!)}`,
        expiresAtMs: receipt.executionTokenExpiresAt!.getTime(),
      },
    ]);
  });

  it("says TOKEN_REPLAYED with the jti when the grant already ran (sync and async stores)", async () => {
    for (const answer of [() => false, () => Promise.resolve(false)]) {
      const gateway = new FakeAuthority();
      const client = clientOf(gateway, { replayStore: new RecordingStore(answer) });
      const fn = jest.fn();
      const error = await rejection(client.enforce(intent, { execute: fn }));
      expect(error).toBeInstanceOf(InvalidReceiptError);
      expect(error.code).toBe("TOKEN_REPLAYED");
      expect(error.details.jti).toMatch(/^jti_/);
      expect(error.message).toContain("already used");
      expect(fn).not.toHaveBeenCalled();
    }
  });

  it("runs one grant once across two receipts that carry it", async () => {
    const gateway = new FakeAuthority();
    const replayStore = new InMemoryReplayStore();
    const client = clientOf(gateway, { replayStore, verify: "none" });
    gateway.decide = (r) => allow(r, { execution_token: "same-token" });
    const a = await client.decide(intent);
    const b = await client.decide(intent);
    const fn = jest.fn();
    await client.execute(a, fn);
    expect((await rejection(client.execute(b, fn))).code).toBe("TOKEN_REPLAYED");
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it.each([
    [
      "throws an Error",
      () => {
        throw new Error("disk full");
      },
      "disk full",
    ],
    [
      "throws a string",
      () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- a store that throws a non-Error
        throw "disk gone";
      },
      "disk gone",
    ],
    ["rejects", () => Promise.reject(new Error("redis down")), "redis down"],
  ])("fails closed when the store %s, with the cause", async (_name, answer, cause) => {
    const gateway = new FakeAuthority();
    const onError = jest.fn();
    const client = clientOf(gateway, { replayStore: new RecordingStore(answer), hooks: { onError } });
    const fn = jest.fn();
    const error = await rejection(client.enforce(intent, { execute: fn }));
    expect(error.code).toBe("REPLAY_STORE_FAILED");
    expect(error.message).toContain("could not record");
    expect(error.details).toMatchObject({ cause, decisionId: expect.stringMatching(/^dec_/) });
    expect(fn).not.toHaveBeenCalled();
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ error }));
  });

  it("stops the run when the caller aborts while the store claims", async () => {
    const controller = new AbortController();
    const replayStore = new RecordingStore(() => {
      controller.abort(new Error("caller gone"));
      return true;
    });
    const client = clientOf(new FakeAuthority(), { replayStore });
    const fn = jest.fn();
    await expect(client.enforce(intent, { execute: fn, signal: controller.signal })).rejects.toThrow("caller gone");
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('verify: "consume"', () => {
  function consumeClient() {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, { verify: "consume" });
    return { gateway, client };
  }

  it("consumes the grant at the authority before running, once", async () => {
    const { gateway, client } = consumeClient();
    const fn = jest.fn(() => "ran");
    await expect(client.enforce(intent, { execute: fn })).resolves.toBe("ran");
    expect(gateway.consumed).toHaveLength(1);
    const body = gateway.consumed[0]!;
    expect(body["intent_hash"]).toBe(gateway.last.intent_hash);
    expect(typeof body["execution_token"]).toBe("string");
    expect(body["consumed_by"]).toMatch(new RegExp(`^decionis-node@.+#${process.pid}$`));
  });

  it.each([
    ["says not valid", (b: any, claims: any) => ({ valid: false, claims }), "TOKEN_NOT_VALID", "not valid"],
    [
      "answers for another intent",
      (b: any, claims: any) => ({
        valid: true,
        claims: { ...claims, binding: { intent_hash: `sha256:${"c".repeat(64)}` } },
      }),
      "TOKEN_BINDING_MISMATCH",
      "another intent",
    ],
    [
      "answers for another decision",
      (b: any, claims: any) => ({ valid: true, claims: { ...claims, decision_id: "dec_other" } }),
      "TOKEN_DECISION_MISMATCH",
      "another decision",
    ],
  ])("fails closed when consume-token %s", async (_name, answer, code, text) => {
    const { gateway, client } = consumeClient();
    gateway.consume = (body) => {
      const claims = JSON.parse(
        Buffer.from(String(body["execution_token"]).split(".")[1]!, "base64url").toString("utf8"),
      ) as unknown;
      return answer(body, claims);
    };
    const fn = jest.fn();
    const error = await rejection(client.enforce(intent, { execute: fn }));
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error.code).toBe(code);
    expect(error.message).toContain(text);
    expect(error.details).toMatchObject({ decisionId: expect.stringMatching(/^dec_/) });
    expect(fn).not.toHaveBeenCalled();
  });

  it("does not consume when only deciding", async () => {
    const { gateway, client } = consumeClient();
    await client.enforce(intent);
    expect(gateway.consumed).toHaveLength(0);
  });
});

describe("execute(receipt) passes the receipt to the action", () => {
  it.each([
    ["consume-token", { verify: "consume" as const }],
    ["an asynchronous replay store", { replayStore: new RecordingStore(() => Promise.resolve(true)) }],
    ["a synchronous replay store", { replayStore: new RecordingStore(() => true) }],
  ])("after %s", async (_name, options) => {
    const gateway = new FakeAuthority();
    const client = clientOf(gateway, options);
    const receipt = await client.decide(intent);
    const fn = jest.fn((d: unknown) => d);
    await expect(client.execute(receipt, fn)).resolves.toBe(receipt);
    expect(fn).toHaveBeenCalledWith(receipt);
    await client.close();
    expect(gateway.outcomes).toHaveLength(0);
  });
});
