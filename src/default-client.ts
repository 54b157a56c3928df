/**
 * The default client used by gates that name none: set with `configure` or
 * `setDefaultClient`, else built from the environment at the first gated call
 * (never at import, so importing a gated module needs no credentials).
 */
import { DecionisClient } from "./client.js";
import type { ClientOptions } from "./options.js";

// Kept on globalThis under a registry symbol, so the ESM and CommonJS copies of
// the library (both loaded in one process) share one default client.
const SLOT = Symbol.for("decionis.defaultClient");
const shared = globalThis as { [SLOT]?: DecionisClient | undefined };

/**
 * Builds the default client from options (merged over the environment).
 *
 * @example
 * configure({ tenantId: "trading_client_001", system: "broker" });
 */
export function configure(options: ClientOptions = {}): DecionisClient {
  const client = new DecionisClient(options);
  shared[SLOT] = client;
  return client;
}

/** Makes `client` the default of gates that name none; `undefined` resets to the environment. */
export function setDefaultClient(client: DecionisClient | undefined): void {
  shared[SLOT] = client;
}

/**
 * The default client, building it from `DECIONIS_*` variables on first use.
 * @throws {@link ConfigurationError} when the environment lacks the API key.
 */
export function getDefaultClient(): DecionisClient {
  shared[SLOT] ??= new DecionisClient();
  return shared[SLOT];
}
