/**
 * `hooks.onCall`: one observer per decision call, from the intent to the final
 * answer, for tracing (decionis/otel builds its spans on it). Everything the
 * observer does is guarded: it can add headers and watch, never change what runs.
 */
import type { DecionisError } from "./errors/base.js";
import type { GatewayCallOptions } from "./gateway/gateway.js";
import { HEADER_SAFE } from "./intent/capture.js";
import { observe, type CallObserver, type CallStartEvent, type ClientHooks, type CallEndEvent } from "./options.js";

/** Header names a call observer may set: a token (RFC 9110), never one the SDK sets itself. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,100}$/i;
const RESERVED = new Set([
  "authorization",
  "idempotency-key",
  "x-correlation-id",
  "content-type",
  "content-length",
  "accept",
  "host",
  "user-agent",
  "cookie",
]);

/** @internal One observed call: the gateway options it adds and its single end. */
export interface ObservedCall {
  /** Merges the observer's headers and retry callback into a gateway call's options. */
  gatewayOptions(signal: AbortSignal | undefined): GatewayCallOptions;
  /** Tells the observer the call ended; only the first end counts. */
  end(event: Omit<CallEndEvent, "durationMs">): void;
}

/**
 * Starts observing one call; `undefined` (and no cost beyond one check) without `hooks.onCall`.
 * @internal
 */
export function beginCall(hooks: ClientHooks, event: CallStartEvent): ObservedCall | undefined {
  const onCall = hooks.onCall;
  if (onCall === undefined) return undefined;
  let observer: CallObserver | undefined;
  let headers: Record<string, string> | undefined;
  try {
    observer = onCall(event);
    headers = safeHeaders(observer?.headers);
  } catch {
    return undefined;
  }
  if (observer === undefined || observer === null || typeof observer !== "object") return undefined;
  const watcher = observer;
  const started = performance.now();
  let ended = false;
  const onRetry = (retry: { attempt: number; error: DecionisError; delayMs: number }): void => {
    observe(watcher.onRetry?.bind(watcher), retry);
  };
  return {
    gatewayOptions: (signal) => ({ signal, ...(headers === undefined ? {} : { headers }), onRetry }),
    end: (end) => {
      if (ended) return;
      ended = true;
      observe(watcher.onEnd?.bind(watcher), { ...end, durationMs: performance.now() - started });
    },
  };
}

/** Copies what may travel: string values that survive a header, under names the SDK does not own. */
function safeHeaders(given: unknown): Record<string, string> | undefined {
  if (typeof given !== "object" || given === null) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    if (typeof value !== "string" || !HEADER_NAME.test(name) || RESERVED.has(name.toLowerCase())) continue;
    if (value.length > 1000 || !HEADER_SAFE.test(value)) continue;
    out[name.toLowerCase()] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
