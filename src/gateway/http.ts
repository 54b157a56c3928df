/**
 * The HTTP gateway: axios with keep-alive agents and axios-retry. The only file
 * that sends with axios; an `AxiosError` never leaves it (error-map.ts turns it
 * into a typed error), so no request config (and no API key) ever does.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import * as timers from "node:timers";
import axios, { type AxiosError, type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from "axios";
import axiosRetry from "axios-retry";
import type { DecionisError } from "../errors/base.js";
import { ConfigurationError } from "../errors/input.js";
import { NetworkError, RateLimitError, RetryExhaustedError, TransportError } from "../errors/transport.js";
import type { RetryPolicy } from "../retry.js";
import { VERSION } from "../version.js";
import { MAX_RESPONSE_BYTES, mapAxiosError, parseBody } from "./error-map.js";
import type { DecisionGateway, EnforceRequest, GatewayCallOptions } from "./gateway.js";
import type { WireConsumeRequest, WireOutcome } from "./wire.js";

export { MAX_RESPONSE_BYTES, mapAxiosError, parseRetryAfter } from "./error-map.js";

/** Options of the {@link HttpGateway}. */
export interface HttpGatewayOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  /** Told before each retry. */
  onRetry?: (event: { attempt: number; error: DecionisError; delayMs: number }) => void;
}

const RETRY_STATE = "axios-retry";
/** Config field carrying the caller's own signal across attempts (axios-retry re-sends the same config). */
const CALLER_SIGNAL = "decionisCallerSignal";
/** Config field holding the running attempt's wall-clock deadline. */
const ATTEMPT = "decionisAttempt";

// Taken once, at load: fake timers a caller's tests install later must neither
// stall a request's deadline nor fire it early.
const { setTimeout, clearTimeout } = timers;

/** One attempt's deadline: an own signal aborted at `timeoutMs`, or when the caller's aborts. */
interface Attempt {
  readonly controller: AbortController;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly caller: AbortSignal | undefined;
  readonly onCallerAbort: () => void;
  timedOut: boolean;
}
type AttemptConfig = Record<string, unknown> & { signal?: unknown };

/**
 * A header value Node and axios send byte for byte: visible ASCII, inner spaces
 * allowed. axios strips control characters and trims spaces and tabs silently,
 * which would send another key than the one bound.
 */
const VERBATIM_HEADER = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
/** Where a request's own retry callback (a call observer's) rides on its axios config, retries included. */
const CALL_RETRY = "decionisOnRetry";

/** Whether the environment names a proxy axios would use (it then resolves it per request, NO_PROXY included). */
function usesEnvProxy(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"].some(
    (name) => (env[name] ?? "") !== "",
  );
}
const identity = <T>(data: T): T => data;

/**
 * Speaks the protocol over HTTP. Retries per the error table of protocol 2.6,
 * re-sending the byte-identical body with the same idempotency key.
 */
export class HttpGateway implements DecisionGateway {
  /** `Bearer <key>`: private, so it is in no error, log line or serialised object. */
  readonly #authorization: string;
  readonly #http: AxiosInstance;
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent = new https.Agent({ keepAlive: true });
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #delays = new WeakMap<object, number>();

  /** Forms of the key a server could echo back, scrubbed from every error. */
  readonly #secrets: readonly string[];

  constructor(options: HttpGatewayOptions) {
    if (!/^[\x21-\x7e]+$/.test(options.apiKey))
      throw new ConfigurationError(
        "apiKey",
        "apiKey must be printable ASCII without spaces or control characters: check for a stray newline or quote",
      );
    this.#authorization = `Bearer ${options.apiKey}`;
    this.#secrets = [...new Set([options.apiKey, encodeURIComponent(options.apiKey)])];
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
        "user-agent": `decionis-node/${VERSION}`,
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
        const mapped = mapAxiosError(error, this.#timeoutMs, this.#secrets);
        if (!(mapped instanceof TransportError) || !mapped.retryable) return false;
        const retry = (retryState(error)?.retryCount ?? 0) + 1;
        const retryAfterMs = mapped instanceof RateLimitError ? mapped.retryAfterMs : undefined;
        const delay = policy.delayFor(retry, retryAfterMs);
        if (delay === undefined) return false;
        this.#delays.set(error, delay);
        return true;
      },
      retryDelay: (_count, error) => this.#delays.get(error) ?? 0,
      onRetry: (count, error) => {
        const event = {
          attempt: count,
          error: mapAxiosError(error, this.#timeoutMs, this.#secrets),
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

  enforceAndBind(request: EnforceRequest, options: GatewayCallOptions = {}): Promise<unknown> {
    return this.#send("post", "/v1/authority/enforce-and-bind", request.body, options, {
      "idempotency-key": request.idempotencyKey,
      "x-correlation-id": request.correlationId,
    });
  }

  getEscalation(escalationId: string, options: GatewayCallOptions = {}): Promise<unknown> {
    return this.#send("get", `/v1/authority/escalations/${encodeURIComponent(escalationId)}`, undefined, options);
  }

  consumeToken(request: WireConsumeRequest, options: GatewayCallOptions = {}): Promise<unknown> {
    // One key per call, re-sent on each retry: a retry after a lost answer gets the
    // first answer replayed instead of TOKEN_ALREADY_CONSUMED (protocol 4).
    return this.#send("post", "/v1/execution/consume-token", JSON.stringify(request), options, {
      "idempotency-key": options.idempotencyKey ?? randomUUID(),
    });
  }

  getJwks(options: GatewayCallOptions & { url?: string } = {}): Promise<unknown> {
    if (options.url === undefined) return this.#send("get", "/.well-known/jwks.json", undefined, options);
    // Keys are public: a JWKS elsewhere never gets the API key.
    return this.#send("get", options.url, undefined, options, {}, false);
  }

  getDossier(dossierId: string, options: GatewayCallOptions = {}): Promise<unknown> {
    return this.#send("get", `/v1/protocol/dossiers/${encodeURIComponent(dossierId)}`, undefined, options);
  }

  reportOutcome(decisionId: string, outcome: WireOutcome, options: GatewayCallOptions = {}): Promise<unknown> {
    return this.#send(
      "post",
      `/v1/authority/decisions/${encodeURIComponent(decisionId)}/outcome`,
      JSON.stringify(outcome),
      options,
      // Stored once however many attempts it takes (protocol 6).
      { "idempotency-key": options.idempotencyKey ?? randomUUID() },
    );
  }

  health(options: GatewayCallOptions = {}): Promise<unknown> {
    return this.#send("get", "/v1/health", undefined, options);
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async #send(
    method: "get" | "post",
    url: string,
    data: string | undefined,
    options: GatewayCallOptions,
    headers: Record<string, string> = {},
    authenticate = true,
  ): Promise<unknown> {
    // The call's extra headers first: the gateway's own always win.
    if (options.headers !== undefined) headers = { ...options.headers, ...headers };
    for (const [name, value] of Object.entries(headers))
      if (!VERBATIM_HEADER.test(value) || (name === "idempotency-key" && value.length > 180))
        // The value is not quoted: it could be a secret.
        throw new ConfigurationError(
          name,
          `The ${name} header would not reach the authority as given: use 1..180 visible ASCII characters, no control characters or surrounding spaces; nothing was sent`,
        );
    if (authenticate) headers.authorization = this.#authorization;
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
    const caller = c[CALLER_SIGNAL] as AbortSignal | undefined;
    const controller = new AbortController();
    const attempt: Attempt = {
      controller,
      caller,
      timedOut: false,
      onCallerAbort: () => {
        controller.abort();
      },
      timer: setTimeout(() => {
        attempt.timedOut = true;
        controller.abort();
      }, this.#timeoutMs),
    };
    if (caller?.aborted === true) controller.abort();
    else caller?.addEventListener("abort", attempt.onCallerAbort, { once: true });
    c[ATTEMPT] = attempt;
    c.signal = controller.signal;
    return config;
  }

  #finalError(error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    if (!axios.isAxiosError(error))
      return error instanceof TransportError ? error : new NetworkError("request failed", undefined);
    const mapped = mapAxiosError(error, this.#timeoutMs, this.#secrets);
    if (!(mapped instanceof TransportError) || !mapped.retryable) return mapped;
    const retries = retryState(error)?.retryCount ?? 0;
    // Stopped early because Retry-After was beyond the cap: say so as the 429 itself.
    if (retries < this.#policy.maxRetries && mapped instanceof RateLimitError) return mapped;
    return new RetryExhaustedError(retries + 1, mapped);
  }
}

/** Clears an attempt's deadline; true when it fired. */
function endAttempt(config: AttemptConfig): boolean {
  const attempt = config[ATTEMPT] as Attempt | undefined;
  if (attempt === undefined) return false;
  config[ATTEMPT] = undefined;
  clearTimeout(attempt.timer);
  attempt.caller?.removeEventListener("abort", attempt.onCallerAbort);
  // axios-retry re-sends this config: it must carry the caller's signal, not a spent one.
  if (attempt.caller === undefined) delete config.signal;
  else config.signal = attempt.caller;
  return attempt.timedOut;
}

function retryState(error: AxiosError): { retryCount?: number } | undefined {
  return (error.config as Record<string, unknown> | undefined)?.[RETRY_STATE] as { retryCount?: number } | undefined;
}
