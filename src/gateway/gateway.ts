/**
 * The transport boundary. One method per protocol call; each takes wire types
 * and returns the parsed response body, which the client validates with zod
 * whatever the gateway is, so a custom gateway cannot make a bad answer pass.
 */
import type { DecionisError } from "../errors/base.js";
import type { WireConsumeRequest, WireEnforceRequest, WireOutcome } from "./wire.js";

/** One `enforce-and-bind` request: the body is final and re-sent byte for byte. */
export interface EnforceRequest {
  /** The exact JSON body; a gateway must send these bytes unchanged on every attempt. */
  readonly body: string;
  /**
   * The same body as an object, parsed on first access: an accessor, so a copy
   * made with `{ ...request }` or `structuredClone` lacks it (`body` has it all).
   */
  readonly request: WireEnforceRequest;
  readonly idempotencyKey: string;
  readonly correlationId: string;
}

/** Per-call options of a gateway method. */
export interface GatewayCallOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * `idempotency-key` of a consume-token or outcome request (protocol 4, 6):
   * the same key on every attempt lets the authority replay its first answer.
   * Visible ASCII, 1..180 characters.
   * @default a new random UUID per call, re-sent unchanged on each retry
   */
  readonly idempotencyKey?: string | undefined;
  /** Extra headers from `hooks.onCall` (e.g. `traceparent`); never one the gateway sets itself. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Before each retry of this request (the call's observer). */
  readonly onRetry?: (event: { attempt: number; error: DecionisError; delayMs: number }) => void;
}

/**
 * What the client needs from a transport. The HTTP gateway (axios) is the
 * default; pass your own as `new DecionisClient({ gateway })` for another
 * transport or for tests. Methods other than `enforceAndBind` are needed only by
 * the features that use them.
 *
 * A gateway throws the SDK's typed errors (`TransportError` family,
 * `ContractError`); anything else it throws is treated as a failure and nothing runs.
 */
export interface DecisionGateway {
  /** `POST /v1/authority/enforce-and-bind` → the response body, parsed. */
  enforceAndBind(request: EnforceRequest, options?: GatewayCallOptions): Promise<unknown>;
  /** `GET /v1/authority/escalations/{id}`. */
  getEscalation?(escalationId: string, options?: GatewayCallOptions): Promise<unknown>;
  /** `POST /v1/execution/consume-token`. */
  consumeToken?(request: WireConsumeRequest, options?: GatewayCallOptions): Promise<unknown>;
  /** `GET /.well-known/jwks.json`, or the JWKS at `url` (sent without the API key). */
  getJwks?(options?: GatewayCallOptions & { url?: string }): Promise<unknown>;
  /** `GET /v1/protocol/dossiers/{id}`. */
  getDossier?(dossierId: string, options?: GatewayCallOptions): Promise<unknown>;
  /** `POST /v1/authority/decisions/{id}/outcome`. */
  reportOutcome?(decisionId: string, outcome: WireOutcome, options?: GatewayCallOptions): Promise<unknown>;
  /** `GET /v1/health`. */
  health?(options?: GatewayCallOptions): Promise<unknown>;
  /** Releases sockets and timers. */
  close?(): void | Promise<void>;
}

/**
 * @internal An {@link EnforceRequest} whose `request` is parsed lazily. A class,
 * not an object literal with a getter: it is built on every call.
 */
class LazyEnforceRequest implements EnforceRequest {
  #parsed: WireEnforceRequest | undefined;

  constructor(
    readonly body: string,
    readonly idempotencyKey: string,
    readonly correlationId: string,
  ) {}

  get request(): WireEnforceRequest {
    this.#parsed ??= JSON.parse(this.body) as WireEnforceRequest;
    return this.#parsed;
  }

  /** Serialised with `request`, as the interface lists it. */
  toJSON(): Record<string, unknown> {
    return {
      body: this.body,
      request: this.request,
      idempotencyKey: this.idempotencyKey,
      correlationId: this.correlationId,
    };
  }
}

/** @internal Builds an {@link EnforceRequest} whose `request` is parsed lazily. */
export function enforceRequest(body: string, idempotencyKey: string, correlationId: string): EnforceRequest {
  return new LazyEnforceRequest(body, idempotencyKey, correlationId);
}
