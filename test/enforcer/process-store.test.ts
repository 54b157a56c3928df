/**
 * The process's replay store lives under one global symbol, so the ESM and
 * CommonJS copies of the library (each with its own module state) claim
 * grants in the same store. A store placed there is the one every client
 * without its own `replayStore` uses.
 */
import { DecionisClient, type ReplayStore } from "../../src/index.js";
import { allow, FakeAuthority, intent } from "./fake-authority.js";

it('claims grants in the store under Symbol.for("decionis.replayStore")', async () => {
  const claimed: string[] = [];
  const store: ReplayStore = {
    claim: (jti) => {
      claimed.push(jti);
      return claimed.filter((j) => j === jti).length === 1;
    },
  };
  (globalThis as Record<symbol, unknown>)[Symbol.for("decionis.replayStore")] = store;
  const gateway = new FakeAuthority();
  gateway.decide = (r) => allow(r, { execution_token: "one-token" });
  const options = { gateway, tenantId: "acme", verify: "none" as const, circuitBreaker: false as const };
  const fn = jest.fn();
  await new DecionisClient(options).enforce(intent, { execute: fn });
  await expect(new DecionisClient(options).enforce(intent, { execute: fn })).rejects.toMatchObject({
    code: "TOKEN_REPLAYED",
  });
  expect(claimed).toHaveLength(2);
  expect(fn).toHaveBeenCalledTimes(1);
});
