/**
 * The client's circuit breaker: a {@link DecisionGateway} wrapper that fails
 * fast once the authority has failed `failureThreshold` times in a row, so a
 * caller learns in microseconds, not after every call's retries and timeouts,
 * that nothing can be allowed now. Fail closed throughout: an open circuit
 * sends nothing and runs nothing.
 *
 * Written here rather than taken from cockatiel: its current major (4) needs
 * Node >= 22 (we support 20), runtime dependencies are fixed, and the state
 * machine below is what this SDK needs of it.
 */
import { DecionisError } from "../errors/base.js";
import { ConfigurationError, ValidationError } from "../errors/input.js";
import { CircuitOpenError, NetworkError, RetryExhaustedError, ServerError, TimeoutError } from "../errors/transport.js";
import type { DecisionGateway } from "./gateway.js";

/** `closed`: calls go out. `open`: they fail at once. `half-open`: one probe call is allowed out. */
export type CircuitState = "closed" | "open" | "half-open";

/** Settings of the client's circuit breaker (`ClientOptions.circuitBreaker`). */
export interface CircuitBreakerOptions {
  /** Consecutive transport failures that open the circuit (1..1000). @default 5 */
  failureThreshold?: number;
  /** How long an open circuit fails fast before one probe call goes out, ms (1..3_600_000). @default 10_000 */
  cooldownMs?: number;
}

/** What `hooks.onCircuitStateChange` is told. */
export interface CircuitStateChange {
  /** The new state. */
  state: CircuitState;
  /** The state before. */
  previous: CircuitState;
  /** Consecutive transport failures counted when the change happened. */
  failures: number;
  /** The failure that opened (or re-opened) the circuit. */
  error?: DecionisError;
}

/**
 * Whether `error` says the authority could not be reached or failed: what the
 * breaker counts. An answer (4xx, BLOCK, a contract failure) proves it is up.
 * @internal
 */
export function isTransportFailure(error: unknown): boolean {
  if (error instanceof RetryExhaustedError) return isTransportFailure(error.cause);
  return error instanceof NetworkError || error instanceof TimeoutError || error instanceof ServerError;
}

type Outcome = "success" | "failure" | "neutral";

function outcomeOf(error: unknown): Outcome {
  if (isTransportFailure(error)) return "failure";
  // A caller's abort, or a request refused before sending, says nothing of the authority.
  if (!(error instanceof DecionisError) || error instanceof ConfigurationError || error instanceof ValidationError)
    return "neutral";
  return error instanceof CircuitOpenError ? "neutral" : "success";
}

// Taken at load, so a fake clock installed later by a caller's tests does not move the cool-down.
const monotonic = performance.now.bind(performance);

/**
 * The state machine, one per client. `now` is injectable for tests.
 * @internal
 */
export class CircuitBreaker {
  #state: CircuitState = "closed";
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(
    private readonly settings: Required<CircuitBreakerOptions>,
    private readonly onChange: (event: CircuitStateChange) => void = () => undefined,
    private readonly now: () => number = monotonic,
  ) {}

  get state(): CircuitState {
    return this.#state;
  }

  /**
   * Runs `call` unless the circuit is open.
   * @throws {@link CircuitOpenError} at once, without calling, while open or while a probe is out.
   */
  run<T>(call: () => Promise<T>): Promise<T> {
    return this.send(call, undefined, []);
  }

  /**
   * `fn.apply(self, args)` unless the circuit is open: {@link CircuitBreaker.run}
   * without a closure per call. A closed circuit's calls settle through two
   * handlers made once.
   */
  send<T>(fn: (...args: never[]) => Promise<T>, self: unknown, args: readonly unknown[]): Promise<T> {
    let probe: boolean;
    let work: Promise<T>;
    try {
      probe = this.#admit();
    } catch (error) {
      // The call's own failure, passed through as it is.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    try {
      work = Promise.resolve(fn.apply(self, args as never[]));
    } catch (error) {
      this.#settle(probe, outcomeOf(error), error);
      // The call's own failure, passed through as it is.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    if (!probe) return work.then(this.#passed as (value: T) => T, this.#failed);
    return work.then(
      (value) => {
        this.#settle(true, "success", undefined);
        return value;
      },
      (error: unknown) => {
        this.#settle(true, outcomeOf(error), error);
        throw error;
      },
    );
  }

  readonly #passed = (value: unknown): unknown => {
    this.#settle(false, "success", undefined);
    return value;
  };

  readonly #failed = (error: unknown): never => {
    this.#settle(false, outcomeOf(error), error);
    throw error;
  };

  /** True when this call is the half-open probe. */
  #admit(): boolean {
    if (this.#state === "closed") return false;
    if (this.#state === "open") {
      const left = this.#openedAt + this.settings.cooldownMs - this.now();
      if (left > 0) throw new CircuitOpenError({ failures: this.#failures, retryAfterMs: left });
      this.#move("half-open", undefined);
    }
    if (this.#probing) throw new CircuitOpenError({ failures: this.#failures, retryAfterMs: 0 });
    this.#probing = true;
    return true;
  }

  #settle(probe: boolean, outcome: Outcome, error: unknown): void {
    if (probe) this.#probing = false;
    if (outcome === "neutral") return;
    if (outcome === "success") {
      // A late answer to a call sent before the circuit opened does not close it: only the probe does.
      if (probe || this.#state === "closed") this.#failures = 0;
      if (probe) this.#move("closed", undefined);
      return;
    }
    if (probe) {
      this.#open(error);
      return;
    }
    if (this.#state !== "closed") return;
    this.#failures++;
    if (this.#failures >= this.settings.failureThreshold) this.#open(error);
  }

  #open(error: unknown): void {
    this.#openedAt = this.now();
    this.#move("open", error as DecionisError);
  }

  #move(state: CircuitState, error: DecionisError | undefined): void {
    const previous = this.#state;
    this.#state = state;
    const event: CircuitStateChange = { state, previous, failures: this.#failures };
    if (error !== undefined) event.error = error;
    this.onChange(event);
  }
}

/**
 * `inner` behind a {@link CircuitBreaker}: every request to the authority goes
 * through it. A JWKS fetched from another URL (`authorityKeys` as a URL) is not
 * the authority and bypasses it. The wrapper has exactly the methods `inner` has.
 * @internal
 */
export function withCircuitBreaker(
  inner: DecisionGateway,
  settings: Required<CircuitBreakerOptions> | false,
  onChange?: (event: CircuitStateChange) => void,
  now?: () => number,
): DecisionGateway {
  if (settings === false) return inner;
  const breaker = new CircuitBreaker(settings, onChange, now);
  // Arguments passed on as received (rest parameters), so a gateway sees the same arity.
  type P<K extends keyof DecisionGateway> = Parameters<NonNullable<DecisionGateway[K]>>;
  const g: DecisionGateway = {
    // The hot path: no closure per call (breaker.send applies the method itself, to inner).
    // eslint-disable-next-line @typescript-eslint/unbound-method
    enforceAndBind: (...a: P<"enforceAndBind">) => breaker.send(inner.enforceAndBind, inner, a),
  };
  if (inner.getEscalation !== undefined)
    g.getEscalation = (...a: P<"getEscalation">) => breaker.run(() => inner.getEscalation!(...a));
  if (inner.consumeToken !== undefined)
    g.consumeToken = (...a: P<"consumeToken">) => breaker.run(() => inner.consumeToken!(...a));
  if (inner.getDossier !== undefined)
    g.getDossier = (...a: P<"getDossier">) => breaker.run(() => inner.getDossier!(...a));
  if (inner.reportOutcome !== undefined)
    g.reportOutcome = (...a: P<"reportOutcome">) => breaker.run(() => inner.reportOutcome!(...a));
  if (inner.health !== undefined) g.health = (...a: P<"health">) => breaker.run(() => inner.health!(...a));
  if (inner.getJwks !== undefined)
    g.getJwks = (...a: P<"getJwks">) =>
      a[0]?.url === undefined ? breaker.run(() => inner.getJwks!(...a)) : inner.getJwks!(...a);
  if (inner.close !== undefined) g.close = () => inner.close!();
  return g;
}
