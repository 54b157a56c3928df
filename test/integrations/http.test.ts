/**
 * The one HTTP mapping the three adapters share (src/integrations/http.ts),
 * for the errors the framework suites cannot provoke from the local
 * authority: ERROR decisions, an open circuit (matched on its code), rate
 * limits, untrusted answers, misconfiguration — and never a key or a stack.
 */
import {
  BindingMismatchError,
  BlockedError,
  ConfigurationError,
  DecionisError,
  InvalidReceiptError,
  NetworkError,
  RateLimitError,
  RetryExhaustedError,
  type Decision,
} from "../../src/index.js";
import { toHttpProblem } from "../../src/integrations/http.js";

function decision(status: Decision["status"], extra: Partial<Decision> = {}): Decision {
  return {
    decisionId: "dec_1",
    status,
    allowed: false,
    shouldExecute: false,
    reasonCodes: ["R1"],
    explanation: null,
    dossierId: "dos_1",
    dossierUrl: "https://authority.example/dossiers/dos_1",
    actionHash: "0".repeat(64),
    executionToken: null,
    executionTokenExpiresAt: null,
    policyVersion: null,
    escalationId: null,
    intentId: "i",
    idempotencyKey: "k",
    correlationId: "c",
    raw: {},
    ...extra,
  };
}

test("an ERROR decision is a 503 with its decision id and reasons", () => {
  const problem = toHttpProblem(new BlockedError(decision("ERROR")))!;
  expect(problem.status).toBe(503);
  expect(problem.body).toMatchObject({
    status: 503,
    decision_status: "ERROR",
    decision_id: "dec_1",
    reason_codes: ["R1"],
  });
});

test("an escalation a person rejected is a 403", () => {
  const rejected = new BlockedError(decision("ESCALATE", { escalationId: "esc_1" }), {
    status: "BLOCK",
    escalationStatus: "REJECTED",
  });
  expect(toHttpProblem(rejected)!.status).toBe(403);
});

test("an open circuit is a 503 by its code, whatever its class (before and after the circuit breaker lands)", () => {
  class CircuitOpenError extends DecionisError {
    static override readonly errorName: string = "CircuitOpenError";
  }
  const problem = toHttpProblem(
    new CircuitOpenError("open", { code: "CIRCUIT_OPEN", details: { retryAfterMs: 2_500 } }),
  )!;
  expect(problem.status).toBe(503);
  expect(problem.body.code).toBe("CIRCUIT_OPEN");
  expect(problem.headers["retry-after"]).toBe("3");
});

test("exhausted retries after a 429 are a 503 with the authority's Retry-After", () => {
  const problem = toHttpProblem(new RetryExhaustedError(3, new RateLimitError({ status: 429 }, 10_000)))!;
  expect(problem.status).toBe(503);
  expect(problem.headers["retry-after"]).toBe("10");
});

test("an answer that failed the SDK's checks is a 502; a misconfigured client a 500", () => {
  expect(toHttpProblem(new BindingMismatchError("a", "b"))!.status).toBe(502);
  expect(toHttpProblem(new InvalidReceiptError("TOKEN_REPLAYED", "replayed"))!.status).toBe(502);
  expect(toHttpProblem(new ConfigurationError("apiKey", "missing"))!.status).toBe(500);
});

test("errors that are not the SDK's are left alone", () => {
  expect(toHttpProblem(new Error("x"))).toBeUndefined();
  expect(toHttpProblem({ code: "CIRCUIT_OPEN" })).toBeUndefined();
});

test("the body holds typed fields only: not the message, the cause, a stack or a key", () => {
  const secret = "sk_live_secret_value_123";
  const error = new NetworkError(`connect ECONNREFUSED with ${secret}`, new Error(secret));
  const text = JSON.stringify(toHttpProblem(error));
  expect(text).not.toContain(secret);
  expect(text).not.toContain("ECONNREFUSED");
  expect(text).not.toMatch(/\bat .+:\d+:\d+/);
});
