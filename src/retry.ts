import { ConfigurationError } from "./errors/input.js";

/** Options of a {@link RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Retries after the first attempt, 0..10. @default 2 */
  maxRetries?: number;
  /** Base of the exponential backoff, ms. @default 250 */
  baseDelayMs?: number;
  /**
   * Cap of one delay, ms. A `Retry-After` longer than this is not waited for:
   * the `RateLimitError` is raised at once, so no call hangs for minutes.
   * @default 5000
   */
  maxDelayMs?: number;
}

/**
 * How failed requests to the authority are retried: exponential backoff with
 * full jitter, capped, and never earlier than a server's `Retry-After`.
 * Only the request is retried, never the gated function.
 *
 * @example
 * new DecionisClient({ retryPolicy: RetryPolicy.aggressive() })
 * new DecionisClient({ retryPolicy: new RetryPolicy({ maxRetries: 4, baseDelayMs: 100, maxDelayMs: 2_000 }) })
 */
export class RetryPolicy {
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;

  constructor(options: RetryPolicyOptions = {}) {
    const { maxRetries = 2, baseDelayMs = 250, maxDelayMs = 5_000 } = options;
    if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 10)
      throw new ConfigurationError(
        "maxRetries",
        `maxRetries must be an integer from 0 to 10, got ${String(maxRetries)}`,
      );
    if (!Number.isFinite(baseDelayMs) || baseDelayMs < 0)
      throw new ConfigurationError(
        "baseDelayMs",
        `baseDelayMs must be a number of ms >= 0, got ${String(baseDelayMs)}`,
      );
    if (!Number.isFinite(maxDelayMs) || maxDelayMs < baseDelayMs)
      throw new ConfigurationError(
        "maxDelayMs",
        `maxDelayMs must be a number of ms >= baseDelayMs (${baseDelayMs}), got ${String(maxDelayMs)}`,
      );
    this.maxRetries = maxRetries;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    Object.freeze(this);
  }

  /** 2 retries, 250 ms base, 5 s cap. */
  static default(): RetryPolicy {
    return new RetryPolicy();
  }

  /** No retries: the first failure is final. */
  static none(): RetryPolicy {
    return new RetryPolicy({ maxRetries: 0 });
  }

  /** 5 retries, 500 ms base, 30 s cap. */
  static aggressive(): RetryPolicy {
    return new RetryPolicy({ maxRetries: 5, baseDelayMs: 500, maxDelayMs: 30_000 });
  }

  /**
   * Delay before retry number `retry` (1-based): uniform in
   * `[0, min(maxDelayMs, baseDelayMs * 2^(retry-1))]`, raised to `retryAfterMs`
   * when the server asked for more. `undefined` when `retryAfterMs` is beyond
   * the cap: do not retry.
   */
  delayFor(retry: number, retryAfterMs?: number, random: () => number = Math.random): number | undefined {
    if (retryAfterMs !== undefined && retryAfterMs > this.maxDelayMs) return undefined;
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (retry - 1));
    const jittered = Math.floor(random() * ceiling);
    return Math.max(jittered, retryAfterMs ?? 0);
  }
}
