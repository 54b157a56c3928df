/**
 * The examples' shared start: a local authority on a free port with
 * examples/policies.json, and a client pointed at it. In your project:
 * `import { startLocalAuthority } from "decionis/local"`.
 */
import { join } from "node:path";
import { DecionisClient } from "../src/index.js";
import { startLocalAuthority, type LocalAuthority } from "../src/local/index.js";

export const POLICIES_FILE = join(__dirname, "policies.json");

export interface ExampleEnv {
  authority: LocalAuthority;
  client: DecionisClient;
}

/** Starts the authority and a client, runs `fn`, and stops both whatever happens. */
export async function withLocalAuthority<T>(fn: (env: ExampleEnv) => Promise<T>): Promise<T> {
  const authority = await startLocalAuthority({ policies: POLICIES_FILE });
  const client = new DecionisClient({
    baseUrl: authority.url,
    apiKey: authority.apiKey,
    tenantId: "acme",
    system: "examples",
  });
  try {
    return await fn({ authority, client });
  } finally {
    await client.close();
    await authority.stop();
  }
}

/** Runs an example script; a failure prints and sets exit code 1. */
export function runExample(fn: (env: ExampleEnv) => Promise<void>): void {
  withLocalAuthority(fn).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
