/**
 * The checked face of a gateway (src/authority.ts), driven through the client's
 * public API with an in-process gateway: missing methods, answers off the
 * protocol, a gateway that throws what is not an SDK error, and aborts.
 */
import {
  ConfigurationError,
  ContractError,
  DecionisClient,
  TransportError,
  type ClientOptions,
  type DecisionGateway,
} from "../src/index.js";
import { MockGateway } from "./helpers/mock-gateway.js";
import { sampleIntent } from "./helpers/test-authority.js";

function clientWith(gateway: DecisionGateway, options: ClientOptions = {}): DecionisClient {
  return new DecionisClient({ apiKey: "k", tenantId: "acme", gateway, ...options });
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

describe("outcome reports through the checked gateway", () => {
  it("a gateway without reportOutcome: the run's result stands, onError hears a ConfigurationError naming it", async () => {
    // The action has run by then: throwing into the caller would invite a second run,
    // and a report that never settles would keep close() waiting for ever.
    const errors: unknown[] = [];
    const client = clientWith(new MockGateway(), {
      reportOutcome: true,
      hooks: { onError: ({ error }) => errors.push(error) },
    });
    const run = jest.fn(() => 1);
    await expect(client.enforce(sampleIntent, { execute: run })).resolves.toBe(1);
    expect(run).toHaveBeenCalledTimes(1);
    await client.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConfigurationError);
    expect((errors[0] as Error).message).toContain("The client's gateway has no reportOutcome() method");
  });
});
