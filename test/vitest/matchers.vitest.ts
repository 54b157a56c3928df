/**
 * The decionis/testing matchers under vitest, with the type augmentation a
 * vitest user writes (see README, "Testing your gated code").
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  createTestAuthority,
  decionisMatchers,
  type DecionisMatchers,
  type TestAuthority,
} from "../../src/integrations/testing/index.js";

declare module "vitest" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Matchers<T = any> extends DecionisMatchers<void, T> {}
}

expect.extend(decionisMatchers);

let authority: TestAuthority;
beforeAll(async () => {
  authority = await createTestAuthority({
    decide: (intent) =>
      intent.action.type === "DELETE" ? { status: "BLOCK", reasonCodes: ["DESTRUCTIVE"] } : undefined,
  });
});
afterAll(() => authority.stop());

test("toBeBlockedWith and toHaveRequestedDecision under vitest", async () => {
  const remove = authority.client.gate(async (id: string) => `deleted ${id}`, {
    action: "DELETE",
    actor: { id: "ops-agent", type: "AI_AGENT" },
    parameters: (id: string) => ({ id }),
  });
  const read = authority.client.gate(async (id: string) => `read ${id}`, {
    action: "READ",
    actor: { id: "ops-agent", type: "AI_AGENT" },
  });
  await expect(remove("db-1")).toBeBlockedWith("BLOCK", "DESTRUCTIVE");
  await expect(remove("db-1")).rejects.toBeBlockedWith("BLOCK");
  await expect(read("db-1")).resolves.toBe("read db-1");
  await expect(read("db-2")).not.toBeBlockedWith("BLOCK");
  expect(authority).toHaveRequestedDecision({ action: { type: "DELETE" }, parameters: { id: "db-1" } });
  expect(authority).not.toHaveRequestedDecision({ action: { type: "DROP" } });
  expect(() => {
    expect(authority).toHaveRequestedDecision({ action: { type: "DROP" } });
  }).toThrow(/asked:/);
});
