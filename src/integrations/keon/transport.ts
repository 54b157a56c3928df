/**
 * Keon over HTTP: node:http(s) with keep-alive agents, a per-attempt deadline,
 * a 100 KiB answer cap, no redirects, and retries decided by the core's
 * {@link RetryPolicy}. The credential lives here only, and no error built here
 * holds it: a server that echoes it back has it replaced by `[redacted]`.
 */
import http from "node:http";
import https from "node:https";
import { setTimeout as delay } from "node:timers";
import {
  ContractError,
  NetworkError,
  RateLimitError,
  RetryExhaustedError,
  TimeoutError,
  TransportError,
  VERSION,
  type DecionisError,
  type RetryPolicy,
} from "../../index.js";
import { keonError } from "./errors.js";
import { errorEnvelopeSchema, successEnvelopeSchema, type WireKeonError } from "./wire.js";

/** Largest answer accepted, as for the Decionis protocol. */
export const MAX_RESPONSE_BYTES = 100 * 1024;

/**
 * Which failures a request may be retried after. `"transient"`: network
 * failures, timeouts, 429 and 500/502/503/504 (a decision is safe to ask
 * twice). `"unsent"`: only those that prove the server did not act, a 429 or a
 * refused connection (an execution must not run twice).
 */
export type RetryScope = "transient" | "unsent";

/** @internal */
export interface KeonTransportOptions {
  baseUrl: string;
  /** Header name and value of the credential. */
  credential: { header: string; value: string; secret: string };
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  onRetry?: ((event: { attempt: number; error: DecionisError; delayMs: number }) => void) | undefined;
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
  text: string;
  truncated: boolean;
}

/** @internal Sends one Keon call, with retries, and returns the envelope's `data`. */
export class KeonTransport {
  readonly #options: KeonTransportOptions;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #base: URL;

  constructor(options: KeonTransportOptions) {
    this.#options = options;
    this.#base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    const secure = this.#base.protocol === "https:";
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#request = secure ? https.request : http.request;
  }

  /**
   * POSTs `body` to `path` under `X-Correlation-Id`, the same bytes on every attempt.
   * @throws the SDK's typed errors; the signal's reason when aborted.
   */
  async post(
    path: "decide" | "execute",
    body: string,
    context: { correlationId: string; receiptId?: string },
    scope: RetryScope,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const policy = this.#options.retryPolicy;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      let error: DecionisError;
      try {
        const answer = await this.#attempt(path, body, context.correlationId, signal);
        return this.#read(answer, context);
      } catch (caught) {
        if (signal?.aborted) throw signal.reason;
        if (!(caught instanceof TransportError) || !retryable(caught, scope)) throw caught;
        error = caught;
      }
      const retryAfterMs = error instanceof RateLimitError ? error.retryAfterMs : undefined;
      const wait = attempt <= policy.maxRetries ? policy.delayFor(attempt, retryAfterMs) : undefined;
      if (wait === undefined) {
        // Stopped early because Retry-After is beyond the cap: say so as the 429 itself.
        if (attempt <= policy.maxRetries) throw error;
        throw new RetryExhaustedError(attempt, error);
      }
      this.#options.onRetry?.({ attempt, error, delayMs: wait });
      await sleep(wait, signal);
    }
  }

  /** Releases the keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  #read(answer: Answer, context: { correlationId: string; receiptId?: string }): unknown {
    const { status } = answer;
    let parsed: unknown;
    let json = false;
    if (!answer.truncated && answer.text !== "") {
      try {
        parsed = JSON.parse(answer.text);
        json = true;
      } catch {
        // Said below, by status.
      }
    }
    if (status >= 200 && status < 300) {
      if (answer.truncated)
        throw new ContractError(`Keon's answer is over ${MAX_RESPONSE_BYTES / 1024} KiB; nothing ran.`, {
          reason: "RESPONSE_TOO_LARGE",
        });
      if (!json)
        throw new ContractError(`Keon answered ${status} with a body that is not JSON; nothing ran.`, {
          reason: "NOT_JSON",
        });
      const ok = successEnvelopeSchema.safeParse(parsed);
      if (ok.success) return ok.data.data;
      const failed = errorEnvelopeSchema.safeParse(parsed);
      if (failed.success) throw this.#error(status === 200 ? 400 : status, failed.data.error, undefined, context);
      throw new ContractError(`Keon answered ${status} without a { success, data } envelope; nothing ran.`, {
        issues: ok.error.issues,
        reason: "ENVELOPE_INVALID",
      });
    }
    const envelope = json ? errorEnvelopeSchema.safeParse(parsed) : undefined;
    throw this.#error(status, envelope?.success === true ? envelope.data.error : undefined, answer.retryAfter, context);
  }

  #error(
    status: number,
    error: WireKeonError | undefined,
    retryAfter: string | undefined,
    context: { correlationId: string; receiptId?: string },
  ): DecionisError {
    const clean = error === undefined ? undefined : (redact(error, this.#options.credential.secret) as WireKeonError);
    return keonError(status, clean, parseRetryAfter(retryAfter), context);
  }

  #attempt(path: string, body: string, correlationId: string, signal: AbortSignal | undefined): Promise<Answer> {
    const { credential, timeoutMs } = this.#options;
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const finish = (error: unknown, answer?: Answer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (answer === undefined)
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort rejects with the signal's own reason
          reject(error);
        else resolve(answer);
      };
      const request = this.#request(new URL(path, this.#base), {
        method: "POST",
        agent: this.#agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "user-agent": `decionis-node/${VERSION} (keon)`,
          "content-length": Buffer.byteLength(body),
          "x-correlation-id": correlationId,
          [credential.header]: credential.value,
        },
      });
      const timer = delay(() => {
        finish(new TimeoutError(timeoutMs));
        request.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        finish(signal!.reason);
        request.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      request.on("error", (error: NodeJS.ErrnoException) => {
        finish(networkError(error));
      });
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            truncated = true;
            response.destroy();
            finishWith();
            return;
          }
          chunks.push(chunk);
        });
        const finishWith = (): void => {
          const retryAfter = response.headers["retry-after"];
          finish(undefined, {
            status: response.statusCode ?? 0,
            retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
            text: truncated ? "" : Buffer.concat(chunks).toString("utf8"),
            truncated,
          });
        };
        response.on("end", finishWith);
        response.on("error", (error: NodeJS.ErrnoException) => {
          finish(networkError(error));
        });
      });
      request.end(body);
    });
  }
}

/** The server never saw a request refused at connect or answered 429. */
const UNSENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"]);

function retryable(error: TransportError, scope: RetryScope): boolean {
  if (!error.retryable) return false;
  if (scope === "transient") return true;
  if (error instanceof RateLimitError) return true;
  return error instanceof NetworkError && UNSENT.has(String(error.details.errno));
}

function networkError(error: NodeJS.ErrnoException): NetworkError {
  const code = error.code ?? "";
  // Only the socket-level facts: code and message carry no headers.
  const cause = Object.assign(new Error(error.message), { code });
  return new NetworkError(code === "" ? error.message : `${code} (${error.message})`, cause, { errno: code });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = delay(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `Retry-After` as delta-seconds or an HTTP date, in ms. */
function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A copy of `value` with every occurrence of `secret` in its strings replaced:
 * what a hostile or careless server echoes must not reach an error.
 * @internal
 */
export function redact(value: unknown, secret: string): unknown {
  if (typeof value === "string") return value.split(secret).join("[redacted]");
  if (Array.isArray(value)) return value.map((item) => redact(item, secret));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k, secret), redact(v, secret)]));
  return value;
}
