/**
 * Decorators under both standards, told apart by their arguments:
 * TC39 calls `(value, context)` with `context.kind`; legacy
 * (`experimentalDecorators`) calls `(target, key, descriptor)`; a single
 * function argument is the wrapper form. Gate metadata is recorded so
 * frameworks can discover gated methods.
 */
import "reflect-metadata";
import type { DecionisClient } from "../client.js";
import { ConfigurationError } from "../errors/input.js";
import { ownOptions } from "../options.js";
import type { ActorInput } from "../intent/capture.js";
import type { GateOptions } from "./gate.js";

/** reflect-metadata key of a gated method's options (`gate.KEY`). */
export const GATE_METADATA_KEY = "decionis:gate";
const METHODS_KEY = "decionis:gated-methods";
const CLASS_KEY = "decionis:gated-class";

// Node 20 has no Symbol.metadata; TC39 decorators get `context.metadata` only
// when it exists. The well-known registry name keeps us compatible with other polyfills.
(Symbol as { metadata?: symbol }).metadata ??= Symbol.for("Symbol.metadata");
const METADATA: symbol = (Symbol as unknown as { metadata: symbol }).metadata;

/** Defaults `@gated` gives every `@gate` method of a class. */
export interface GatedClassOptions {
  client?: DecionisClient;
  actor?: ActorInput;
  policy?: string | readonly string[];
  tenantId?: string;
}

/** A gated method as `getGatedMethods` lists it. */
export interface GatedMethodInfo {
  readonly name: string | symbol;
  readonly static: boolean;
  readonly options: Readonly<GateOptions>;
}

/** @internal Where a gate was applied; answers what only the call can tell. */
export interface MethodSite {
  /** `<Class>.<method>` or the function's name. */
  operation(self: unknown): string;
  /** The class whose `@gated` defaults apply, if any. */
  declaringClass(self: unknown): object | undefined;
}

type Wrap = (original: any, options: GateOptions, site: MethodSite) => (...args: unknown[]) => unknown;

// Shared by the ESM and CommonJS copies of the library, like the default client.
const DEFAULTS_SLOT = Symbol.for("decionis.classDefaults");
const classDefaults = ((globalThis as { [DEFAULTS_SLOT]?: WeakMap<object, GatedClassOptions> })[DEFAULTS_SLOT] ??=
  new WeakMap<object, GatedClassOptions>());

/** @internal */
export function classDefaultsFor(site: MethodSite, self?: unknown): GatedClassOptions | undefined {
  const cls = site.declaringClass(self);
  return cls === undefined ? undefined : classDefaults.get(cls);
}

function functionSite(fn: { name: string }): MethodSite {
  const name = fn.name === "" ? "anonymous" : fn.name;
  return { operation: () => name, declaringClass: () => undefined };
}

/** Legacy decorators know the declaring class at decoration time. */
function legacySite(target: object, key: string | symbol): MethodSite {
  const cls = typeof target === "function" ? target : (target.constructor as object);
  const name = `${(cls as { name: string }).name}.${String(key)}`;
  return { operation: () => name, declaringClass: () => cls };
}

/**
 * TC39 method decorators do not see their class; its metadata object does, so
 * the first call finds the class that owns that object and remembers it.
 */
function tc39Site(context: ClassMethodDecoratorContext): MethodSite {
  const metadata = context.metadata as object | undefined;
  const key = String(context.name);
  let cls: object | undefined;
  const receiverClass = (self: unknown): unknown =>
    context.static ? self : (self as object | null | undefined)?.constructor;
  const find = (self: unknown): object | undefined => {
    if (cls !== undefined) return cls;
    if (metadata === undefined) {
      // No metadata support: fall back to the receiver's class.
      const own = receiverClass(self);
      return typeof own === "function" ? own : undefined;
    }
    let c = receiverClass(self);
    while (typeof c === "function") {
      if (Object.hasOwn(c, METADATA) && (c as unknown as Record<symbol, unknown>)[METADATA] === metadata)
        return (cls = c);
      c = Object.getPrototypeOf(c);
    }
    return undefined;
  };
  return {
    operation: (self) => {
      const c = find(self) ?? receiverClass(self);
      return `${(c as { name?: string } | undefined)?.name ?? "anonymous"}.${key}`;
    },
    declaringClass: (self) => find(self),
  };
}

function isTc39Context(value: unknown): value is DecoratorContext {
  return typeof value === "object" && value !== null && typeof (value as { kind?: unknown }).kind === "string";
}

function record(list: GatedMethodInfo[] | undefined, info: GatedMethodInfo): GatedMethodInfo[] {
  return [...(list ?? []).filter((m) => m.name !== info.name || m.static !== info.static), info];
}

/** @internal Applies a gate in whichever shape it was called. */
export function decorate(options: GateOptions, args: unknown[], wrap: Wrap): unknown {
  const [first, second, third] = args;
  if (args.length === 1 && typeof first === "function") return wrap(first, options, functionSite(first));

  if (args.length === 2 && isTc39Context(second)) {
    if (second.kind !== "method")
      throw new ConfigurationError("gate", `@gate decorates methods, not a ${second.kind}: put it on a method`);
    const context = second as ClassMethodDecoratorContext;
    const info: GatedMethodInfo = { name: context.name, static: context.static, options };
    const metadata = context.metadata as Record<PropertyKey, unknown> | undefined;
    if (metadata !== undefined) {
      const own = Object.hasOwn(metadata, METHODS_KEY) ? (metadata[METHODS_KEY] as GatedMethodInfo[]) : undefined;
      metadata[METHODS_KEY] = record(own ?? (metadata[METHODS_KEY] as GatedMethodInfo[] | undefined), info);
    }
    return wrap(first, options, tc39Site(context));
  }

  if (
    args.length === 3 &&
    (typeof first === "object" || typeof first === "function") &&
    first !== null &&
    (typeof second === "string" || typeof second === "symbol")
  ) {
    const descriptor = third as PropertyDescriptor | undefined;
    if (descriptor === undefined || typeof descriptor.value !== "function")
      throw new ConfigurationError(
        "gate",
        `@gate decorates methods; ${String(second)} is not one (getters, setters and fields cannot be gated)`,
      );
    const target = first;
    const isStatic = typeof target === "function";
    const cls = isStatic ? target : (target.constructor as object);
    const gated = wrap(descriptor.value, options, legacySite(target, second));
    Reflect.defineMetadata(GATE_METADATA_KEY, options, target, second);
    Reflect.defineMetadata(
      METHODS_KEY,
      record(Reflect.getMetadata(METHODS_KEY, cls) as GatedMethodInfo[] | undefined, {
        name: second,
        static: isStatic,
        options,
      }),
      cls,
    );
    descriptor.value = gated;
    return descriptor;
  }
  throw new ConfigurationError(
    "gate",
    "gate(options) was applied to something it cannot gate: use it as @gate(options) on a method or gate(fn, options)",
  );
}

/**
 * Class decorator: defaults for every `@gate` method of the class (client,
 * actor, policy, tenant). A method's own options win.
 *
 * @example
 * \@gated({ client, actor: { id: "billing-svc", type: "SERVICE" }, policy: "billing" })
 * class Billing {
 *   \@gate({ action: "REFUND", resource: (id: string) => id })
 *   async refund(id: string) { ... }
 * }
 */
export function gated(defaults: GatedClassOptions): {
  <C extends abstract new (...args: any[]) => unknown>(value: C, context: ClassDecoratorContext<C>): void;
  <C extends abstract new (...args: any[]) => unknown>(target: C): void;
} {
  if (typeof defaults !== "object" || defaults === null)
    throw new ConfigurationError("gated", "@gated needs an options object, e.g. @gated({ actor: { id, type } })");
  // Own properties only, known names only, like every other options object.
  const frozen = Object.freeze(
    ownOptions(defaults, ["client", "actor", "policy", "tenantId"], "@gated") as GatedClassOptions,
  );
  return (value: object, context?: ClassDecoratorContext) => {
    if (context !== undefined && context.kind !== "class")
      throw new ConfigurationError("gated", "@gated decorates classes; use @gate on methods");
    classDefaults.set(value, frozen);
    if (context?.metadata !== undefined) (context.metadata as Record<string, unknown>)[CLASS_KEY] = frozen;
    else Reflect.defineMetadata(CLASS_KEY, frozen, value);
  };
}

/**
 * The gated methods of a class (own and inherited), for frameworks and tests.
 *
 * @example
 * getGatedMethods(TradingBot) // [{ name: "openPosition", static: false, options: { action: "OPEN_POSITION", ... } }]
 */
export function getGatedMethods(cls: abstract new (...args: any[]) => unknown): GatedMethodInfo[] {
  const found = new Map<string, GatedMethodInfo>();
  const add = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const m of list as GatedMethodInfo[]) {
      const k = `${m.static ? "static " : ""}${String(m.name)}`;
      if (!found.has(k)) found.set(k, m);
    }
  };
  add((cls as unknown as Record<symbol, Record<string, unknown> | undefined>)[METADATA]?.[METHODS_KEY]);
  for (let c: unknown = cls; typeof c === "function"; c = Object.getPrototypeOf(c))
    add(Reflect.getOwnMetadata(METHODS_KEY, c));
  return [...found.values()];
}
