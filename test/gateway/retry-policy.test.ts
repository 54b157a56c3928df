/**
 * The retry rules both transports share (protocol 2.6), unit by unit: which
 * failures are retried, how many times, after what delay, and what the caller
 * sees when they stop. The HTTP suites drive them over real sockets.
 */
import {
  ContractError,
  NetworkError,
  RateLimitError,
  RequestRejectedError,
  RetryExhaustedError,
  RetryPolicy,
  ServerError,
  TimeoutError,
} from "../../src/index.js";
import { finalError, retryDelay, withRetries, type RetryEvent } from "../../src/gateway/retry-policy.js";

const policy = new RetryPolicy({ maxRetries: 2, baseDelayMs: 100, maxDelayMs: 1_000 });
const top = () => 0.999_999; // the jitter's ceiling

describe("retryDelay", () => {
  it.each([
    ["NetworkError", new NetworkError("reset", undefined)],
    ["TimeoutError", new TimeoutError(50)],
    ["503", new ServerError({ status: 503 })],
  ])("%s is retried, with exponential backoff under the cap", (_what, error) => {
    expect(retryDelay(policy, error, 1, top)).toBe(99);
    expect(retryDelay(policy, error, 2, top)).toBe(199);
    expect(retryDelay(policy, error, 3, top)).toBeUndefined(); // maxRetries: 2
  });

  it.each([
    ["501", new ServerError({ status: 501 })],
    ["400", new RequestRejectedError({ status: 400 })],
    ["a contract failure", new ContractError("bad")],
    ["not an SDK error", new Error("boom")],
  ])("%s is not retried", (_what, error) => {
    expect(retryDelay(policy, error, 1, top)).toBeUndefined();
  });

  it("429 waits at least Retry-After, and not at all past the cap", () => {
    expect(retryDelay(policy, new RateLimitError({ status: 429 }, 700), 1, () => 0)).toBe(700);
    expect(retryDelay(policy, new RateLimitError({ status: 429 }, 1_001), 1, top)).toBeUndefined();
  });
});

describe("finalError", () => {
  it("wraps a retryable failure in RetryExhaustedError with the attempts made", () => {
    const last = new ServerError({ status: 503 });
    const error = finalError(policy, last, 3);
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect((error as RetryExhaustedError).attempts).toBe(3);
    expect(error.cause).toBe(last);
  });

  it("raises a 429 that stopped early (Retry-After beyond the cap) as itself", () => {
    const limited = new RateLimitError({ status: 429 }, 60_000);
    expect(finalError(policy, limited, 1)).toBe(limited);
    expect(finalError(policy, limited, 3)).toBeInstanceOf(RetryExhaustedError);
  });

  it("leaves a non-retryable error as it is", () => {
    const rejected = new RequestRejectedError({ status: 400 });
    expect(finalError(policy, rejected, 1)).toBe(rejected);
  });
});

describe("withRetries", () => {
  const quick = new RetryPolicy({ maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 });

  it("retries until success and tells each retry", async () => {
    const events: RetryEvent[] = [];
    let calls = 0;
    const result = await withRetries(
      quick,
      () => (++calls < 3 ? Promise.reject(new NetworkError("reset", undefined)) : Promise.resolve("ok")),
      undefined,
      (e) => events.push(e),
    );
    expect(result).toBe("ok");
    expect(events.map((e) => e.attempt)).toEqual([1, 2]);
    expect(events[0]!.error).toBeInstanceOf(NetworkError);
  });

  it("gives up with RetryExhaustedError after maxRetries + 1 attempts", async () => {
    let calls = 0;
    const error = await withRetries(
      quick,
      () => {
        calls++;
        return Promise.reject(new TimeoutError(10));
      },
      undefined,
      () => undefined,
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect((error as RetryExhaustedError).attempts).toBe(3);
  });

  it("passes a non-SDK failure through at once", async () => {
    const boom = new Error("boom");
    let calls = 0;
    await expect(
      withRetries(
        quick,
        () => {
          calls++;
          return Promise.reject(boom);
        },
        undefined,
        () => undefined,
      ),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it("an abort during the backoff ends it with the signal's reason, and sends no retry", async () => {
    const slow = new RetryPolicy({ maxRetries: 2, baseDelayMs: 10_000, maxDelayMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    let calls = 0;
    const started = performance.now();
    const result = withRetries(
      slow,
      () => {
        calls++;
        return Promise.reject(new ServerError({ status: 503 }));
      },
      controller.signal,
      () =>
        setTimeout(() => {
          controller.abort(reason);
        }, 10),
    );
    await expect(result).rejects.toBe(reason);
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("an abort from the retry observer itself stops before the backoff", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    let calls = 0;
    await expect(
      withRetries(
        quick,
        () => {
          calls++;
          return Promise.reject(new ServerError({ status: 503 }));
        },
        controller.signal,
        () => {
          controller.abort(reason);
        },
      ),
    ).rejects.toBe(reason);
    expect(calls).toBe(1);
  });
});
