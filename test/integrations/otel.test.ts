/**
 * decionis/otel against the OpenTelemetry SDK's in-memory exporter and a real
 * HTTP authority that records each request's headers: one CLIENT span per
 * decision, its attributes, its status, and the traceparent the authority saw.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { BlockedError, DecionisClient, RetryExhaustedError } from "../../src/index.js";
import { ATTRIBUTES, otelHooks, withTracing } from "../../src/integrations/otel/index.js";
import {
  allowFor,
  decisionFor,
  defaultAnswer,
  escalationFor,
  sampleIntent,
  useTestAuthority,
  type RecordedRequest,
} from "../helpers/test-authority.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});
beforeEach(() => {
  exporter.reset();
});

const authority = useTestAuthority({ retryBackoffMs: 1 });
const intent = {
  ...sampleIntent,
  parameters: { amount: 987_654, iban: "DE89370400440532013000" },
  context: { secretNote: "do-not-trace" },
  policyRefs: ["trading"],
  idempotencyKey: "order-4711-private",
};

function onlySpan() {
  const spans = exporter.getFinishedSpans();
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

test("an ALLOW: one CLIENT span, OK, child of the caller's span, its traceparent sent to the authority", async () => {
  const client = authority.client(withTracing({ apiKey: "sk_live_SECRET_KEY_123" }));
  const parent = provider.getTracer("app").startSpan("POST /orders");
  const result = await context.with(trace.setSpan(context.active(), parent), () =>
    client.enforce(intent, { execute: () => "done" }),
  );
  parent.end();
  expect(result).toBe("done");

  const span = exporter.getFinishedSpans().find((s) => s.name === "decionis.enforce")!;
  expect(span.kind).toBe(SpanKind.CLIENT);
  expect(span.status.code).toBe(SpanStatusCode.OK);
  expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  const sent = authority.requests.find((r) => r.url === "/v1/authority/enforce-and-bind")!;
  const { traceId, spanId } = span.spanContext();
  expect(sent.headers["traceparent"]).toBe(`00-${traceId}-${spanId}-01`);
  expect(span.attributes).toMatchObject({
    [ATTRIBUTES.status]: "ALLOW",
    [ATTRIBUTES.decisionId]: expect.stringMatching(/^dec_/),
    [ATTRIBUTES.action]: "OPEN_POSITION",
    [ATTRIBUTES.tenant]: "acme",
    [ATTRIBUTES.attempts]: 1,
    [ATTRIBUTES.verifyMode]: "signature",
    [ATTRIBUTES.reasonCodes]: ["WITHIN_LIMITS"],
    [ATTRIBUTES.policyRefs]: ["trading"],
  });
  // What was asked stays out of the trace: no parameters, context values or keys.
  const everything = JSON.stringify(span.attributes) + JSON.stringify(span.status) + JSON.stringify(span.events);
  for (const secret of ["987654", "DE89370400440532013000", "do-not-trace", "SECRET_KEY", "order-4711"])
    expect(everything).not.toContain(secret);
  for (const key of Object.keys(span.attributes)) expect(key).toMatch(/^(decionis\.|error\.type$)/);
});

test("a BLOCK: status ERROR with the decision's id and reason codes; nothing ran", async () => {
  const client = authority.client({ hooks: otelHooks() });
  authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
  const run = jest.fn();
  await expect(client.enforce(intent, { execute: run })).rejects.toBeInstanceOf(BlockedError);
  expect(run).not.toHaveBeenCalled();
  const span = onlySpan();
  expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "BLOCK" });
  expect(span.attributes).toMatchObject({
    [ATTRIBUTES.status]: "BLOCK",
    [ATTRIBUTES.reasonCodes]: ["LIMIT_EXCEEDED"],
    [ATTRIBUTES.decisionId]: expect.stringMatching(/^dec_/),
    "error.type": "BlockedError",
    [ATTRIBUTES.errorCode]: "DECISION_BLOCK",
  });
});

test("retries are counted in attempts; an unreachable authority ends the span in ERROR", async () => {
  const client = authority.client({ hooks: otelHooks(), maxRetries: 2 });
  authority.script({ status: 503, body: {} }, { status: 503, body: {} }, { status: 503, body: {} });
  await expect(client.enforce(intent)).rejects.toBeInstanceOf(RetryExhaustedError);
  const span = onlySpan();
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes).toMatchObject({ [ATTRIBUTES.attempts]: 3, "error.type": "RetryExhaustedError" });
  expect(span.attributes[ATTRIBUTES.status]).toBeUndefined();
  // Every attempt carried the same trace context.
  const parents = new Set(authority.requests.map((r) => r.headers["traceparent"]));
  expect([...parents]).toEqual([expect.stringContaining(span.spanContext().spanId)]);

  exporter.reset();
  authority.script({ status: 503, body: {} });
  await client.enforce(intent);
  expect(onlySpan().attributes).toMatchObject({ [ATTRIBUTES.attempts]: 2, [ATTRIBUTES.status]: "ALLOW" });
});

test("an escalation waited for: the escalation id and the wait's duration, then the granted ALLOW", async () => {
  const client = authority.client({ hooks: otelHooks(), escalation: "wait" });
  let asked: RecordedRequest | undefined;
  authority.fallback = (req) => {
    if (req.url === "/v1/authority/enforce-and-bind") {
      asked = req;
      return { body: decisionFor(req, "ESCALATE", { escalation_id: "esc_1" }) };
    }
    if (req.url === "/v1/authority/escalations/esc_1")
      return {
        body: escalationFor(asked!, "esc_1", "GRANT_READY", allowFor(asked!, { reason_codes: ["APPROVED"] })),
      };
    return defaultAnswer(req);
  };
  await client.enforce(intent, { execute: () => undefined });
  const span = onlySpan();
  expect(span.status.code).toBe(SpanStatusCode.OK);
  expect(span.attributes).toMatchObject({
    [ATTRIBUTES.status]: "ALLOW",
    [ATTRIBUTES.reasonCodes]: ["APPROVED"],
    [ATTRIBUTES.waitMs]: expect.any(Number),
  });
});

test("an ESCALATE thrown: status ERROR with the escalation id", async () => {
  const client = authority.client({ hooks: otelHooks() });
  authority.script({
    body: (r: RecordedRequest) => decisionFor(r, "ESCALATE", { escalation_id: "esc_9" }),
  });
  await expect(client.enforce(intent)).rejects.toBeInstanceOf(BlockedError);
  expect(onlySpan().attributes).toMatchObject({
    [ATTRIBUTES.status]: "ESCALATE",
    [ATTRIBUTES.escalationId]: "esc_9",
  });
  expect(onlySpan().status.code).toBe(SpanStatusCode.ERROR);
});

test("decide() is traced too; a BLOCK it returns is an ERROR span", async () => {
  const client = authority.client({ hooks: otelHooks() });
  authority.script({ body: (r: RecordedRequest) => decisionFor(r, "BLOCK") });
  const decision = await client.decide(intent);
  expect(decision.status).toBe("BLOCK");
  expect(onlySpan().status.code).toBe(SpanStatusCode.ERROR);
});

test("withTracing keeps the user's own onCall observer and hooks", async () => {
  const ends: unknown[] = [];
  const onDecision = jest.fn();
  const client = authority.client(
    withTracing({
      hooks: {
        onDecision,
        onCall: () => ({ headers: { "x-tenant-route": "eu" }, onEnd: (e) => void ends.push(e.decision?.status) }),
      },
    }),
  );
  await client.enforce(intent);
  expect(onDecision).toHaveBeenCalledTimes(1);
  expect(ends).toEqual(["ALLOW"]);
  expect(authority.requests[0]!.headers["x-tenant-route"]).toBe("eu");
  expect(authority.requests[0]!.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  expect(onlySpan().status.code).toBe(SpanStatusCode.OK);
});

test("a hostile observer cannot replace the SDK's headers nor stop the call", async () => {
  const client = new DecionisClient({
    apiKey: "sk_real",
    baseUrl: authority.url,
    tenantId: "acme",
    hooks: {
      onCall: () => ({
        headers: { authorization: "Bearer stolen", "Idempotency-Key": "x", "x-evil": "a\r\nb", "x-ok": "1" },
        onRetry: () => {
          throw new Error("boom");
        },
        onEnd: () => {
          throw new Error("boom");
        },
      }),
    },
  });
  authority.script({ status: 503, body: {} });
  await client.enforce(intent);
  const [first, second] = authority.requests;
  for (const sent of [first!, second!]) {
    expect(sent.headers.authorization).toBe("Bearer sk_real");
    expect(sent.headers["idempotency-key"]).toBe(sent.json.idempotency_key);
    expect(sent.headers["x-evil"]).toBeUndefined();
    expect(sent.headers["x-ok"]).toBe("1");
  }
  const throwing = new DecionisClient({
    apiKey: "sk_real",
    baseUrl: authority.url,
    tenantId: "acme",
    hooks: {
      onCall: () => {
        throw new Error("observer down");
      },
    },
  });
  await expect(throwing.enforce(intent)).resolves.toMatchObject({ status: "ALLOW" });
  await Promise.all([client.close(), throwing.close()]);
});
