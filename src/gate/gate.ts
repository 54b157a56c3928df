/**
 * `gate`: one adapter for three shapes — a legacy method decorator, a TC39
 * method decorator, and a wrapper of a plain function. Each call turns the
 * gate's options and the call's arguments into an intent and hands it to
 * the client's enforcer; all decisions are made there.
 *
 * Resolvers (the options given as functions of the call's arguments) run
 * twice per call: to capture the intent, and again right before the method
 * runs, to check the live arguments still make the approved intent. They must
 * be pure and cheap: no I/O, no clock, no counters, the same answer for the same arguments.
 */
import type { DecionisClient } from "../client.js";
import { GATED_CALL, type CallOptions } from "../enforcer.js";
import type { Mode } from "../gateway/wire.js";
import { ownOptions, type VerifyMode } from "../options.js";
import { getDefaultClient } from "../default-client.js";
import { ConfigurationError, ValidationError } from "../errors/input.js";
import type { ActorInput, IntentInput, JsonObjectInput, TargetInput } from "../intent/capture.js";
import {
  classDefaultsFor,
  decorate,
  GATE_METADATA_KEY,
  type GatedClassOptions,
  type MethodSite,
} from "./decorators.js";

/** A value, or a function of the call's arguments (with `this` bound to the instance) that returns it. */
export type Resolvable<V, A extends readonly unknown[], T> = V | ((this: T, ...args: A) => V);

/**
 * Options of {@link gate}. Every field except `client` and `target` may be a
 * function of the gated call's own arguments (a resolver). Resolvers run twice
 * per call, once to ask and once to re-check right before the method runs, so
 * they must be pure and cheap: synchronous, no I/O, the same answer for the
 * same arguments. A resolver that throws, or returns a promise, fails the call
 * with a `ValidationError` naming it; one whose answer changes fails it with
 * `BindingMismatchError`. Nothing runs either way.
 *
 * @typeParam A - the gated function's parameters.
 * @typeParam T - its `this`.
 */
export interface GateOptions<A extends readonly unknown[] = any[], T = any> {
  /** @default the class's `@gated({ client })`, else the default client (`configure`, `setDefaultClient`, or the environment) */
  client?: DecionisClient;
  /** Action type, e.g. `"OPEN_POSITION"`. */
  action: Resolvable<string, A, T>;
  /** Policy id or ids to evaluate. */
  policy?: Resolvable<string | readonly string[], A, T>;
  /** Policy ids to evaluate (merged with `policy`). */
  policyRefs?: Resolvable<readonly string[], A, T>;
  /** Who acts. Required here or in the class's `@gated({ actor })`. */
  actor?: Resolvable<ActorInput, A, T>;
  /** What the action touches. @default the operation name, e.g. `"TradingBot.openPosition"` */
  resource?: Resolvable<string, A, T>;
  /** The action's parameters. @default `{ args: [...arguments] }` when every argument is JSON data */
  parameters?: Resolvable<JsonObjectInput, A, T>;
  /** Facts for the policy. @default {} */
  context?: Resolvable<JsonObjectInput, A, T>;
  /** e.g. `(order) => order.clientOrderId`. @default a new UUIDv7 per call */
  idempotencyKey?: Resolvable<string, A, T>;
  /** @default the class's `@gated({ tenantId })`, else the client's */
  tenantId?: Resolvable<string, A, T>;
  /** `t:<tenant>|c:<uuidv7>`. @default generated */
  correlationId?: Resolvable<string, A, T>;
  /** `downstream_target`. @default `{ system: client.system ?? "app", operation: "<Class>.<method>" | fn.name }` */
  target?: Partial<TargetInput>;
  /** Grant verification. @default the client's */
  verify?: VerifyMode;
  /** `"SHADOW"` runs the call at once and only reports the decision. @default the client's */
  mode?: Mode;
  /** On ESCALATE / REVIEW_REQUIRED: throw `BlockedError`, or wait for a person and then run. @default the client's ("throw") */
  escalation?: "throw" | "wait";
  /** Longest wait with `escalation: "wait"`, ms. @default until the escalation expires */
  waitTimeoutMs?: number;
  /**
   * Post the call's outcome to the authority after it runs.
   * @default the client's
   * @throws {@link ConfigurationError} before any request when `true` and the client's gateway has no `reportOutcome()`.
   */
  reportOutcome?: boolean;
  /**
   * Cancels a call, e.g. `(req) => req.signal`: aborting rejects with the
   * signal's reason at whatever the call waits for, and nothing runs.
   * @default none
   */
  signal?: Resolvable<AbortSignal | undefined, A, T>;
}

/** Every option {@link GateOptions} knows. @internal */
export const GATE_OPTION_NAMES = [
  "client",
  "action",
  "policy",
  "policyRefs",
  "actor",
  "resource",
  "parameters",
  "context",
  "idempotencyKey",
  "tenantId",
  "correlationId",
  "target",
  "verify",
  "mode",
  "escalation",
  "waitTimeoutMs",
  "reportOutcome",
  "signal",
] as const;

/** A gated function: same `this` and arguments, always async. */
export type GatedFunction<F extends (...args: any[]) => unknown> = (
  this: ThisParameterType<F>,
  ...args: Parameters<F>
) => Promise<Awaited<ReturnType<F>>>;

/**
 * What `gate(options)` returns: a legacy or TC39 method decorator, or — called
 * on a function — a wrapper. A gated method must return a promise (declare it
 * `async`): the decision is awaited before it runs.
 */
export interface GateDecorator<A extends readonly unknown[] = any[], T = any> {
  // Resolvers may read only the first arguments: a method's parameters need only start with A.
  /** Wraps a plain function. */
  <F extends (this: T, ...args: [...A, ...any[]]) => unknown>(fn: F): GatedFunction<F>;
  /** TC39 method decorator. */
  <This extends T, F extends (this: This, ...args: [...A, ...any[]]) => PromiseLike<unknown>>(
    method: F,
    context: ClassMethodDecoratorContext<This, F>,
  ): F;
  /** Legacy (`experimentalDecorators`) method decorator. */
  <F extends (this: T, ...args: [...A, ...any[]]) => PromiseLike<unknown>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): TypedPropertyDescriptor<F>;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

function resolve<V>(
  value: Resolvable<V, unknown[], unknown> | undefined,
  option: string,
  self: unknown,
  args: unknown[],
): V | undefined {
  if (typeof value !== "function") return value;
  let result: V;
  try {
    result = (value as (this: unknown, ...a: unknown[]) => V).apply(self, args);
  } catch (error) {
    throw new ValidationError(
      option,
      `the gate's ${option} function threw (${error instanceof Error ? error.message : String(error)}): nothing ran`,
    );
  }
  if (typeof (result as { then?: unknown } | null)?.then === "function") {
    // Settle it quietly: a rejection must not surface as an unhandled one.
    Promise.resolve(result).catch(() => undefined);
    throw new ValidationError(
      option,
      `the gate's ${option} function returned a promise: resolvers must be synchronous (and pure); nothing ran`,
    );
  }
  return result;
}

function policyRefsOf(policy: unknown, policyRefs: unknown): string[] | undefined {
  if (policy === undefined && policyRefs === undefined) return undefined;
  // The common gate names one policy: nothing to merge or de-duplicate.
  if (policyRefs === undefined && typeof policy === "string") return [policy];
  const refs: unknown[] = [];
  if (Array.isArray(policy)) refs.push(...(policy as unknown[]));
  else if (policy !== undefined) refs.push(policy);
  if (Array.isArray(policyRefs)) refs.push(...(policyRefs as unknown[]));
  else if (policyRefs !== undefined) refs.push(policyRefs);
  return [...new Set(refs)] as string[];
}

/** Resolves a gate's options against one call into an intent. */
function intentOf(
  options: GateOptions,
  defaults: GatedClassOptions,
  operation: string,
  self: unknown,
  args: unknown[],
): IntentInput {
  const actor = resolve(options.actor ?? defaults.actor, "actor", self, args);
  if (actor === undefined)
    throw new ValidationError("actor", "is required: give the gate (or the class's @gated) an `actor: { id, type }`");
  const tenantId = resolve(options.tenantId ?? defaults.tenantId, "tenantId", self, args);
  const correlationId = resolve(options.correlationId, "correlationId", self, args);
  const idempotencyKey = resolve(options.idempotencyKey, "idempotencyKey", self, args);
  const policyRefs = policyRefsOf(
    resolve(options.policy ?? defaults.policy, "policy", self, args),
    resolve(options.policyRefs, "policyRefs", self, args),
  );
  const intent = {
    actor,
    action: {
      type: resolve(options.action, "action", self, args) as string,
      resource: resolve(options.resource, "resource", self, args) ?? operation,
    },
    parameters: options.parameters === undefined ? { args } : resolve(options.parameters, "parameters", self, args),
    context: resolve(options.context, "context", self, args),
    target: options.target === undefined ? { operation } : { operation, ...options.target },
  } as IntentInput;
  // Set only when given (not spread from `{}`: this runs twice per call).
  if (policyRefs !== undefined) intent.policyRefs = policyRefs;
  if (tenantId !== undefined) intent.tenantId = tenantId;
  if (correlationId !== undefined) intent.correlationId = correlationId;
  if (idempotencyKey !== undefined) intent.idempotencyKey = idempotencyKey;
  return intent;
}

/**
 * Builds the wrapper that every shape of `gate` returns.
 * @internal
 */
export function wrap(original: AnyFunction, options: GateOptions, site: MethodSite): AnyFunction {
  if (typeof original !== "function")
    throw new ConfigurationError("gate", "gate() wraps a function or decorates a method; got " + typeof original);
  const callOptions: CallOptions = {};
  for (const key of ["verify", "mode", "escalation", "waitTimeoutMs", "reportOutcome"] as const)
    if (options[key] !== undefined) Object.assign(callOptions, { [key]: options[key] });
  const signalOf = options.signal;
  const defaultedParameters = options.parameters === undefined;
  const gated = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const defaults: GatedClassOptions = classDefaultsFor(site, this) ?? NO_DEFAULTS;
    const client = options.client ?? defaults.client ?? getDefaultClient();
    const operation = site.operation(this);
    try {
      const signal = resolve(signalOf, "signal", this, args);
      const call = signal === undefined ? callOptions : { ...callOptions, signal };
      return await client[GATED_CALL](
        () => intentOf(options, defaults, operation, this, args),
        call,
        () => original.apply(this, args),
      );
    } catch (error) {
      // The gate sends its arguments by default; say how to choose instead.
      if (defaultedParameters && error instanceof ValidationError && error.path.startsWith("parameters.args"))
        throw new ValidationError(
          error.path,
          `${error.message.slice(error.path.length + 2)}. A gate sends its arguments as parameters by default: ` +
            "set the gate's `parameters` option to choose the JSON data to send",
        );
      throw error;
    }
  };
  copyIdentity(original, gated, options);
  return gated;
}

/** Keeps name, length and any reflect-metadata of the original (e.g. NestJS route metadata). */
function copyIdentity(original: AnyFunction, gated: AnyFunction, options: GateOptions): void {
  Object.defineProperty(gated, "name", { value: original.name, configurable: true });
  Object.defineProperty(gated, "length", { value: original.length, configurable: true });
  const reflect = Reflect as unknown as {
    getOwnMetadataKeys?: (t: object) => unknown[];
    getOwnMetadata?: (k: unknown, t: object) => unknown;
    defineMetadata?: (k: unknown, v: unknown, t: object) => void;
  };
  if (reflect.getOwnMetadataKeys && reflect.getOwnMetadata && reflect.defineMetadata) {
    for (const key of reflect.getOwnMetadataKeys(original))
      reflect.defineMetadata(key, reflect.getOwnMetadata(key, original), gated);
    reflect.defineMetadata(GATE_METADATA_KEY, options, gated);
  }
}

const NO_DEFAULTS: GatedClassOptions = Object.freeze(Object.create(null) as GatedClassOptions);

/**
 * The intent of one call under a gate's options, for integrations that ask for
 * the decision before they run (agent adapters: the framework's approval check
 * comes first, the tool runs later). Same resolution as a gated call.
 * @internal
 * @throws {@link ConfigurationError} / {@link ValidationError} as a gated call would.
 */
export function gateIntent(options: GateOptions, args: unknown[], operation: string): IntentInput {
  const own = ownOptions(options, GATE_OPTION_NAMES, "gate") as unknown as GateOptions;
  validateGateOptions(own);
  return intentOf(own, NO_DEFAULTS, operation, undefined, args);
}

/** @internal The implementation behind {@link gate} and `client.gate`. */
export function makeGate(options: GateOptions): GateDecorator {
  if (typeof options !== "object" || options === null)
    throw new ConfigurationError("gate", "gate() needs options: gate({ action, actor, ... })");
  // Own properties only, known names only: an inherited `mode` or a misspelt
  // `idempotancyKey` must not pass silently.
  const own = ownOptions(options, GATE_OPTION_NAMES, "gate") as unknown as GateOptions;
  validateGateOptions(own);
  return ((...args: unknown[]) => decorate(own, args, wrap)) as GateDecorator;
}

function validateGateOptions(options: GateOptions): void {
  const action: unknown = options.action;
  if (action === undefined || (typeof action !== "string" && typeof action !== "function") || action === "")
    throw new ConfigurationError("action", 'gate options need an `action`, e.g. action: "OPEN_POSITION"');
}

/**
 * Puts a decision authority in front of a function or method: every call first
 * sends its execution intent, and the code runs only on a verified ALLOW.
 * BLOCK, ESCALATE, REVIEW_REQUIRED and ERROR throw {@link BlockedError}; any
 * failure to get a trustworthy ALLOW throws a typed error. Nothing else runs.
 *
 * @example
 * class TradingBot {
 *   \@gate({ client, action: "OPEN_POSITION", policy: "cfd-risk-policy",
 *           actor: { id: "cfd_bot_7", type: "TRADING_BOT" },
 *           resource: (order: Order) => order.symbol })
 *   async openPosition(order: Order) { return broker.open(order); }
 * }
 * const transfer = gate(transferFunds, { client, action: "TRANSFER_FUNDS", actor: { id: "treasury-agent", type: "AI_AGENT" } });
 *
 * @throws {@link ConfigurationError} at decoration for options without an `action`.
 */
export function gate<A extends unknown[], R, T = unknown>(
  fn: (this: T, ...args: A) => R,
  options: GateOptions<A, T>,
): (this: T, ...args: A) => Promise<Awaited<R>>;
export function gate<A extends unknown[] = any[], T = any>(options: GateOptions<A, T>): GateDecorator<A, T>;
export function gate(fnOrOptions: unknown, maybeOptions?: unknown): unknown {
  if (typeof fnOrOptions === "function")
    return makeGate(maybeOptions as GateOptions)(fnOrOptions as (...a: unknown[]) => unknown);
  return makeGate(fnOrOptions as GateOptions);
}

/** The reflect-metadata key under which a gated method's options are recorded. */
gate.KEY = GATE_METADATA_KEY;

/** Alias of {@link gate} under the Python SDK's name. */
export const decionisGate = gate;
