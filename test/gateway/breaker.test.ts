/**
 * The client's circuit breaker: unit tests of the wrapper with an injected
 * clock (milliseconds, no sleeps), then the client against a real server.
 */
import {
  AuthenticationError,
  CircuitOpenError,
  ConfigurationError,
  DecionisClient,
  DecionisError,
  NetworkError,
  RateLimitError,
  RequestRejectedError,
  RetryExhaustedError,
  RetryPolicy,
  ServerError,
  TimeoutError,
  TransportError,
  type CircuitStateChange,
  type DecisionGateway,
} from "../../src/index.js";
import { withCircuitBreaker, isTransportFailure } from "../../src/gateway/breaker.js";
import { enforceRequest } from "../../src/gateway/gateway.js";
import { sampleIntent, useTestAuthority } from "../helpers/test-authority.js";

const request = enforceRequest("{}", "k", "c");
const network = () => new NetworkError("ECONNREFUSED", undefined);
const down = () => new RetryExhaustedError(3, new ServerError({ status: 503 }));

/** A gateway whose next answers are scripted: an Error is thrown, anything else returned. */
function scripted() {
  const answers: unknown[] = [];
  let calls = 0;
  const pending: ((value: unknown) => void)[] = [];
  const gateway: DecisionGateway = {
    enforceAndBind: () => {
      calls++;
      const next = answers.shift();
      if (next === "hold") return new Promise((resolve) => pending.push(resolve));
      // DOMException is not an Error of jest's realm: named too.
      return next instanceof Error || next instanceof DOMException
        ? Promise.reject(next)
        : Promise.resolve(next ?? { ok: true });
    },
    health: () => Promise.resolve({ status: "ok", version: "1" }),
  };
  return {
    gateway,
    answers,
    pending,
    get calls() {
      return calls;
    },
  };
}

function setup(threshold = 5, cooldownMs = 10_000) {
  const inner = scripted();
  let now = 1_000;
  const events: CircuitStateChange[] = [];
  const gateway = withCircuitBreaker(
    inner.gateway,
    { failureThreshold: threshold, cooldownMs },
    (e) => events.push(e),
    () => now,
  );
  return {
    inner,
    gateway,
    events,
    call: () => gateway.enforceAndBind(request).catch((e: unknown) => e),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("what counts as a failure", () => {
  it.each([
    ["NetworkError", network(), true],
    ["TimeoutError", new TimeoutError(10), true],
    ["ServerError 503", new ServerError({ status: 503 }), true],
    ["ServerError 501", new ServerError({ status: 501 }), true],
    ["RetryExhaustedError of a 503", down(), true],
    ["RetryExhaustedError of a timeout", new RetryExhaustedError(2, new TimeoutError(5)), true],
    ["RetryExhaustedError of a 429", new RetryExhaustedError(2, new RateLimitError({ status: 429 }, 5)), false],
    ["RequestRejectedError 400", new RequestRejectedError({ status: 400 }), false],
    ["AuthenticationError 401", new AuthenticationError({ status: 401 }), false],
    ["RateLimitError 429", new RateLimitError({ status: 429 }, undefined), false],
    ["a plain Error", new Error("x"), false],
  ])("%s → %p", (_what, error, counted) => {
    expect(isTransportFailure(error)).toBe(counted);
  });
});

describe("the breaker", () => {
  it("opens after failureThreshold consecutive transport failures, then fails fast without a request", async () => {
    const b = setup();
    b.inner.answers.push(network(), new TimeoutError(10), down(), network());
    for (let i = 0; i < 4; i++) await b.call();
    expect(b.events).toEqual([]);
    b.inner.answers.push(new ServerError({ status: 500 }));
    expect(await b.call()).toBeInstanceOf(ServerError);
    expect(b.events).toEqual([{ state: "open", previous: "closed", failures: 5, error: expect.any(ServerError) }]);
    const error = await b.call();
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryAfterMs).toBe(10_000);
    expect(b.inner.calls).toBe(5);
  });

  it("counts only consecutive failures: an answer of any kind resets the count", async () => {
    const b = setup(3);
    b.inner.answers.push(network(), network(), new RequestRejectedError({ status: 400 }), network(), network());
    b.inner.answers.push({ status: "BLOCK" }, network(), network());
    for (let i = 0; i < 8; i++) await b.call();
    expect(b.events).toEqual([]);
    b.inner.answers.push(network());
    await b.call();
    expect(b.events.map((e) => e.state)).toEqual(["open"]);
  });

  it("neither an abort nor a refused header counts", async () => {
    const b = setup(2);
    const abort = new DOMException("aborted", "AbortError");
    b.inner.answers.push(network(), abort, new ConfigurationError("idempotency-key", "bad"), new Error("plain"));
    for (let i = 0; i < 4; i++) await b.call();
    expect(b.events).toEqual([]);
    b.inner.answers.push(network());
    await b.call();
    expect(b.events.map((e) => e.state)).toEqual(["open"]);
  });

  it("after the cool-down one probe goes out; calls during the probe fail fast; its success closes", async () => {
    const b = setup(1, 500);
    b.inner.answers.push(network());
    await b.call();
    b.advance(499);
    expect(((await b.call()) as CircuitOpenError).retryAfterMs).toBe(1);
    b.advance(1);
    b.inner.answers.push("hold");
    const probe = b.gateway.enforceAndBind(request);
    expect(b.events.map((e) => e.state)).toEqual(["open", "half-open"]);
    const during = await b.call();
    expect(during).toBeInstanceOf(CircuitOpenError);
    expect((during as CircuitOpenError).retryAfterMs).toBe(0);
    expect(b.inner.calls).toBe(2);
    b.inner.pending[0]!({ ok: "probe" });
    await expect(probe).resolves.toEqual({ ok: "probe" });
    expect(b.events.map((e) => e.state)).toEqual(["open", "half-open", "closed"]);
    expect(b.events[2]).toMatchObject({ previous: "half-open", failures: 0 });
    await expect(b.gateway.enforceAndBind(request)).resolves.toEqual({ ok: true });
  });

  it("a failed probe re-opens for a whole new cool-down", async () => {
    const b = setup(1, 500);
    b.inner.answers.push(network());
    await b.call();
    b.advance(500);
    b.inner.answers.push(new TimeoutError(10));
    expect(await b.call()).toBeInstanceOf(TimeoutError);
    expect(b.events.map((e) => `${e.previous}>${e.state}`)).toEqual([
      "closed>open",
      "open>half-open",
      "half-open>open",
    ]);
    b.advance(499);
    expect(await b.call()).toBeInstanceOf(CircuitOpenError);
    b.advance(1);
    await expect(b.gateway.enforceAndBind(request)).resolves.toEqual({ ok: true });
    expect(b.events.at(-1)!.state).toBe("closed");
  });

  it("an answered probe (a 4xx) closes it too; an aborted probe lets the next call probe", async () => {
    const b = setup(1, 100);
    b.inner.answers.push(network());
    await b.call();
    b.advance(100);
    b.inner.answers.push(new DOMException("aborted", "AbortError"));
    await b.call();
    expect(b.events.at(-1)!.state).toBe("half-open");
    b.inner.answers.push(new RequestRejectedError({ status: 404 }));
    expect(await b.call()).toBeInstanceOf(RequestRejectedError);
    expect(b.events.at(-1)!.state).toBe("closed");
  });

  it("a late failure of a call sent before it opened neither re-counts nor re-opens; a late success does not close", async () => {
    const b = setup(2, 100);
    b.inner.answers.push("hold", "hold");
    const early = [b.gateway.enforceAndBind(request), b.gateway.enforceAndBind(request)];
    b.inner.answers.push(network(), network());
    await b.call();
    await b.call();
    expect(b.events.map((e) => e.state)).toEqual(["open"]);
    b.inner.pending[0]!({ late: true });
    await early[0];
    expect(b.events.map((e) => e.state)).toEqual(["open"]);
    expect(await b.call()).toBeInstanceOf(CircuitOpenError);
    b.inner.pending[1]!({ late: true });
    await early[1];
  });

  it("wraps only the methods the gateway has; false leaves the gateway as it is", () => {
    const inner = scripted().gateway;
    const wrapped = withCircuitBreaker(inner, { failureThreshold: 1, cooldownMs: 1 });
    expect(Object.keys(wrapped).sort()).toEqual(["enforceAndBind", "health"]);
    expect(withCircuitBreaker(inner, false)).toBe(inner);
  });

  it("a JWKS at another URL bypasses it; the authority's own JWKS does not", async () => {
    let jwksCalls = 0;
    const inner: DecisionGateway = {
      enforceAndBind: () => Promise.reject(network()),
      getJwks: () => {
        jwksCalls++;
        return Promise.resolve({ keys: [] });
      },
    };
    const g = withCircuitBreaker(inner, { failureThreshold: 1, cooldownMs: 1_000 }, undefined, () => 0);
    await g.enforceAndBind(request).catch(() => undefined);
    await expect(g.getJwks!({ url: "https://keys.example/jwks.json" })).resolves.toEqual({ keys: [] });
    await expect(g.getJwks!()).rejects.toBeInstanceOf(CircuitOpenError);
    expect(jwksCalls).toBe(1);
  });

  it("CircuitOpenError is a DecionisError and a TransportError with code CIRCUIT_OPEN", () => {
    const error = new CircuitOpenError({ failures: 5, retryAfterMs: 1234.2 });
    expect(error).toBeInstanceOf(DecionisError);
    expect(error).toBeInstanceOf(TransportError);
    expect(error.code).toBe("CIRCUIT_OPEN");
    expect(error.retryable).toBe(false);
    expect(error.retryAfterMs).toBe(1235);
    expect(error.toJSON()).toMatchObject({ name: "CircuitOpenError", details: { failures: 5, retryAfterMs: 1235 } });
  });
});

describe("the client's breaker against a real server", () => {
  const authority = useTestAuthority({ retryPolicy: RetryPolicy.none() });
  const unavailable = { status: 503, body: { error: { code: "DOWN", message: "down" } } };

  it("is on by default: 5 failed calls, then the 6th fails in microseconds without a request and runs nothing", async () => {
    authority.script(...Array.from({ length: 5 }, () => unavailable));
    const events: CircuitStateChange[] = [];
    const client = authority.client({ hooks: { onCircuitStateChange: (e) => events.push(e) } });
    for (let i = 0; i < 5; i++) await expect(client.enforce(sampleIntent)).rejects.toBeInstanceOf(RetryExhaustedError);
    expect(events.map((e) => e.state)).toEqual(["open"]);
    let ran = false;
    const started = performance.now();
    const error = await client
      .enforce(sampleIntent, {
        execute: () => {
          ran = true;
        },
      })
      .catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(ran).toBe(false);
    expect(authority.requests).toHaveLength(5);
    expect(elapsed).toBeLessThan(20);
  });

  it("closes after the cool-down when the probe gets an answer", async () => {
    authority.script(unavailable);
    const events: string[] = [];
    const client = authority.client({
      circuitBreaker: { failureThreshold: 1, cooldownMs: 30 },
      hooks: { onCircuitStateChange: (e) => events.push(e.state) },
    });
    await expect(client.enforce(sampleIntent)).rejects.toBeInstanceOf(RetryExhaustedError);
    await expect(client.enforce(sampleIntent)).rejects.toBeInstanceOf(CircuitOpenError);
    await new Promise((r) => setTimeout(r, 40));
    await expect(client.enforce(sampleIntent, { execute: () => "ran" })).resolves.toBe("ran");
    expect(events).toEqual(["open", "half-open", "closed"]);
  });

  it("circuitBreaker: false never opens", async () => {
    authority.script(...Array.from({ length: 6 }, () => unavailable));
    const client = authority.client({ circuitBreaker: false });
    for (let i = 0; i < 6; i++) await expect(client.enforce(sampleIntent)).rejects.toBeInstanceOf(RetryExhaustedError);
    expect(authority.requests).toHaveLength(6);
  });

  it.each([
    [{ failureThreshold: 0 }, "circuitBreaker"],
    [{ cooldownMs: -1 }, "circuitBreaker"],
    [{ cooldown: 5 }, "circuitBreaker"],
    [true, "circuitBreaker"],
  ])("refuses circuitBreaker %p with a ConfigurationError naming it", (value, name) => {
    let error: unknown;
    try {
      new DecionisClient({ apiKey: "sk_test", circuitBreaker: value as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(name);
  });
});
