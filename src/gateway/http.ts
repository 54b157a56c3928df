/**
 * The HTTP gateway: axios with keep-alive agents and axios-retry. The only file
 * that sends with axios; an `AxiosError` never leaves it (error-map.ts turns it
 * into a typed error), so no request config (and no API key) ever does.
 */
import http from "node:http";
import https from "node:https";
import * as timers from "node:timers";
import axios, { type AxiosError, type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from "axios";
import axiosRetry from "axios-retry";
import { NetworkError, TransportError } from "../errors/transport.js";
import type { RetryPolicy } from "../retry.js";
import { MAX_RESPONSE_BYTES, mapAxiosError, parseBody } from "./error-map.js";
import type { GatewayCallOptions } from "./gateway.js";
import { ProtocolGateway, USER_AGENT, usesEnvProxy, type HttpGatewayOptions } from "./protocol-gateway.js";
import { finalError, retryDelay } from "./retry-policy.js";

export { MAX_RESPONSE_BYTES, mapAxiosError, parseRetryAfter } from "./error-map.js";

export type { HttpGatewayOptions } from "./protocol-gateway.js";

const RETRY_STATE = "axios-retry";
/** Config field carrying the caller's own signal across attempts (axios-retry re-sends the same config). */
const CALLER_SIGNAL = "decionisCallerSignal";
/** Config field holding the running attempt's wall-clock deadline. */
const ATTEMPT = "decionisAttempt";

// Taken once, at load: fake timers a caller's tests install later must neither
// stall a request's deadline nor fire it early.
const { setTimeout, clearTimeout } = timers;

/**
 * One attempt's deadline, as the abort signal axios listens to: aborted at
 * `timeoutMs`, or when the caller's signal aborts. A plain object (axios takes
 * any `GenericAbortSignal`), not an AbortController: an AbortController and its
 * listener cost 10 µs alone, and 38-64 µs of client CPU per call at 64 in flight
 * in interleaved A/B runs of the gateway (median of per-round differences).
 */
class Attempt {
  aborted = false;
  timedOut = false;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly onCallerAbort: (() => void) | undefined;
  #listeners: ((...args: never[]) => unknown)[] = [];

  constructor(
    timeoutMs: number,
    readonly caller: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.#abort();
    }, timeoutMs);
    if (caller === undefined) return;
    if (caller.aborted) this.aborted = true;
    else {
      this.onCallerAbort = () => {
        this.#abort();
      };
      caller.addEventListener("abort", this.onCallerAbort, { once: true });
    }
  }

  addEventListener(_type: "abort", listener: (...args: never[]) => unknown): void {
    this.#listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: (...args: never[]) => unknown): void {
    this.#listeners = this.#listeners.filter((l) => l !== listener);
  }

  #abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    // Called without an event: axios then rejects with its own CanceledError, as for an AbortSignal.
    for (const listener of listeners) listener();
  }
}
type AttemptConfig = Record<string, unknown> & { signal?: unknown };

/** Where a request's own retry callback (a call observer's) rides on its axios config, retries included. */
const CALL_RETRY = "decionisOnRetry";

const identity = <T>(data: T): T => data;

/** The TCP keep-alive delay axios's HTTP adapter sets on each request's socket. */
const AXIOS_KEEP_ALIVE_MS = 60_000;

/**
 * Speaks the protocol over HTTP. Retries per the error table of protocol 2.6,
 * re-sending the byte-identical body with the same idempotency key.
 */
export class HttpGateway extends ProtocolGateway {
  readonly #http: AxiosInstance;
  // axios sets TCP keep-alive to (true, 60 s) on every request's socket; the agent sets
  // keepAliveMsecs when the socket returns to the pool. The same 60 s here keeps the two
  // from flipping it on each request: 8 setsockopt calls, ~25 us of CPU per call at 1 in
  // flight (BENCHMARKS.md, session 8).
  readonly #httpAgent = new http.Agent({ keepAlive: true, keepAliveMsecs: AXIOS_KEEP_ALIVE_MS });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: AXIOS_KEEP_ALIVE_MS });
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #delays = new WeakMap<object, number>();

  constructor(options: HttpGatewayOptions) {
    super(options);
    this.#policy = options.retryPolicy;
    this.#timeoutMs = options.timeoutMs;
    this.#http = axios.create({
      baseURL: options.baseUrl,
      timeout: options.timeoutMs,
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
      maxContentLength: MAX_RESPONSE_BYTES,
      maxBodyLength: 1024 * 1024,
      // A redirect could carry the key elsewhere; the protocol has none.
      maxRedirects: 0,
      responseType: "text",
      transformRequest: [identity],
      transformResponse: [identity],
      // No env proxy configured: tell axios so, instead of it re-reading the environment per request.
      ...(usesEnvProxy() ? {} : { proxy: false as const }),
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "user-agent": USER_AGENT,
      },
    });
    const policy = this.#policy;
    // Registered before axios-retry's, so each attempt's deadline is cleared
    // (and a timeout named) before axios-retry decides on a retry.
    this.#http.interceptors.request.use((config) => this.#startAttempt(config), undefined, { synchronous: true });
    this.#http.interceptors.response.use(
      (response) => {
        endAttempt(response.config as unknown as AttemptConfig);
        return response;
      },
      (error: unknown) => {
        const config = (error as AxiosError | undefined)?.config as AttemptConfig | undefined;
        if (config !== undefined && endAttempt(config)) (error as AxiosError).code = "ETIMEDOUT";
        throw error;
      },
    );
    axiosRetry(this.#http, {
      retries: policy.maxRetries,
      shouldResetTimeout: true,
      retryCondition: (error) => {
        if ((error.config?.signal as AbortSignal | undefined)?.aborted === true) return false;
        const mapped = mapAxiosError(error, this.#timeoutMs, this.secrets);
        const delay = retryDelay(policy, mapped, (retryState(error)?.retryCount ?? 0) + 1);
        if (delay === undefined) return false;
        this.#delays.set(error, delay);
        return true;
      },
      retryDelay: (_count, error) => this.#delays.get(error) ?? 0,
      onRetry: (count, error) => {
        const event = {
          attempt: count,
          error: mapAxiosError(error, this.#timeoutMs, this.secrets),
          delayMs: this.#delays.get(error) ?? 0,
        };
        options.onRetry?.(event);
        const own = (error.config as Record<string, unknown> | undefined)?.[CALL_RETRY];
        if (typeof own === "function") (own as (e: typeof event) => void)(event);
      },
    });
    // axios-retry's request interceptor is synchronous but registered as async, which
    // sends every request through axios's promise chain (measured: 18-36 us per call
    // at 64 in flight). Marking it synchronous keeps axios on its direct path.
    const interceptors = this.#http.interceptors.request as unknown as {
      forEach?: (fn: (handler: { synchronous?: boolean }) => void) => void;
    };
    interceptors.forEach?.((handler) => {
      handler.synchronous = true;
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  protected async send(
    method: "get" | "post",
    url: string,
    data: string | undefined,
    headers: Record<string, string>,
    options: GatewayCallOptions,
  ): Promise<unknown> {
    const config: AxiosRequestConfig<string> & AttemptConfig = { method, url, headers };
    if (options.onRetry !== undefined) config[CALL_RETRY] = options.onRetry;
    if (data !== undefined) config.data = data;
    if (options.signal !== undefined) {
      config.signal = options.signal;
      config[CALLER_SIGNAL] = options.signal;
    }
    let response: AxiosResponse<string>;
    try {
      response = await this.#http.request<string>(config);
    } catch (error) {
      throw this.#finalError(error, options.signal);
    }
    return parseBody(response.data, response.status);
  }

  /** Arms the attempt's wall-clock deadline: connect, headers and body (protocol 1). */
  #startAttempt<C extends object>(config: C): C {
    const c = config as unknown as AttemptConfig;
    const attempt = new Attempt(this.#timeoutMs, c[CALLER_SIGNAL] as AbortSignal | undefined);
    c[ATTEMPT] = attempt;
    c.signal = attempt;
    return config;
  }

  #finalError(error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    if (!axios.isAxiosError(error))
      return error instanceof TransportError ? error : new NetworkError("request failed", undefined);
    const mapped = mapAxiosError(error, this.#timeoutMs, this.secrets);
    return finalError(this.#policy, mapped, (retryState(error)?.retryCount ?? 0) + 1);
  }
}

/** Clears an attempt's deadline; true when it fired. */
function endAttempt(config: AttemptConfig): boolean {
  const attempt = config[ATTEMPT] as Attempt | undefined;
  if (attempt === undefined) return false;
  config[ATTEMPT] = undefined;
  clearTimeout(attempt.timer);
  if (attempt.onCallerAbort !== undefined) attempt.caller?.removeEventListener("abort", attempt.onCallerAbort);
  // axios-retry re-sends this config: it must carry the caller's signal, not a spent one.
  if (attempt.caller === undefined) delete config.signal;
  else config.signal = attempt.caller;
  return attempt.timedOut;
}

function retryState(error: AxiosError): { retryCount?: number } | undefined {
  return (error.config as Record<string, unknown> | undefined)?.[RETRY_STATE] as { retryCount?: number } | undefined;
}
