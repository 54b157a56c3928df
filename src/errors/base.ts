/**
 * The root of every error the SDK throws.
 *
 * Each subclass has a stable machine `code` (or, for {@link InvalidReceiptError},
 * the name of the failed check), a message a person can act on, structured
 * `details`, and the underlying `cause` where there is one. No error ever holds
 * the API key, a request config or an `AxiosError`.
 *
 * `instanceof` works across two copies of the library (ESM and CommonJS loaded
 * side by side): every class checks a shared brand instead of its prototype chain.
 */
export class DecionisError extends Error {
  /**
   * The class's stable name, immune to minifiers; every subclass sets its own.
   * @internal
   */
  static readonly errorName: string = "DecionisError";

  /** Machine-readable reason, stable across versions. */
  readonly code: string;
  /** Structured facts about the failure; JSON data only. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, options: { code: string; details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.details = options.details ?? {};
    // `name` is an own, non-enumerable property so JSON.stringify shows the useful fields only.
    Object.defineProperty(this, "name", {
      value: new.target.errorName,
      enumerable: false,
      configurable: true,
      writable: true,
    });
    // Brand the instance with every class of its chain, so `instanceof` holds across copies.
    for (let c: unknown = new.target; c !== Error; c = Object.getPrototypeOf(c)) {
      if (!Object.hasOwn(c as object, "errorName")) continue;
      Object.defineProperty(this, brandFor((c as typeof DecionisError).errorName), { value: true });
    }
    if (typeof Error.captureStackTrace === "function") Error.captureStackTrace(this, new.target);
  }

  /** A plain, key-free view for logs and `JSON.stringify`. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      details: this.details,
    };
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== "object" || value === null) return false;
    // The brand (instances of any copy), else the ordinary prototype chain, so that
    // `Sub.prototype instanceof DecionisError` and subclasses of users still hold.
    return (
      (value as Record<symbol, unknown>)[brandFor(this.errorName)] === true ||
      Function.prototype[Symbol.hasInstance].call(this, value)
    );
  }
}

const brands = new Map<string, symbol>();
/** One global symbol per error class name, shared by every copy of the library. */
function brandFor(name: string): symbol {
  let brand = brands.get(name);
  if (brand === undefined) {
    brand = Symbol.for(`decionis.error.${name}`);
    brands.set(name, brand);
  }
  return brand;
}

/** True when `value` is any error raised by the SDK (any copy of it). */
export function isDecionisError(value: unknown): value is DecionisError {
  return value instanceof DecionisError;
}
