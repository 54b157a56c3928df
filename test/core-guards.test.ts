/**
 * Guards of the core that are not one failed call each: the error classes'
 * prototype relation, one replay store per process (across copies of the
 * library), SHADOW mode's bound on background requests, and the re-check
 * reading resolvers exactly twice.
 */
import * as errors from "../src/errors/index.js";
import { EscalationTimeoutError } from "../src/escalation/wait.js";
import { processReplayStore } from "../src/enforcer.js";
import { DecionisError, RetryPolicy, gate } from "../src/index.js";
import { decisionFor, useTestAuthority, type RecordedRequest } from "./helpers/test-authority.js";

const authority = useTestAuthority({ apiKey: "sk_guards", retryPolicy: RetryPolicy.none() });

describe("error classes", () => {
  const classes = [...Object.values(errors), EscalationTimeoutError].filter(
    (v): v is typeof DecionisError => typeof v === "function" && "errorName" in v,
  );

  it.each(classes.map((c) => [c.errorName, c] as const))("%s.prototype instanceof DecionisError", (_name, cls) => {
    if (cls !== DecionisError) expect(cls.prototype instanceof DecionisError).toBe(true);
    expect(Object.create(cls.prototype) instanceof cls).toBe(true);
  });

  it("a user's subclass is still an instance of the SDK's classes", () => {
    class MyError extends errors.ConfigurationError {}
    const e = new MyError("x", "y");
    expect(e).toBeInstanceOf(errors.ConfigurationError);
    expect(e).toBeInstanceOf(DecionisError);
    expect(new Error("x")).not.toBeInstanceOf(DecionisError);
  });
});

describe("one replay store per process", () => {
  it("is shared by a second copy of the library (as the ESM and CommonJS copies are)", () => {
    const mine = processReplayStore();
    let theirs: unknown;
    jest.isolateModules(() => {
      theirs = jest.requireActual<{ processReplayStore: () => unknown }>("../src/enforcer.ts").processReplayStore();
    });
    expect(theirs).toBe(mine);
  });
});

describe("shadow mode", () => {
  it("never has more than maxShadowInFlight requests out: past it the call runs, unobserved, and onError says so", async () => {
    const errorsSeen: unknown[] = [];
    const client = authority.client({
      mode: "SHADOW",
      maxShadowInFlight: 2,
      hooks: { onError: (e) => errorsSeen.push(e.error) },
    });
    authority.fallback = () => ({ delayMs: 150, body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
    const open = gate(async (n: number) => n, {
      client,
      action: "OPEN",
      actor: { id: "a", type: "SERVICE" },
      parameters: (n) => ({ n }),
    });
    await expect(Promise.all([1, 2, 3, 4, 5].map((n) => open(n)))).resolves.toEqual([1, 2, 3, 4, 5]);
    expect(errorsSeen.map((e) => (e as DecionisError).code)).toEqual([
      "SHADOW_OVERLOADED",
      "SHADOW_OVERLOADED",
      "SHADOW_OVERLOADED",
    ]);
    // Polled, not slept for: on a loaded CI machine the two requests can take longer to arrive.
    const until = async (ok: () => boolean) => {
      for (const deadline = Date.now() + 5_000; !ok() && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await until(() => authority.requests.length >= 2);
    expect(authority.requests.length).toBe(2);
    // Once they have answered (150 ms each, waited for with a wide margin), there is room again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await open(6);
    await until(() => authority.requests.length >= 3);
    expect(authority.requests.length).toBe(3);
    expect(errorsSeen).toHaveLength(3);
  });
});

describe("the re-check", () => {
  it("runs each resolver exactly twice per allowed call, once to ask and once before running", async () => {
    const resource = jest.fn((id: string) => id);
    const pay = gate(async (id: string) => `paid ${id}`, {
      client: authority.client(),
      action: "PAY",
      actor: { id: "a", type: "SERVICE" },
      resource,
    });
    await expect(pay("acct_1")).resolves.toBe("paid acct_1");
    expect(resource).toHaveBeenCalledTimes(2);
  });
});
