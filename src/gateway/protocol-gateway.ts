/**
 * What every built-in HTTP transport shares: the protocol's routes and
 * headers (sections 1–6), the API key kept private, and the refusal of a
 * header value that would not reach the wire byte for byte. A transport
 * subclass only sends one request (with its retries) and returns the body.
 */
import { randomUUID } from "node:crypto";
import type { DecionisError } from "../errors/base.js";
import { ConfigurationError } from "../errors/input.js";
import type { RetryPolicy } from "../retry.js";
import { VERSION } from "../version.js";
import type { DecisionGateway, EnforceRequest, GatewayCallOptions } from "./gateway.js";
import type { WireConsumeRequest, WireOutcome } from "./wire.js";

/** Options of the built-in HTTP gateways ({@link HttpGateway}, {@link UndiciGateway}). */
export interface HttpGatewayOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  /** Told before each retry. */
  onRetry?: (event: { attempt: number; error: DecionisError; delayMs: number }) => void;
}

/** `user-agent` of every request (protocol 1). @internal */
export const USER_AGENT = `decionis-node/${VERSION}`;

/**
 * A header value Node, axios and undici send byte for byte: visible ASCII,
 * inner spaces allowed. axios strips control characters and trims spaces and
 * tabs silently, which would send another key than the one bound.
 */
const VERBATIM_HEADER = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Whether the environment names a proxy (axios then resolves it per request, NO_PROXY included). @internal */
export function usesEnvProxy(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"].some(
    (name) => (env[name] ?? "") !== "",
  );
}

/**
 * The protocol over some HTTP stack. Retries per the error table of protocol
 * 2.6, re-sending the byte-identical body with the same idempotency key.
 * @internal
 */
export abstract class ProtocolGateway implements DecisionGateway {
  /** `Bearer <key>`: private, so it is in no error, log line or serialised object. */
  readonly #authorization: string;
  /** Forms of the key a server could echo back, scrubbed from every error. */
  protected readonly secrets: readonly string[];

  constructor(options: HttpGatewayOptions) {
    if (!/^[\x21-\x7e]+$/.test(options.apiKey))
      throw new ConfigurationError(
        "apiKey",
        "apiKey must be printable ASCII without spaces or control characters: check for a stray newline or quote",
      );
    this.#authorization = `Bearer ${options.apiKey}`;
    this.secrets = [...new Set([options.apiKey, encodeURIComponent(options.apiKey)])];
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

  /** Releases sockets and timers. */
  abstract close(): void | Promise<void>;

  /**
   * Sends one request, retries included, and resolves with its parsed 2xx body.
   * `url` is a path under the base URL, or an absolute URL (a JWKS elsewhere).
   * `headers` are checked and final; the transport adds content-type, accept and user-agent.
   */
  protected abstract send(
    method: "get" | "post",
    url: string,
    data: string | undefined,
    headers: Record<string, string>,
    options: GatewayCallOptions,
  ): Promise<unknown>;

  #send(
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
        // The value is not quoted: it could be a secret. Rejected, never thrown: a call fails one way.
        return Promise.reject(
          new ConfigurationError(
            name,
            `The ${name} header would not reach the authority as given: use 1..180 visible ASCII characters, no control characters or surrounding spaces; nothing was sent`,
          ),
        );
    if (authenticate) headers.authorization = this.#authorization;
    return this.send(method, url, data, headers, options);
  }
}
