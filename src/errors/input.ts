import { DecionisError } from "./base.js";

/**
 * The client was set up wrongly: a missing API key or tenant, a base URL that is
 * not `https:` (or `http:` to loopback), an option out of range. Thrown at
 * construction, or at the first call for a client built from the environment.
 */
export class ConfigurationError extends DecionisError {
  static override readonly errorName: string = "ConfigurationError";
  /** The option at fault, e.g. `baseUrl`. */
  readonly option: string;
  constructor(option: string, message: string, details: Record<string, unknown> = {}) {
    super(message, { code: "CONFIGURATION_INVALID", details: { option, ...details } });
    this.option = option;
  }
}

/**
 * An intent could not be built from the call: a missing field, a value that is
 * not JSON data, a limit passed. Thrown before any request is sent; `path`
 * names the field (`context.order.placedAt`).
 */
export class ValidationError extends DecionisError {
  static override readonly errorName: string = "ValidationError";
  /** Dotted path of the offending field. */
  readonly path: string;
  constructor(path: string, message: string, details: Record<string, unknown> = {}, code = "VALIDATION_FAILED") {
    super(`${path}: ${message}`, { code, details: { path, ...details } });
    this.path = path;
  }
}

/** A caller-supplied correlation id is not `t:<tenant_id>|c:<uuidv7>`. */
export class InvalidCorrelationIdError extends ValidationError {
  static override readonly errorName: string = "InvalidCorrelationIdError";
  constructor(message: string) {
    super("correlationId", message, {}, "INVALID_CORRELATION_ID");
  }
}
