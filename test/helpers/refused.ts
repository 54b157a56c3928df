/** The fail-closed assertion of the grant tests: the call is refused with `check`, and its action never runs. */
import { InvalidReceiptError, type DecionisClient, type IntentInput } from "../../src/index.js";

export async function expectRefused(client: DecionisClient, intent: IntentInput, check: string): Promise<void> {
  const action = jest.fn();
  const error = await client.enforce(intent, { execute: action }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidReceiptError);
  expect((error as InvalidReceiptError).code).toBe(check);
  expect(action).not.toHaveBeenCalled();
}
