/**
 * The default client used by gates that name none: set with `configure` or
 * `setDefaultClient`, else built from the environment at the first gated call
 * (never at import, so importing a gated module needs no credentials).
 */
import { DecionisClient } from "./client.js";
import type { ClientOptions } from "./options.js";

let current: DecionisClient | undefined;

/**
 * Builds the default client from options (merged over the environment).
 *
 * @example
 * configure({ tenantId: "trading_client_001", system: "broker" });
 */
export function configure(options: ClientOptions = {}): DecionisClient {
  current = new DecionisClient(options);
  return current;
}

/** Makes `client` the default of gates that name none; `undefined` resets to the environment. */
export function setDefaultClient(client: DecionisClient | undefined): void {
  current = client;
}

/**
 * The default client, building it from `DECIONIS_*` variables on first use.
 * @throws {@link ConfigurationError} when the environment lacks the API key.
 */
export function getDefaultClient(): DecionisClient {
  current ??= new DecionisClient();
  return current;
}
