/** Client options: defaults, the environment, validation with the option named, and RetryPolicy. */
import { ConfigurationError, DecionisClient, RetryPolicy } from "../src/index.js";
import { resolveOptions } from "../src/options.js";

describe("base URL (protocol 1)", () => {
  it.each([
    ["https://api.decionis.com/", "https://api.decionis.com"],
    ["https://eu.decionis.example/base/", "https://eu.decionis.example/base"],
    ["http://127.0.0.1:8787", "http://127.0.0.1:8787"],
    ["http://127.9.9.9", "http://127.9.9.9"],
    ["http://localhost:3000", "http://localhost:3000"],
    ["http://[::1]:8787", "http://[::1]:8787"],
  ])("accepts %s", (input, expected) => {
    expect(resolveOptions({ baseUrl: input }, {}).baseUrl).toBe(expected);
  });

  it.each([
    ["http://api.decionis.com", /https/],
    ["http://10.0.0.1", /loopback/],
    ["ftp://api.decionis.com", /https/],
    ["https://api.decionis.com/?x=1", /query/],
    ["https://api.decionis.com/#f", /fragment/],
    ["https://u:p@api.decionis.com", /credentials/],
    ["not a url", /not a URL/],
  ])("rejects %s", (input, message) => {
    expect(() => resolveOptions({ baseUrl: input }, {})).toThrow(ConfigurationError);
    expect(() => resolveOptions({ baseUrl: input }, {})).toThrow(message);
  });
});

describe("defaults and the environment", () => {
  it("reads DECIONIS_* when options are absent; options win", () => {
    const env = { DECIONIS_API_KEY: "k_env", DECIONIS_BASE_URL: "http://localhost:9", DECIONIS_TENANT_ID: "t_env" };
    const fromEnv = resolveOptions({}, env);
    expect(fromEnv).toMatchObject({ apiKey: "k_env", baseUrl: "http://localhost:9", tenantId: "t_env" });
    expect(resolveOptions({ apiKey: "k", tenantId: "t" }, env)).toMatchObject({ apiKey: "k", tenantId: "t" });
  });

  it("has the documented defaults", () => {
    const o = resolveOptions({}, {});
    expect(o).toMatchObject({ baseUrl: "https://api.decionis.com", timeoutMs: 10_000, intentTtlMs: 60_000 });
    expect(o.retryPolicy).toMatchObject({ maxRetries: 2, baseDelayMs: 250, maxDelayMs: 5_000 });
  });

  it("builds the retry policy from maxRetries and retryBackoffMs unless one is given", () => {
    expect(resolveOptions({ maxRetries: 4, retryBackoffMs: 100 }, {}).retryPolicy).toMatchObject({
      maxRetries: 4,
      baseDelayMs: 100,
    });
    const policy = RetryPolicy.aggressive();
    expect(resolveOptions({ maxRetries: 1, retryPolicy: policy }, {}).retryPolicy).toBe(policy);
  });

  it.each([
    [{ timeoutMs: 0 }, "timeoutMs"],
    [{ timeoutMs: 1.5 }, "timeoutMs"],
    [{ intentTtlMs: 500 }, "intentTtlMs"],
    [{ intentTtlMs: 300_001 }, "intentTtlMs"],
    [{ maxRetries: 11 }, "maxRetries"],
    [{ tenantId: "a|b" }, "tenantId"],
    [{ apiKey: "" }, "apiKey"],
    [{ gateway: {} }, "gateway"],
    [{ retryPolicy: { maxRetries: 1 } }, "retryPolicy"],
  ])("rejects %p naming %s", (options, option) => {
    const error = (() => {
      try {
        resolveOptions(options as never, {});
      } catch (e) {
        return e;
      }
      return undefined;
    })() as ConfigurationError;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.option).toBe(option);
    expect(error.message).toContain(option);
  });

  it("a client without a key and without a gateway fails at construction, naming the fix", () => {
    const saved = process.env["DECIONIS_API_KEY"];
    delete process.env["DECIONIS_API_KEY"];
    try {
      expect(() => new DecionisClient({ tenantId: "t" })).toThrow(/DECIONIS_API_KEY/);
    } finally {
      if (saved !== undefined) process.env["DECIONIS_API_KEY"] = saved;
    }
  });
});

describe("RetryPolicy", () => {
  it("presets", () => {
    expect(RetryPolicy.default()).toMatchObject({ maxRetries: 2, baseDelayMs: 250, maxDelayMs: 5_000 });
    expect(RetryPolicy.none()).toMatchObject({ maxRetries: 0 });
    expect(RetryPolicy.aggressive()).toMatchObject({ maxRetries: 5, baseDelayMs: 500, maxDelayMs: 30_000 });
  });

  it("full jitter: uniform below an exponential ceiling, capped", () => {
    const p = new RetryPolicy({ maxRetries: 10, baseDelayMs: 100, maxDelayMs: 1_000 });
    expect(p.delayFor(1, undefined, () => 0.999)).toBe(99);
    expect(p.delayFor(3, undefined, () => 0.5)).toBe(200);
    expect(p.delayFor(10, undefined, () => 0.999)).toBe(999);
    expect(p.delayFor(2, undefined, () => 0)).toBe(0);
  });

  it("never earlier than Retry-After; not at all beyond the cap", () => {
    const p = new RetryPolicy({ maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1_000 });
    expect(p.delayFor(1, 800, () => 0.1)).toBe(800);
    expect(p.delayFor(1, 1_001, () => 0.1)).toBeUndefined();
  });

  it("validates its numbers", () => {
    expect(() => new RetryPolicy({ maxRetries: -1 })).toThrow(ConfigurationError);
    expect(() => new RetryPolicy({ baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxDelayMs/);
  });
});
