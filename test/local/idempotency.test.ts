/**
 * Idempotency (protocol 2.6): the same key and payload replay the first
 * decision; another payload under the key is 422; a request while the first is
 * still being decided is 409, and the SDK's retry of it gets the replay.
 */
import { HttpGateway, RequestRejectedError, RetryPolicy } from "../../src/index.js";
import type { WireEnforceRequest } from "../../src/gateway/wire.js";
import { call, order, rawRequest, useHarness } from "./helpers.js";

// The latency keeps a decision in flight long enough to be overtaken.
const h = useHarness({ latencyMs: 150 });

const enforce = (body: unknown) => call(h.authority, "POST", "/v1/authority/enforce-and-bind", body);

test("the same key and payload replay the first decision, token included", async () => {
  const body = rawRequest({ idempotencyKey: "ord-1" });
  const first = await enforce(body);
  const again = await enforce(body);
  expect(first.status).toBe(200);
  expect(again.status).toBe(200);
  expect(again.json).toEqual(first.json);
  expect(again.headers.get("idempotent-replayed")).toBe("true");
  expect(h.authority.decisions().filter((d) => d.request.idempotency_key === "ord-1")).toHaveLength(1);
});

test("the same key with another payload: 422 IDEMPOTENCY_KEY_REUSED, in the SDK too", async () => {
  const first = await enforce(rawRequest({ idempotencyKey: "ord-2", context: { notional: 10 } }));
  expect(first.status).toBe(200);
  const other = await enforce(rawRequest({ idempotencyKey: "ord-2", context: { notional: 20 } }));
  expect(other.status).toBe(422);
  expect(other.json.error.code).toBe("IDEMPOTENCY_KEY_REUSED");

  await h.client.enforce(order(1_000, { idempotencyKey: "ord-3" }));
  const error = await h.client.enforce(order(2_000, { idempotencyKey: "ord-3" })).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RequestRejectedError);
  expect((error as RequestRejectedError).serverCode).toBe("IDEMPOTENCY_KEY_REUSED");
});

test("a request while the first is in flight: 409 IDEMPOTENCY_IN_FLIGHT, then the replay", async () => {
  const body = rawRequest({ idempotencyKey: "ord-4" });
  const [first, second] = await Promise.all([
    enforce(body),
    new Promise((r) => setTimeout(r, 30)).then(() => enforce(body)),
  ]);
  expect(first.status).toBe(200);
  expect(second.status).toBe(409);
  expect(second.json.error.code).toBe("IDEMPOTENCY_IN_FLIGHT");
  const after = await enforce(body);
  expect(after.json.decision_id).toBe(first.json.decision_id);
});

test("the SDK's gateway retries the 409 with the same bytes and gets the same decision", async () => {
  const body = JSON.stringify(rawRequest({ idempotencyKey: "ord-5" }));
  const parsed = JSON.parse(body) as WireEnforceRequest;
  const retries: string[] = [];
  const gateway = new HttpGateway({
    baseUrl: h.authority.url,
    apiKey: h.authority.apiKey,
    timeoutMs: 5_000,
    retryPolicy: new RetryPolicy({ maxRetries: 5, baseDelayMs: 100, maxDelayMs: 400 }),
    onRetry: ({ error }) => retries.push(error.code),
  });
  const [first, retried] = await Promise.all([
    enforce(body),
    new Promise((r) => setTimeout(r, 30)).then(() =>
      gateway.enforceAndBind({
        body,
        request: parsed,
        idempotencyKey: parsed.idempotency_key,
        correlationId: parsed.correlation_id,
      }),
    ),
  ]);
  gateway.close();
  expect(first.status).toBe(200);
  expect(retries[0]).toBe("IDEMPOTENCY_IN_FLIGHT");
  expect((retried as { decision_id: string }).decision_id).toBe(first.json.decision_id);
});
