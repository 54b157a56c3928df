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

describe("consume-token and outcome are idempotent (protocol 4 and 6)", () => {
  async function allowed(): Promise<{ token: string; hash: string; decisionId: string }> {
    const body = rawRequest();
    const res = await enforce(body);
    expect(res.json.status).toBe("ALLOW");
    return { token: res.json.execution_token, hash: body["intent_hash"] as string, decisionId: res.json.decision_id };
  }
  const consume = (token: string, hash: string, key: string | undefined, consumedBy = "worker-1") =>
    call(
      h.authority,
      "POST",
      "/v1/execution/consume-token",
      { execution_token: token, intent_hash: hash, consumed_by: consumedBy },
      key === undefined ? {} : { "idempotency-key": key },
    );

  test("the same key, token and consumer: the first 200 replayed; another key or consumer: 409", async () => {
    const { token, hash } = await allowed();
    const first = await consume(token, hash, "c-1");
    expect(first.status).toBe(200);
    const again = await consume(token, hash, "c-1");
    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await consume(token, hash, "c-2")).status).toBe(409);
    expect((await consume(token, hash, "c-1", "worker-2")).status).toBe(409);
    expect((await consume(token, hash, undefined)).status).toBe(409);
  });

  test("without a key, a second consume is 409; a key with control characters is 400", async () => {
    const { token, hash } = await allowed();
    expect((await consume(token, hash, undefined)).status).toBe(200);
    expect((await consume(token, hash, undefined)).status).toBe(409);
    const other = await allowed();
    const bad = await consume(other.token, other.hash, "c\u0085x");
    expect(bad.status).toBe(400);
    expect(bad.json.error.details.field).toBe("idempotency-key");
  });

  test("outcome: the same key again is 202 and stored once; another report under the key is 422", async () => {
    const { decisionId } = await allowed();
    const report = {
      status: "SUCCEEDED",
      started_at: new Date().toISOString(),
      finished_at: new Date().toISOString(),
    };
    const path = `/v1/authority/decisions/${decisionId}/outcome`;
    const first = await call(h.authority, "POST", path, report, { "idempotency-key": "o-1" });
    const again = await call(h.authority, "POST", path, report, { "idempotency-key": "o-1" });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.json).toEqual(first.json);
    const other = await call(h.authority, "POST", path, { ...report, status: "FAILED" }, { "idempotency-key": "o-1" });
    expect(other.status).toBe(422);
    const record = h.authority.decisions().find((d) => d.decision.decision_id === decisionId)!;
    expect(record.outcome).toMatchObject({ status: "SUCCEEDED", idempotency_key: "o-1" });
  });
});
