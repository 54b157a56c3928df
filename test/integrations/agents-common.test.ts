/**
 * The helper every agent adapter shares (src/integrations/agents/common.ts),
 * against a local authority on 127.0.0.1:0: one decision per tool call, a
 * run at most once, inputs bound between the looks, foreign exceptions
 * untouched, and the words the model reads.
 */
import { randomUUID } from "node:crypto";
import { BindingMismatchError, BlockedError, NetworkError, RequestRejectedError } from "../../src/index.js";
import {
  idempotencyKeyFor,
  refusalText,
  ToolCallGate,
  verdictOfError,
  type ToolGateOptions,
} from "../../src/integrations/agents/common.js";
import { startEnv } from "./ai-scenarios";

let env: Awaited<ReturnType<typeof startEnv>>;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env.stop();
});

interface Refund {
  orderId: string;
  amount: number;
}

const options = (): ToolGateOptions<Refund> => ({
  client: env.client,
  action: "ISSUE_REFUND",
  policy: "agent-tools",
  actor: { id: "support-agent", type: "AI_AGENT" },
  context: { customer_tier: "gold" },
});
const newCall = () => ({ id: `call_${randomUUID()}`, toolName: "issueRefund" });
const decisionsFor = (key: string) => env.authority.decisions().filter((d) => d.request.idempotency_key === key);

test("the approval check and the run share one decision; a second run of the same call runs nothing", async () => {
  const gate = new ToolCallGate(options(), "issueRefund");
  const call = newCall();
  const input = { orderId: "A-1", amount: 40 };
  expect((await gate.verdict(input, call)).kind).toBe("allow");
  expect((await gate.verdict(input, call)).kind).toBe("allow");
  let runs = 0;
  await expect(gate.run(input, call, () => ++runs)).resolves.toBe(1);
  await expect(gate.run(input, call, () => ++runs)).rejects.toBeInstanceOf(RequestRejectedError);
  expect(runs).toBe(1);
  expect(decisionsFor(call.id)).toHaveLength(1);
});

test("an input changed between the approval check and the run runs nothing", async () => {
  const gate = new ToolCallGate(options(), "issueRefund");
  const call = newCall();
  await gate.verdict({ orderId: "A-1", amount: 40 }, call);
  let ran = false;
  await expect(
    gate.run({ orderId: "A-1", amount: 400_000 }, call, () => {
      ran = true;
    }),
  ).rejects.toBeInstanceOf(BindingMismatchError);
  expect(ran).toBe(false);
});

test("a framework's control-flow exception from the tool, and an abort, pass through untouched", async () => {
  // Shaped like LangGraph's GraphInterrupt: an Error subclass the framework catches for control flow.
  class Interrupt extends Error {
    readonly marker = "graph-interrupt";
  }
  const gate = new ToolCallGate(options(), "issueRefund");
  const interrupt = new Interrupt();
  await expect(
    gate.run({ orderId: "A-1", amount: 40 }, newCall(), () => {
      throw interrupt;
    }),
  ).rejects.toBe(interrupt);

  const controller = new AbortController();
  const reason = new Error("user pressed stop");
  controller.abort(reason);
  let ran = false;
  await expect(
    gate.run({ orderId: "A-1", amount: 40 }, newCall(), () => (ran = true), { signal: controller.signal }),
  ).rejects.toBe(reason);
  expect(ran).toBe(false);
  let thrown: unknown;
  try {
    verdictOfError(interrupt);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBe(interrupt);
});

test("a tool call id that cannot travel in a header becomes a hashed key", () => {
  expect(idempotencyKeyFor("call_8fK2")).toBe("call_8fK2");
  expect(idempotencyKeyFor("call with spaces")).toMatch(/^tool-call:[0-9a-f]{64}$/);
  expect(idempotencyKeyFor("x".repeat(181))).toMatch(/^tool-call:[0-9a-f]{64}$/);
  expect(idempotencyKeyFor("ü")).not.toBe(idempotencyKeyFor("u"));
});

test("the refusal text: reason codes, explanation, dossier and escalation; for errors only the code", async () => {
  const gate = new ToolCallGate(options(), "issueRefund");
  const blocked = await gate.verdict({ orderId: "A-1", amount: 5_000 }, newCall());
  const text = refusalText(blocked);
  expect(text).toMatch(/^Not done: Decionis blocked this tool call \(BLOCK\)\. Reason codes: REFUND_LIMIT_EXCEEDED\./);
  expect(text).toContain("Why: The agent refunds at most 500.");
  expect(text).toContain(`Dossier: ${env.authority.url}/dossiers/dos_`);
  expect(text).not.toContain(env.authority.apiKey);

  const review = await gate.verdict({ orderId: "A-1", amount: 250 }, newCall());
  expect(review.kind).toBe("approval");
  expect(refusalText(review)).toMatch(/^Waiting for a person: .*\(REVIEW_REQUIRED, escalation esc_\w+\)/);

  const network = new NetworkError("connect ECONNREFUSED 10.1.2.3:443 secret-host", undefined);
  expect(refusalText(network)).toBe(
    "Not done: the tool did not run because Decionis could not decide (NETWORK_ERROR). Nothing ran; try again later or ask a person.",
  );
  if (blocked.kind !== "block") throw new Error("expected a block");
  const rejected = new BlockedError(blocked.decision, { status: "BLOCK", escalationStatus: "REJECTED" });
  expect(refusalText(rejected)).toMatch(/did not approve this tool call \(escalation .* REJECTED\)/);
});

test("an escalation store that returns garbage fails closed", async () => {
  const gate = new ToolCallGate(
    { ...options(), store: { get: () => "{not json", set: () => undefined, delete: () => undefined } },
    "issueRefund",
  );
  const verdict = await gate.verdict({ orderId: "A-1", amount: 40 }, newCall());
  expect(verdict).toMatchObject({ kind: "error", error: { code: "CONFIGURATION_INVALID" } });
});

test("options without an action for a nameless tool are refused when the tool is gated", () => {
  expect(() => new ToolCallGate({ client: env.client }, undefined)).toThrow(/give its gate an `action`/);
});
