/**
 * undici is an optional peer: importing `decionis` never loads it, and choosing
 * `transport: "undici"` without it fails when the client is built, naming the
 * package, before any request. "Not installed" is made real in a child
 * process whose resolver refuses the package; the ESM branch (no `require`)
 * runs on a copy of src/ marked `"type": "module"`.
 */
import { ConfigurationError, DecionisClient, UndiciGateway, RetryPolicy } from "../../src/index.js";
import { MockGateway } from "../helpers/mock-gateway.js";
import { lastJsonLine, usePeerSandbox } from "../helpers/peer-sandbox.js";

const sandbox = usePeerSandbox("undici-peer-test");

/** Runs `code` in a child Node (TypeScript through tsx) and returns its last line, parsed. */
async function child(code: string, options: { hide: boolean; esm: boolean }): Promise<Record<string, unknown>> {
  return lastJsonLine(await sandbox.run(code, { hide: options.hide ? ["undici"] : [], esm: options.esm }));
}

/** Imports decionis, notes whether undici got loaded, then builds an undici client. */
const script = (load: string) => `
  const { DecionisClient } = ${load};
  const loaded = () => Object.keys(require.cache).some((k) => /node_modules[\\\\/]undici[\\\\/]/.test(k));
  const out = { loadedOnImport: loaded() };
  try {
    const client = new DecionisClient({ apiKey: "sk_x", baseUrl: "http://127.0.0.1:1", transport: "undici" });
    out.built = true;
    out.loadedOnBuild = loaded();
    await client.close();
  } catch (e) { out.error = e.name + ": " + e.message; out.option = e.option; }
  console.log(JSON.stringify(out));`;

test.each([
  ["CommonJS", false, `(async () => { ${script('require("./src/index.ts")')} })()`],
  [
    "ESM",
    true,
    `import { createRequire } from "node:module"; const require = createRequire(import.meta.url); ${script('await import("./src/index.ts")')}`,
  ],
])(
  "%s: importing decionis does not load undici; transport undici loads it, or fails naming it",
  async (_mode, esm, code) => {
    const [present, absent] = await Promise.all([child(code, { esm, hide: false }), child(code, { esm, hide: true })]);
    expect(present).toEqual({ loadedOnImport: false, built: true, loadedOnBuild: true });
    expect(absent).toEqual({
      loadedOnImport: false,
      option: "transport",
      error:
        'ConfigurationError: transport: "undici" needs the package "undici" (^7.0.0 || ^8.0.0), which is not installed. Install it: npm install undici',
    });
  },
  60_000,
);

describe("the transport option", () => {
  it.each([["fetch"], [""], [1], [null]])("%p is refused, naming the option and its values", (transport) => {
    let error: unknown;
    try {
      new DecionisClient({ apiKey: "sk_x", transport: transport as "undici" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe("transport");
    expect((error as Error).message).toMatch(/transport must be "axios" \(the default\) or "undici"/);
  });

  it("is refused beside a custom gateway, which it would not apply to", () => {
    const gateway = new MockGateway();
    expect(() => new DecionisClient({ gateway, transport: "undici" })).toThrow(/either transport or gateway/);
  });

  it("an UndiciGateway refuses a bad API key like the axios one, without quoting it", () => {
    expect(
      () =>
        new UndiciGateway({
          baseUrl: "http://127.0.0.1:1",
          apiKey: "sk live",
          timeoutMs: 1000,
          retryPolicy: RetryPolicy.none(),
        }),
    ).toThrow(/apiKey must be printable ASCII/);
  });
});
