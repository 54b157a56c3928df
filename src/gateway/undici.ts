/**
 * The lean transport: the same protocol as the axios gateway on undici's
 * connection pool, through its low-level `dispatch` API (no response stream,
 * no per-attempt AbortController). undici is an optional peer: it is loaded
 * when this gateway is built, never when `decionis` is imported, and its types
 * stay out of the public declarations.
 */
import * as timers from "node:timers";
import { TimeoutError } from "../errors/transport.js";
import type { RetryPolicy } from "../retry.js";
import {
  MAX_RESPONSE_BYTES,
  mapAnswer,
  parseBody,
  responseTooLarge,
  socketError,
  truncatedAnswer,
} from "./error-map.js";
import type { GatewayCallOptions } from "./gateway.js";
import { loadPeer } from "./peer.js";
import { ProtocolGateway, USER_AGENT, usesEnvProxy, type HttpGatewayOptions } from "./protocol-gateway.js";
import { withRetries, type RetryEvent } from "./retry-policy.js";

// Taken once, at load: fake timers a caller's tests install later must neither
// stall a request's deadline nor fire it early.
const { setTimeout, clearTimeout } = timers;

/** The undici versions this transport is written for (the new dispatch handler API). */
export const UNDICI_RANGE = "^7.0.0 || ^8.0.0";

// The slice of undici used here, typed structurally: no undici type reaches the declarations.
interface Controller {
  abort(reason: Error): void;
}
interface Handler {
  onRequestStart(controller: Controller, context: unknown): void;
  onResponseStart(controller: Controller, status: number, headers: Record<string, string | string[] | undefined>): void;
  onResponseData(controller: Controller, chunk: Buffer): void;
  onResponseEnd(controller: Controller, trailers: unknown): void;
  onResponseError(controller: Controller, error: Error): void;
}
interface Dispatcher {
  dispatch(
    options: { origin: string; path: string; method: string; headers: Record<string, string>; body: string | null },
    handler: Handler,
  ): boolean;
  destroy(): Promise<void>;
}
interface AgentOptions {
  keepAliveTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  connect: { timeout: number };
}
interface UndiciModule {
  Agent: new (options: AgentOptions) => Dispatcher;
  EnvHttpProxyAgent: new (options: AgentOptions) => Dispatcher;
}

let undici: UndiciModule | undefined;

/**
 * undici, loaded once per process.
 * @throws {@link ConfigurationError} on `transport`, naming the package to install.
 */
function loadUndici(): UndiciModule {
  undici ??= loadPeer<UndiciModule>("undici", UNDICI_RANGE, [7, 8], 'transport: "undici"', "transport");
  return undici;
}

/** What an attempt that already ended is aborted with, so undici releases what it still holds. */
const ended = (): Error => new Error("attempt ended");
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** One attempt: a dispatch handler that settles a promise once, with a parsed body or a typed error. */
class Attempt implements Handler {
  #controller: Controller | undefined;
  #status = 0;
  #retryAfter: unknown;
  #chunks: Buffer[] = [];
  #size = 0;
  #ended = false;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #onAbort: (() => void) | undefined;

  constructor(
    readonly resolve: (body: unknown) => void,
    readonly reject: (error: unknown) => void,
    readonly timeoutMs: number,
    readonly secrets: readonly string[],
    readonly signal: AbortSignal | undefined,
  ) {
    // The whole attempt, by the wall clock: connect, headers and a body however slowly it drips (protocol 1).
    this.#timer = setTimeout(() => {
      this.#fail(new TimeoutError(timeoutMs));
    }, timeoutMs);
    if (signal !== undefined) {
      this.#onAbort = () => {
        this.#fail(signal.reason);
      };
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#ended) controller.abort(ended());
    // undici may start a request again (a pipelined retry): nothing of a previous start counts.
    this.#status = 0;
    this.#chunks = [];
    this.#size = 0;
  }

  onResponseStart(
    _controller: Controller,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status < 200) return; // 1xx: informational, the answer is still to come
    this.#status = status;
    this.#retryAfter = headers["retry-after"];
    if (Number(headers["content-length"]) > MAX_RESPONSE_BYTES) this.#fail(responseTooLarge());
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    if (this.#ended) return;
    this.#size += chunk.length;
    // Cut at the cap: nothing past it is buffered.
    if (this.#size > MAX_RESPONSE_BYTES) this.#fail(responseTooLarge());
    else this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#ended) return;
    this.#end();
    const chunks = this.#chunks;
    const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, this.#size).toString("utf8");
    const status = this.#status;
    if (status < 200 || status > 299) {
      this.reject(mapAnswer(status, text, this.#retryAfter, this.secrets));
      return;
    }
    try {
      this.resolve(parseBody(text, status));
    } catch (error) {
      this.reject(error);
    }
  }

  onResponseError(_controller: Controller, error: Error): void {
    if (this.#ended) return;
    const raw = (error as { code?: unknown }).code;
    const code = typeof raw === "string" ? raw : "";
    if (TIMEOUT_CODES.has(code)) this.#fail(new TimeoutError(this.timeoutMs));
    // A status line, then no complete body: the answer was lost, whatever it said (protocol 1).
    else if (this.#status !== 0) this.#fail(truncatedAnswer(this.#status, code, error.message, this.secrets));
    else this.#fail(socketError(code, error.message, this.secrets));
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    if (this.#onAbort !== undefined) this.signal?.removeEventListener("abort", this.#onAbort);
  }

  #fail(error: unknown): void {
    if (this.#ended) return;
    this.#end();
    this.#chunks = [];
    this.reject(error);
    // Closes the socket of an answer we no longer read (a drip, an oversize body).
    this.#controller?.abort(ended());
  }
}

/**
 * Speaks the protocol over undici (`npm install undici`, 7.x or 8.x): the
 * transport of `new DecionisClient({ transport: "undici" })`. Same contract as
 * {@link HttpGateway}: retries by the client's {@link RetryPolicy} with the
 * byte-identical body and idempotency key, a per-attempt wall-clock timeout,
 * a 100 KiB response cap, no redirects, keep-alive. An `HTTPS_PROXY` /
 * `HTTP_PROXY` in the environment is used, `NO_PROXY` honoured.
 *
 * @example
 * const client = new DecionisClient({ transport: "undici" });
 *
 * @throws {@link ConfigurationError} naming `undici` when it is not installed (or not 7.x/8.x), and for a bad API key.
 */
export class UndiciGateway extends ProtocolGateway {
  readonly #dispatcher: Dispatcher;
  readonly #origin: string;
  /** The base URL's path, without a trailing slash. */
  readonly #prefix: string;
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: HttpGatewayOptions) {
    super(options);
    const { Agent, EnvHttpProxyAgent } = loadUndici();
    const base = new URL(options.baseUrl);
    this.#origin = base.origin;
    this.#prefix = base.pathname.replace(/\/+$/, "");
    this.#policy = options.retryPolicy;
    this.#timeoutMs = options.timeoutMs;
    this.#onRetry = options.onRetry;
    const agentOptions: AgentOptions = {
      keepAliveTimeout: 4_000,
      // undici's own timers bound each phase; the attempt's timer bounds the whole.
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    };
    // One dispatcher per client: a pool per origin, sockets kept alive. undici follows no redirect here.
    this.#dispatcher = usesEnvProxy() ? new EnvHttpProxyAgent(agentOptions) : new Agent(agentOptions);
  }

  close(): Promise<void> {
    return this.#dispatcher.destroy();
  }

  protected send(
    method: "get" | "post",
    url: string,
    data: string | undefined,
    headers: Record<string, string>,
    options: GatewayCallOptions,
  ): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    let origin = this.#origin;
    let path = this.#prefix + url;
    if (!url.startsWith("/")) {
      // An absolute URL (a JWKS elsewhere), checked when the client was built.
      const target = new URL(url);
      origin = target.origin;
      path = target.pathname + target.search;
    }
    headers.accept = "application/json";
    headers["user-agent"] = USER_AGENT;
    if (data !== undefined) headers["content-type"] = "application/json";
    const request = {
      origin,
      path,
      method: method === "get" ? "GET" : "POST",
      headers,
      // The same string every attempt: the byte-identical body (protocol 2.6).
      body: data ?? null,
    };
    const attempt = (): Promise<unknown> =>
      new Promise((resolve, reject) => {
        this.#dispatcher.dispatch(request, new Attempt(resolve, reject, this.#timeoutMs, this.secrets, signal));
      });
    const own = options.onRetry;
    return withRetries(this.#policy, attempt, signal, (event) => {
      this.#onRetry?.(event);
      own?.(event);
    });
  }
}
