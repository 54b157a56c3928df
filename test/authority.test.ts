/**
 * The checked face of a gateway (src/authority.ts), driven through the client's
 * public API with an in-process gateway: missing methods, answers off the
 * protocol, a gateway that throws what is not an SDK error, and aborts. The
 * last block drives `abortable` and the JWKS getter directly: what they owe
 * (no leaked listener, no unhandled rejection, the URL asked for) is not
 * visible through a call's result.
 */
import { getEventListeners } from "node:events";
import { Authority, abortable } from "../src/authority.js";
import {
  ConfigurationError,
  ContractError,
  DecionisClient,
  InvalidReceiptError,
  RequestRejectedError,
  TransportError,
  type ClientOptions,
  type DecisionGateway,
  type EnforceRequest,
  type GatewayCallOptions,
} from "../src/index.js";
import { MockGateway, allowAnswer } from "./helpers/mock-gateway.js";
import { sampleIntent } from "./helpers/test-authority.js";

function clientWith(gateway: DecisionGateway, options: ClientOptions = {}): DecionisClient {
  return new DecionisClient({ apiKey: "k", tenantId: "acme", gateway, ...options });
}

/** Lets pending promise callbacks and a macrotask run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

type Waiting = "enforceAndBind" | "getEscalation" | "consumeToken" | "getDossier" | "health";

/**
 * A gateway whose requests in `hang` stay open until the signal the gateway
 * itself was given fires, as a real transport's would: `cancelled` lists the
 * requests that were cancelled that way. Anything else answers like MockGateway.
 */
class HangingGateway extends MockGateway {
  readonly waiting: Waiting[] = [];
  readonly cancelled: Waiting[] = [];
  consumeAnswer: (request: EnforceRequest) => unknown = () => {
    throw new Error("consumeAnswer not set");
  };

  constructor(readonly hang: Waiting) {
    super();
  }

  #open(method: Waiting, options: GatewayCallOptions | undefined, answer: () => unknown): Promise<unknown> {
    if (method !== this.hang) return Promise.resolve().then(answer);
    this.waiting.push(method);
    return new Promise((_resolve, reject) => {
      options?.signal?.addEventListener("abort", () => {
        this.cancelled.push(method);
        reject(new Error(`${method} cancelled`));
      });
    });
  }

  override enforceAndBind(request: EnforceRequest, options?: GatewayCallOptions): Promise<unknown> {
    if (this.hang !== "enforceAndBind") return super.enforceAndBind(request);
    this.requests.push(request);
    return this.#open("enforceAndBind", options, () => undefined);
  }

  getEscalation(_id: string, options?: GatewayCallOptions): Promise<unknown> {
    return this.#open("getEscalation", options, () => undefined);
  }

  consumeToken(_request: unknown, options?: GatewayCallOptions): Promise<unknown> {
    return this.#open("consumeToken", options, () => this.consumeAnswer(this.last));
  }

  getDossier(_id: string, options?: GatewayCallOptions): Promise<unknown> {
    return this.#open("getDossier", options, () => undefined);
  }

  health(options?: GatewayCallOptions): Promise<unknown> {
    return this.#open("health", options, () => undefined);
  }
}

/** A valid consume-token answer for the decision MockGateway's default ALLOW carries. */
function consumed(request: EnforceRequest): Record<string, unknown> {
  const r = request.request;
  return {
    valid: true,
    claims: {
      jti: "jti_1",
      decision_id: `dec_${r.intent_id}`,
      dossier_id: `dos_${r.intent_id}`,
      exp: Math.floor(Date.now() / 1000) + 30,
      binding: { intent_hash: r.intent_hash },
    },
  };
}

describe("the checked gateway", () => {
  it("a gateway without the method a call needs is a ConfigurationError naming it", async () => {
    const client = clientWith(new MockGateway());
    await expect(client.ping()).rejects.toThrow(ConfigurationError);
    await expect(client.ping()).rejects.toThrow("The client's gateway has no health() method, which this call needs");
    await expect(client.getDossier("dos_1")).rejects.toThrow("has no getDossier() method");
    await expect(client.ping()).rejects.toMatchObject({ option: "gateway" });
  });

  it("health and dossier answers are checked against the protocol", async () => {
    const gateway = Object.assign(new MockGateway(), {
      health: jest.fn<Promise<unknown>, []>(() => Promise.resolve({ status: "ok", version: "1.2.3" })),
      getDossier: jest.fn<Promise<unknown>, [string]>(() => Promise.resolve({ nope: true })),
    });
    const client = clientWith(gateway);
    await expect(client.ping()).resolves.toMatchObject({ status: "ok", version: "1.2.3" });
    gateway.health.mockResolvedValueOnce({ status: 1 });
    await expect(client.ping()).rejects.toThrow(ContractError);
    gateway.health.mockResolvedValueOnce({ status: 1 });
    await expect(client.ping()).rejects.toThrow("The health answer does not match the protocol.");
    await expect(client.getDossier("dos_9")).rejects.toThrow(ContractError);
    await expect(client.getDossier("dos_9")).rejects.toThrow("Dossier dos_9 does not match the protocol.");
    const dossierError = await client.getDossier("dos_9").catch((e: unknown) => e);
    expect((dossierError as ContractError).issues.length).toBeGreaterThan(0);
    gateway.health.mockResolvedValueOnce({ status: 1 });
    const healthError = await client.ping().catch((e: unknown) => e);
    expect((healthError as ContractError).issues[0]?.path).toEqual(["status"]);
    expect(gateway.getDossier).toHaveBeenLastCalledWith("dos_9", expect.anything());
    const dossier = {
      decision_id: "dec_9",
      integrity: { algorithm: "Ed25519", key_id: "k1", canonical_sha256: "a".repeat(64), signature: "sig" },
    };
    gateway.getDossier.mockResolvedValueOnce(dossier);
    await expect(client.getDossier("dos_9")).resolves.toEqual(dossier);
  });

  it.each([
    ["an Error", new TypeError("boom"), "TypeError"],
    ["a string", "boom", "string"],
  ])("a gateway that throws %s is a TransportError GATEWAY_FAILED, and nothing runs", async (_what, thrown, name) => {
    const gateway = new MockGateway();
    gateway.respond = () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a gateway that throws a non-Error is the case under test
      throw thrown;
    };
    const run = jest.fn();
    const gated = clientWith(gateway).gate(run, { action: "PAY", actor: { id: "bot", type: "AI_AGENT" } });
    const error = await gated().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({
      code: "GATEWAY_FAILED",
      retryable: false,
      details: { errorName: name },
      message: "The gateway failed with an unexpected error; nothing ran.",
    });
    expect(run).not.toHaveBeenCalled();
  });

  it("an abort rejects with the signal's reason at once, before or while the gateway answers", async () => {
    let answer: ((value: unknown) => void) | undefined;
    const gateway = Object.assign(new MockGateway(), {
      health: () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    });
    const client = clientWith(gateway);
    const reason = new Error("caller gave up");
    await expect(client.ping({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = client.ping({ signal: controller.signal });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    answer?.({ status: "ok", version: "1" });
    // Without an abort the same wait settles with the answer.
    const later = new AbortController();
    const settled = client.ping({ signal: later.signal });
    answer?.({ status: "ok", version: "2" });
    await expect(settled).resolves.toMatchObject({ version: "2" });
  });
});

describe("a caller's abort reaches the gateway's own request", () => {
  const calls: [Waiting, (client: DecionisClient, signal: AbortSignal) => Promise<unknown>][] = [
    ["enforceAndBind", (client, signal) => client.enforce(sampleIntent, { signal })],
    ["getEscalation", (client, signal) => client.waitForDecision("esc_1", { signal })],
    [
      "consumeToken",
      (client, signal) => client.enforce(sampleIntent, { signal, verify: "consume", execute: () => "ran" }),
    ],
    ["getDossier", (client, signal) => client.getDossier("dos_1", { signal })],
    ["health", (client, signal) => client.ping({ signal })],
  ];

  it.each(calls)("%s: the abort rejects the call and cancels the request", async (method, call) => {
    const gateway = new HangingGateway(method);
    const controller = new AbortController();
    const pending = call(clientWith(gateway), controller.signal);
    for (let i = 0; i < 50 && gateway.waiting.length === 0; i++) await settle();
    expect(gateway.waiting).toEqual([method]);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    // Not only the wait: the request itself was cancelled, so no socket is left open.
    expect(gateway.cancelled).toEqual([method]);
  });
});

describe("answers off the protocol name what is wrong", () => {
  async function refusal(answer: (request: EnforceRequest) => unknown): Promise<ContractError> {
    const gateway = new MockGateway();
    gateway.respond = answer;
    const run = jest.fn();
    const error = await clientWith(gateway)
      .enforce(sampleIntent, { execute: run })
      .catch((e: unknown) => e);
    expect(run).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(ContractError);
    return error as ContractError;
  }

  it("a decision that is not an object: the issue is at the body", async () => {
    const error = await refusal(() => "ALLOW");
    expect(error.issues).toHaveLength(1);
    expect(error.message).toBe(
      `The authority's decision does not match the protocol (1 issue(s), first at body: ${error.issues[0]!.message}); nothing ran.`,
    );
    expect(error.details).toEqual({ issues: error.issues });
  });

  it("a decision with several faults: how many, and the path of the first, dotted", async () => {
    const error = await refusal((request) => allowAnswer(request, { reason_codes: ["OK", 7], should_execute: "yes" }));
    expect(error.issues.length).toBeGreaterThanOrEqual(2);
    const first = error.issues[0]!;
    expect(first.path.length).toBeGreaterThanOrEqual(1);
    expect(error.message).toBe(
      `The authority's decision does not match the protocol (${error.issues.length} issue(s), first at ` +
        `${first.path.join(".")}: ${first.message}); nothing ran.`,
    );
    expect(error.issues.map((issue) => issue.path.join("."))).toContain("reason_codes.1");
  });

  it("a fault deep in the body: its path is dotted", async () => {
    const error = await refusal((request) => allowAnswer(request, { reason_codes: ["OK", 7] }));
    expect(error.issues.map((issue) => issue.path)).toEqual([["reason_codes", 1]]);
    expect(error.message).toContain("(1 issue(s), first at reason_codes.1: ");
  });
});

describe('verify: "consume" through the checked gateway', () => {
  function consumer(answer: (request: EnforceRequest) => unknown): { client: DecionisClient; run: jest.Mock } {
    const gateway = new HangingGateway("health");
    gateway.consumeAnswer = answer;
    return { client: clientWith(gateway, { verify: "consume" }), run: jest.fn(() => "ran") };
  }

  it("a valid consume runs the action once", async () => {
    const { client, run } = consumer(consumed);
    await expect(client.enforce(sampleIntent, { execute: run })).resolves.toBe("ran");
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("an answer off the protocol is a ContractError with its issues", async () => {
    const { client, run } = consumer(() => ({ valid: "yes" }));
    const error = (await client.enforce(sampleIntent, { execute: run }).catch((e: unknown) => e)) as ContractError;
    expect(error).toBeInstanceOf(ContractError);
    expect(error.message).toBe("The authority's consume-token answer does not match the protocol; nothing ran.");
    expect(error.issues.map((issue) => issue.path.join("."))).toEqual(expect.arrayContaining(["valid", "claims"]));
    expect(error.details).toEqual({ issues: error.issues });
    expect(run).not.toHaveBeenCalled();
  });

  it("409 TOKEN_ALREADY_CONSUMED is TOKEN_CONSUMED, naming the decision", async () => {
    const { client, run } = consumer(() => {
      throw new RequestRejectedError({ status: 409, serverCode: "TOKEN_ALREADY_CONSUMED" });
    });
    const decision = await client.decide(sampleIntent, { verify: "consume" });
    const error = await client.execute(decision, run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidReceiptError);
    expect(error).toMatchObject({
      code: "TOKEN_CONSUMED",
      message: `The grant of decision ${decision.decisionId} was already consumed; nothing ran.`,
      details: { check: "TOKEN_CONSUMED", decisionId: decision.decisionId },
    });
    expect(run).not.toHaveBeenCalled();
  });

  it.each([
    ["another 409 of the authority", new RequestRejectedError({ status: 409, serverCode: "IDEMPOTENCY_KEY_REUSED" })],
    ["a transport failure", new TransportError("socket hang up", { code: "NETWORK", retryable: true })],
  ])("%s is passed through as it is, not read as TOKEN_CONSUMED", async (_what, thrown) => {
    const { client, run } = consumer(() => {
      throw thrown;
    });
    await expect(client.enforce(sampleIntent, { execute: run })).rejects.toBe(thrown);
    expect(run).not.toHaveBeenCalled();
  });

  it("a foreign error that mimics the 409's code is a gateway failure, not TOKEN_CONSUMED", async () => {
    const { client, run } = consumer(() => {
      throw Object.assign(new Error("used"), { status: 409, serverCode: "TOKEN_ALREADY_CONSUMED" });
    });
    const error = await client.enforce(sampleIntent, { execute: run }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: "GATEWAY_FAILED" });
    expect(run).not.toHaveBeenCalled();
  });
});

describe("outcome reports and close through the checked gateway", () => {
  it("reportOutcome posts the run's outcome for its decision", async () => {
    const reported: [string, unknown][] = [];
    const gateway = Object.assign(new MockGateway(), {
      reportOutcome: (decisionId: string, outcome: unknown) => {
        reported.push([decisionId, outcome]);
        return Promise.resolve({});
      },
    });
    const client = clientWith(gateway, { reportOutcome: true });
    await client.enforce(sampleIntent, { execute: () => 1 });
    await client.close();
    expect(reported).toEqual([
      [`dec_${gateway.last.request.intent_id}`, expect.objectContaining({ status: "SUCCEEDED" })],
    ]);
  });

  const noReport = /reportOutcome is true, but the client's gateway has no reportOutcome\(\) method/;

  it("reportOutcome: true on a client whose gateway cannot report is refused when the client is built", () => {
    const build = () => clientWith(new MockGateway(), { reportOutcome: true });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(noReport);
    expect(build).toThrow(expect.objectContaining({ option: "reportOutcome" }) as Error);
  });

  it("reportOutcome: true on one call, gateway cannot report: refused before any request, nothing runs", async () => {
    const gateway = new MockGateway();
    const client = clientWith(gateway);
    const run = jest.fn(() => 1);
    const error = await client.enforce(sampleIntent, { execute: run, reportOutcome: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(noReport);
    expect(gateway.requests).toHaveLength(0);
    expect(run).not.toHaveBeenCalled();
    await client.close();
  });

  it("a gateway that loses reportOutcome after the client was built: the run's result stands, onError hears it", async () => {
    // The action has run by then: throwing into the caller would invite a second run,
    // and a report that never settles would keep close() waiting for ever.
    const errors: unknown[] = [];
    const gateway: MockGateway & { reportOutcome?: () => Promise<unknown> } = Object.assign(new MockGateway(), {
      reportOutcome: () => Promise.resolve({}),
    });
    const client = clientWith(gateway, {
      reportOutcome: true,
      hooks: { onError: ({ error }) => errors.push(error) },
    });
    delete gateway.reportOutcome;
    const run = jest.fn(() => 1);
    await expect(client.enforce(sampleIntent, { execute: run })).resolves.toBe(1);
    expect(run).toHaveBeenCalledTimes(1);
    await client.close();
    // The report failed, not the action: the error must not say that nothing ran.
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TransportError);
    expect((errors[0] as Error).message).toBe(
      `The gateway failed with an unexpected error reporting the outcome of decision dec_${gateway.last.request.intent_id}; the action had run.`,
    );
  });

  it("close() closes a gateway that can be closed, and is fine with one that cannot", async () => {
    const close = jest.fn();
    await clientWith(Object.assign(new MockGateway(), { close })).close();
    expect(close).toHaveBeenCalledTimes(1);
    await expect(clientWith(new MockGateway()).close()).resolves.toBeUndefined();
  });
});

describe("abortable and the JWKS getter, directly", () => {
  it("a value that is not a promise settles as itself, signal or not", async () => {
    await expect(abortable(7, new AbortController().signal)).resolves.toBe(7);
    await expect(abortable(8, undefined)).resolves.toBe(8);
    const reason = new Error("gone");
    await expect(abortable(9, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it("an already aborted signal rejects at once, and the work's later failure is not an unhandled rejection", async () => {
    const reason = new Error("gone");
    let fail: ((error: Error) => void) | undefined;
    const work = new Promise((_resolve, reject) => {
      fail = reject;
    });
    await expect(abortable(work, AbortSignal.abort(reason))).rejects.toBe(reason);
    fail?.(new Error("late failure"));
    // Jest fails the test on an unhandled rejection; let one surface if there is one.
    await settle();
  });

  it("leaves no listener on the caller's signal, however the work ends", async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    await expect(abortable(Promise.resolve(1), signal)).resolves.toBe(1);
    await expect(abortable(Promise.reject(new Error("no")), signal)).rejects.toThrow("no");
    // A long-lived signal shared by many calls must not collect a listener per call.
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
    const forever = abortable(new Promise(() => undefined), signal);
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    controller.abort(new Error("stop"));
    await expect(forever).rejects.toThrow("stop");
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("the JWKS getter asks for the URL it is given, and only then", async () => {
    expect(new Authority(new MockGateway()).jwksFetcher()).toBeUndefined();
    const getJwks = jest.fn((_options?: GatewayCallOptions & { url?: string }) => Promise.resolve({ keys: [] }));
    const fetchJwks = new Authority(Object.assign(new MockGateway(), { getJwks })).jwksFetcher()!;
    await expect(fetchJwks()).resolves.toEqual({ keys: [] });
    await fetchJwks("https://keys.example/jwks.json");
    expect(getJwks.mock.calls.map(([options]) => options)).toStrictEqual([
      {},
      { url: "https://keys.example/jwks.json" },
    ]);
  });
});
