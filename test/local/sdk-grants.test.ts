/**
 * Issue 4 against the local authority: the SDK's grant verification, escalation
 * waiting, shadow mode, outcome receipts and dossier checks, end to end over
 * real HTTP. Faults a real authority would not produce on its own (a forged or
 * swapped token, an unreachable JWKS, a failing outcome endpoint) come from a
 * man-in-the-middle proxy in front of it.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import {
  BlockedError,
  DecionisClient,
  EscalationTimeoutError,
  gate,
  InMemoryReplayStore,
  InvalidReceiptError,
  verifyDossier,
  type ClientOptions,
  type Decision,
  type Jwks,
} from "../../src/index.js";
import { startLocalAuthority, type LocalAuthority } from "../../src/local/index.js";
import { startProxy, type Proxy } from "../helpers/proxy.js";
import { expectRefused } from "../helpers/refused.js";
import { clientFor, order, POLICIES } from "./helpers.js";

let authority: LocalAuthority;
let proxy: Proxy;
const clients: DecionisClient[] = [];

beforeAll(async () => {
  authority = await startLocalAuthority({ policies: POLICIES });
  proxy = await startProxy(authority.url);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy.close();
  await authority.stop();
});
beforeEach(() => {
  proxy.intercept = () => undefined;
  proxy.rewrite = (_path, body: unknown) => body;
});

/** A client that talks to the authority through the proxy. */
function client(options: ClientOptions = {}): DecionisClient {
  const c = clientFor(authority, { baseUrl: proxy.url, ...options });
  clients.push(c);
  return c;
}

const ENFORCE = "/v1/authority/enforce-and-bind";
const small = () => order(1_000);
const large = () => order(200_000);

function reSign(
  token: string,
  patch: (claims: Record<string, unknown>) => Record<string, unknown>,
  key = generateKeyPairSync("ed25519").privateKey,
): string {
  const [h, p] = token.split(".") as [string, string];
  const claims = patch(JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>);
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${h}.${payload}.${sign(null, Buffer.from(`${h}.${payload}`), key).toString("base64url")}`;
}

const refused = (c: DecionisClient, check: string, intent = small()): Promise<void> => expectRefused(c, intent, check);

describe("grant verification", () => {
  it("runs on the authority's real grant", async () => {
    await expect(client().enforce(small(), { execute: () => "ran" })).resolves.toBe("ran");
  });

  it("refuses a forged token (same kid, another key)", async () => {
    proxy.rewrite = (path, body: any) =>
      path === ENFORCE ? { ...body, execution_token: reSign(body.execution_token as string, (c) => c) } : body;
    await refused(client(), "TOKEN_SIGNATURE_INVALID");
  });

  it("refuses a real token that was granted for another intent", async () => {
    const c = client();
    let stolen: string | undefined;
    proxy.rewrite = (path, body: any) => {
      if (path !== ENFORCE) return body;
      if (stolen === undefined) {
        stolen = body.execution_token as string;
        return body;
      }
      return { ...body, execution_token: stolen };
    };
    await c.enforce(small());
    await refused(c, "TOKEN_BINDING_MISMATCH");
  });

  it("refuses an expired grant", async () => {
    // Seconds of margin so a loaded machine still accepts the grant at decide time; then wait past its expiry.
    const shortLived = await startLocalAuthority({ policies: POLICIES, grantTtlMs: 3_000 });
    const c = clientFor(shortLived, { clockSkewMs: 0 });
    try {
      const receipt = await c.decide(small());
      const expiresAt = receipt.executionTokenExpiresAt!.getTime();
      await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 1_100));
      const action = jest.fn();
      await expect(c.execute(receipt, action)).rejects.toMatchObject({ code: "TOKEN_EXPIRED" });
      expect(action).not.toHaveBeenCalled();
    } finally {
      await c.close();
      await shortLived.stop();
    }
  });

  it("follows a key rotation when a grant names a new kid", async () => {
    const c = client({ keysRefetchIntervalMs: 0 });
    await c.enforce(small());
    const kid = authority.rotateKey();
    let seenKid: string | undefined;
    await c.enforce(small(), {
      execute: (d: Decision) => {
        seenKid = JSON.parse(Buffer.from(d.executionToken!.split(".")[0]!, "base64url").toString()).kid;
      },
    });
    expect(seenKid).toBe(kid);
  });

  it("fails closed when the JWKS is unreachable", async () => {
    proxy.intercept = (_m, path) =>
      path === "/.well-known/jwks.json"
        ? { status: 503, body: { error: { code: "DOWN", message: "down" } } }
        : undefined;
    const c = client();
    const action = jest.fn();
    const error = (await c.enforce(small(), { execute: action }).catch((e: unknown) => e)) as InvalidReceiptError;
    expect(error.code).toBe("KEYS_UNAVAILABLE");
    expect(error.message).toMatch(/authorityKeys/);
    expect(action).not.toHaveBeenCalled();
  });
});

describe("single use", () => {
  it("a grant replayed in the same process runs once", async () => {
    const c = client();
    const blocked = (await c.enforce(large()).catch((e: unknown) => e)) as BlockedError;
    await authority.approve(blocked.escalationId!);
    const first = await c.waitForDecision(blocked);
    const again = await c.waitForDecision(blocked);
    const action = jest.fn();
    await c.execute(first, action);
    await expect(c.execute(again, action)).rejects.toMatchObject({ code: "TOKEN_REPLAYED" });
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('with verify: "consume", a grant runs once across two clients', async () => {
    const one = client({ verify: "consume", replayStore: new InMemoryReplayStore() });
    const two = client({ verify: "consume", replayStore: new InMemoryReplayStore() });
    const blocked = (await one.enforce(large()).catch((e: unknown) => e)) as BlockedError;
    await authority.approve(blocked.escalationId!);
    const a = await one.waitForDecision(blocked);
    const b = await two.waitForDecision(blocked.escalationId!);
    const action = jest.fn();
    await one.execute(a, action);
    await expect(two.execute(b, action)).rejects.toMatchObject({ code: "TOKEN_CONSUMED" });
    expect(action).toHaveBeenCalledTimes(1);
  });
});

describe("escalation", () => {
  it("approve: a gate with escalation: wait runs once after the approval", async () => {
    const c = client();
    const opened: number[] = [];
    const open = gate(async (notional: number) => opened.push(notional), {
      client: c,
      action: "OPEN_POSITION",
      actor: { id: "bot_7", type: "TRADING_BOT" },
      resource: "EURUSD",
      policy: "trading",
      parameters: (n) => ({ symbol: "EURUSD", qty: n / 100 }),
      context: (n) => ({ notional: n }),
      escalation: "wait",
    });
    const pending = open(200_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(opened).toEqual([]);
    const escalation = authority.decisions().at(-1)!.escalation!;
    await authority.approve(escalation.escalation_id, { by: "officer" });
    await expect(pending).resolves.toBe(1);
    expect(opened).toEqual([200_000]);
  });

  it("reject: BlockedError with escalationStatus REJECTED", async () => {
    const c = client();
    const blocked = (await c.enforce(large()).catch((e: unknown) => e)) as BlockedError;
    await authority.reject(blocked.escalationId!);
    await expect(c.waitForDecision(blocked)).rejects.toMatchObject({ status: "BLOCK", escalationStatus: "REJECTED" });
  });

  it("expire: BlockedError with escalationStatus EXPIRED", async () => {
    const quick = await startLocalAuthority({ policies: POLICIES, escalationTtlMs: 300 });
    const c = clientFor(quick);
    try {
      const blocked = (await c.enforce(large()).catch((e: unknown) => e)) as BlockedError;
      await new Promise((resolve) => setTimeout(resolve, 400));
      await expect(c.waitForDecision(blocked)).rejects.toMatchObject({ status: "BLOCK", escalationStatus: "EXPIRED" });
    } finally {
      await c.close();
      await quick.stop();
    }
  });

  it("a wait that reaches the escalation's expiry ends, and nothing runs", async () => {
    const quick = await startLocalAuthority({ policies: POLICIES, escalationTtlMs: 300 });
    const c = clientFor(quick);
    try {
      const blocked = (await c.enforce(large()).catch((e: unknown) => e)) as BlockedError;
      const error = await c.waitForDecision(blocked).catch((e: unknown) => e);
      // Either the last poll saw EXPIRED, or it came a hair early and the deadline ended the wait.
      expect(error instanceof EscalationTimeoutError || (error as BlockedError).escalationStatus === "EXPIRED").toBe(
        true,
      );
    } finally {
      await c.close();
      await quick.stop();
    }
  });

  it("abort: rejects with the signal's reason", async () => {
    const c = client();
    const blocked = (await c.enforce(large()).catch((e: unknown) => e)) as BlockedError;
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(new Error("shift ended"));
    }, 100);
    await expect(c.waitForDecision(blocked, { signal: controller.signal })).rejects.toThrow("shift ended");
  });
});

describe("shadow mode", () => {
  it("with the authority down, the call still runs and the hook reports", async () => {
    const down = await startLocalAuthority({ policies: POLICIES });
    const url = down.url;
    await down.stop();
    const errors: unknown[] = [];
    let reported!: () => void;
    const seen = new Promise<void>((resolve) => (reported = resolve));
    const c = clientFor(authority, {
      baseUrl: url,
      mode: "SHADOW",
      hooks: {
        onError: (e) => {
          errors.push(e.error);
          reported();
        },
      },
    });
    clients.push(c);
    const open = gate(async () => "ran", {
      client: c,
      action: "OPEN_POSITION",
      actor: { id: "b", type: "TRADING_BOT" },
    });
    await expect(open()).resolves.toBe("ran");
    await seen;
    expect(errors[0]).toMatchObject({ name: "RetryExhaustedError" });
  });
});

describe("outcome receipts", () => {
  it("recorded on the dossier", async () => {
    const c = client({ reportOutcome: true });
    const decision = await c.enforce(small());
    await c.execute(decision, () => "done");
    await c.close();
    expect(authority.decisions().find((d) => d.decision.decision_id === decision.decisionId)?.outcome).toMatchObject({
      status: "SUCCEEDED",
    });
  });

  it("under authority failure: the call succeeds, the error goes to onError", async () => {
    proxy.intercept = (method, path) =>
      method === "POST" && path.endsWith("/outcome")
        ? { status: 503, body: { error: { code: "DOWN", message: "down" } } }
        : undefined;
    const errors: unknown[] = [];
    const c = client({ reportOutcome: true, hooks: { onError: (e) => errors.push(e.error) } });
    await expect(c.enforce(small(), { execute: () => "done" })).resolves.toBe("done");
    await c.close();
    expect(errors[0]).toMatchObject({ name: "RetryExhaustedError" });
  });
});

describe("dossiers", () => {
  it("getDossier + verifyDossier: valid as served, invalid once tampered with", async () => {
    const c = client();
    const decision = await c.enforce(small());
    const dossier = await c.getDossier(decision.dossierId!);
    const jwks = (await (await fetch(authority.jwksUrl)).json()) as Jwks;
    expect(verifyDossier(dossier, jwks)).toMatchObject({ valid: true });
    const tampered = JSON.parse(JSON.stringify(dossier)) as Record<string, any>;
    tampered["decision"].reason_codes = ["TAMPERED"];
    expect(verifyDossier(tampered, jwks)).toMatchObject({ valid: false });
  });

  it("ping answers", async () => {
    await expect(client().ping()).resolves.toMatchObject({ status: "ok" });
  });
});
