/**
 * Shadow mode (the call never waits for, nor depends on, the authority) and
 * outcome receipts (posted in the background, never thrown into the caller),
 * against a real HTTP authority.
 */
import { DecionisClient, gate, RetryPolicy, type ClientHooks, type ClientOptions } from "../src/index.js";
import { allowFor, decisionFor, useTestAuthority, type RecordedRequest } from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_shadow", retryPolicy: RetryPolicy.none() });

type Events = { decisions: Parameters<NonNullable<ClientHooks["onDecision"]>>[0][]; errors: unknown[] };

function observed(options: ClientOptions = {}): { client: DecionisClient; events: Events; settled: Promise<void> } {
  const events: Events = { decisions: [], errors: [] };
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const client = authority.client({
    hooks: {
      onDecision: (e) => {
        events.decisions.push(e);
        settle();
      },
      onError: (e) => {
        events.errors.push(e.error);
        settle();
      },
    },
    ...options,
  });
  return { client, events, settled };
}

const actor = { id: "bot", type: "TRADING_BOT" };

describe("shadow mode", () => {
  it("runs the call without waiting and reports what would have been blocked", async () => {
    const { client, events, settled } = observed({ mode: "SHADOW" });
    authority.script({ delayMs: 200, body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    const ran: number[] = [];
    const open = gate(async (qty: number) => ran.push(qty), { client, action: "OPEN", actor, resource: "EURUSD" });
    const started = Date.now();
    await expect(open(1)).resolves.toBe(1);
    expect(Date.now() - started).toBeLessThan(150);
    await settled;
    expect(events.decisions[0]).toMatchObject({ shadow: true, decision: { status: "BLOCK" } });
    expect(authority.requests[0]!.json.mode).toBe("SHADOW");
  });

  it("runs the call when the authority is down, and reports the failure", async () => {
    const { client, events, settled } = observed({ mode: "SHADOW", baseUrl: "http://127.0.0.1:1" });
    const open = gate(async () => "ran", { client, action: "OPEN", actor, resource: "EURUSD" });
    await expect(open()).resolves.toBe("ran");
    await settled;
    expect(events.errors[0]).toMatchObject({ name: "RetryExhaustedError" });
  });

  it("runs the call even when the intent cannot be built, and reports why", async () => {
    const { client, events, settled } = observed({ mode: "SHADOW" });
    const open = gate(async (_at: Date) => "ran", { client, action: "OPEN", actor, resource: "EURUSD" });
    await expect(open(new Date())).resolves.toBe("ran");
    await settled;
    expect(events.errors[0]).toMatchObject({ name: "ValidationError" });
    expect(authority.requests).toHaveLength(0);
  });

  it("a gate can be in shadow while its client enforces", async () => {
    const { client, settled } = observed();
    authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    const open = gate(async () => "ran", { client, action: "OPEN", actor, resource: "X", mode: "SHADOW" });
    await expect(open()).resolves.toBe("ran");
    await settled;
  });
});

describe("outcome receipts", () => {
  const outcomes = () => authority.requests.filter((r) => r.url.endsWith("/outcome"));

  it("posts SUCCEEDED after an allowed call, without delaying it", async () => {
    const { client } = observed({ reportOutcome: true });
    const open = gate(async () => "done", { client, action: "OPEN", actor, resource: "X" });
    await expect(open()).resolves.toBe("done");
    await client.close();
    const [outcome] = outcomes();
    expect(outcome!.url).toMatch(/^\/v1\/authority\/decisions\/dec_[^/]+\/outcome$/);
    expect(outcome!.json).toMatchObject({ status: "SUCCEEDED" });
    expect(Date.parse(outcome!.json.finished_at)).toBeGreaterThanOrEqual(Date.parse(outcome!.json.started_at));
  });

  it("posts FAILED with the error's name and message, and rethrows the error untouched", async () => {
    const { client } = observed();
    const own = new TypeError("broker said no");
    const open = gate(
      async () => {
        throw own;
      },
      { client, action: "OPEN", actor, resource: "X", reportOutcome: true },
    );
    await expect(open()).rejects.toBe(own);
    await client.close();
    expect(outcomes()[0]!.json).toMatchObject({
      status: "FAILED",
      error: { name: "TypeError", message: "broker said no" },
    });
  });

  it("reports a failing outcome endpoint to onError, never to the caller", async () => {
    const { client, events } = observed({ reportOutcome: true });
    authority.script(
      { body: (r: RecordedRequest) => allowFor(r) },
      { status: 500, body: { error: { code: "DOWN", message: "down" } } },
    );
    const open = gate(async () => "done", { client, action: "OPEN", actor, resource: "X" });
    await expect(open()).resolves.toBe("done");
    await client.close();
    expect(events.errors[0]).toMatchObject({ name: "RetryExhaustedError" });
  });

  it("reports nothing unless asked", async () => {
    const { client } = observed();
    await gate(async () => 1, { client, action: "OPEN", actor, resource: "X" })();
    await client.close();
    expect(outcomes()).toHaveLength(0);
  });
});
