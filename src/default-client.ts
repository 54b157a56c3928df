/**
 * The default client used by gates that name none: set with `configure` or
 * `setDefaultClient`, else built from the environment at the first gated call
 * (never at import, so importing a gated module needs no credentials).
 *
 * This module does not import the client: `client.ts` registers how to build
 * one, which keeps the gate, the client and this module free of an import cycle.
 */
import type { DecionisClient } from "./client.js";
import { ConfigurationError } from "./errors/input.js";
import type { ClientOptions } from "./options.js";

// Kept on globalThis under a registry symbol, so the ESM and CommonJS copies of
// the library (both loaded in one process) share one default client.
const SLOT = Symbol.for("decionis.defaultClient");
const shared = globalThis as { [SLOT]?: DecionisClient | undefined };

let factory: ((options: ClientOptions) => DecionisClient) | undefined;

/** @internal Called once by `client.ts` when it loads. */
export function registerClientFactory(make: (options: ClientOptions) => DecionisClient): void {
  factory = make;
}

function build(options: ClientOptions): DecionisClient {
  if (factory === undefined)
    throw new ConfigurationError(
      "client",
      "decionis was loaded without its client: import gate and the client from the package root, decionis",
    );
  return factory(options);
}

/**
 * Builds the default client from options (merged over the environment).
 *
 * @example
 * configure({ tenantId: "trading_client_001", system: "broker" });
 *
 * @throws {@link ConfigurationError} for bad options, as `new DecionisClient` does.
 */
export function configure(options: ClientOptions = {}): DecionisClient {
  const client = build(options);
  shared[SLOT] = client;
  return client;
}

/**
 * Makes `client` the default of gates that name none; `undefined` resets to the environment.
 *
 * @example
 * setDefaultClient(new DecionisClient({ apiKey, tenantId: "acme" }));
 */
export function setDefaultClient(client: DecionisClient | undefined): void {
  shared[SLOT] = client;
}

/**
 * The default client, building it from `DECIONIS_*` variables on first use.
 *
 * @example
 * const client = getDefaultClient();
 *
 * @throws {@link ConfigurationError} when the environment lacks the API key.
 */
export function getDefaultClient(): DecionisClient {
  shared[SLOT] ??= build({});
  return shared[SLOT];
}
