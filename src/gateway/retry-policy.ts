/**
 * The one place that decides retries (protocol 2.6), for every transport: which
 * failures are retried, how many times, after what delay (exponential backoff
 * with full jitter, never before `Retry-After`, never waiting past the cap), and
 * which error the caller sees when they stop. The schedule's numbers are the
 * client's {@link RetryPolicy}; the axios gateway drives axios-retry with these
 * functions, the undici gateway runs {@link withRetries}.
 */
import * as timers from "node:timers";
import type { DecionisError } from "../errors/base.js";
import { RateLimitError, RetryExhaustedError, TransportError } from "../errors/transport.js";
import type { RetryPolicy } from "../retry.js";

// Taken once, at load: fake timers a caller's tests install later must not stall a backoff.
const { setTimeout, clearTimeout } = timers;

/** What a retry observer is told before each retry. */
export interface RetryEvent {
  /** The retry's number, 1-based. */
  attempt: number;
  /** Why the previous attempt failed. */
  error: DecionisError;
  /** How long the gateway waits before it, ms. */
  delayMs: number;
}

/**
 * The delay before retry number `retry` (1-based) after `error`, or `undefined`
 * when it is not retried: not a retryable transport failure, retries used up,
 * or a `Retry-After` beyond the policy's cap.
 * @internal
 */
export function retryDelay(
  policy: RetryPolicy,
  error: unknown,
  retry: number,
  random?: () => number,
): number | undefined {
  if (!(error instanceof TransportError) || !error.retryable || retry > policy.maxRetries) return undefined;
  return policy.delayFor(retry, error instanceof RateLimitError ? error.retryAfterMs : undefined, random);
}

/**
 * The error a caller sees when `error` ended a request after `attempts`
 * attempts: a non-retryable one as it is; a 429 whose `Retry-After` was beyond
 * the cap as the 429 itself (it stopped early); any other retryable one inside
 * {@link RetryExhaustedError}.
 * @internal
 */
export function finalError(policy: RetryPolicy, error: DecionisError, attempts: number): DecionisError {
  if (!(error instanceof TransportError) || !error.retryable) return error;
  if (attempts - 1 < policy.maxRetries && error instanceof RateLimitError) return error;
  return new RetryExhaustedError(attempts, error);
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal === undefined) {
      setTimeout(resolve, ms);
      return;
    }
    // An observer may have aborted it while told of this retry.
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it resolves or {@link retryDelay} says stop. `attempt`
 * rejects with the SDK's typed errors; what else it throws is final. An
 * aborted `signal` ends it at once with the signal's reason, and sends no retry.
 * @internal
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: () => Promise<T>,
  signal: AbortSignal | undefined,
  onRetry: (event: RetryEvent) => void,
): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const delayMs = retryDelay(policy, error, attempts);
      if (delayMs === undefined) throw error instanceof TransportError ? finalError(policy, error, attempts) : error;
      onRetry({ attempt: attempts, error: error as DecionisError, delayMs });
      await pause(delayMs, signal);
    }
  }
}
