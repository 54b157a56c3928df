/**
 * Edges answer 4xx, never 5xx: a malformed request target, control characters
 * in tenant ids and idempotency keys, intents captured in the future or living
 * too long, policy refs past the limit; idempotency scoped per tenant; options
 * read from own properties, an unknown one named with the closest known one.
 */
import { request } from "node:http";
import { intentHash } from "../../src/index.js";
import { newCorrelationId } from "../../src/intent/ids.js";
import { LocalAuthorityError, startLocalAuthority, type LocalAuthorityOptions } from "../../src/local/index.js";
import { call, POLICIES, rawRequest, useHarness } from "./helpers.js";

const h = useHarness();
const enforce = (body: unknown, headers: Record<string, string> = {}) =>
  call(h.authority, "POST", "/v1/authority/enforce-and-bind", body, headers);

/** Rebinds a raw request after `edit` changed its binding. */
function rehash(body: Record<string, unknown>, edit: (b: Record<string, unknown>) => void): Record<string, unknown> {
  const { intent_hash: _h, mode, policy_refs, correlation_id: _c, ...binding } = body;
  edit(binding);
  return {
    ...binding,
    intent_hash: intentHash(binding),
    mode,
    policy_refs,
    correlation_id: newCorrelationId(binding["tenant_id"] as string),
  };
}

test("GET //[ (a target URL cannot parse): 400, not 500", async () => {
  const { hostname, port } = new URL(h.authority.url);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: hostname, port, path: "//[", method: "GET" }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on("error", reject);
    req.end();
  });
  expect(status).toBe(400);
});

test.each([
  ["tenant_id", "acme\u0007"],
  ["tenant_id", "acme\u2028x"],
  ["idempotency_key", "ord\n1"],
  ["idempotency_key", "ord\u0000"],
])("%s with a control character: 400 naming the field", async (field, value) => {
  const body = rehash(rawRequest(), (b) => (b[field] = value));
  const res = await enforce(body);
  expect(res.status).toBe(400);
  expect(res.json.error.details.field).toBe(field);
});

test("idempotency keys are scoped per tenant: the same key in two tenants is two decisions", async () => {
  const a = rawRequest({ idempotencyKey: "shared-1" });
  const b = rehash(rawRequest({ idempotencyKey: "shared-1" }), (x) => (x["tenant_id"] = "other_tenant"));
  const first = await enforce(a);
  const second = await enforce(b);
  expect(first.status).toBe(200);
  expect(second.status).toBe(200);
  expect(second.json.decision_id).not.toBe(first.json.decision_id);
  expect(second.headers.get("idempotent-replayed")).toBeNull();
});

test("an intent captured more than the clock skew in the future: 400 captured_at", async () => {
  const res = await enforce(rawRequest({ capturedAt: Date.now() + 120_000 }));
  expect(res.status).toBe(400);
  expect(res.json.error.details.field).toBe("captured_at");
  expect((await enforce(rawRequest({ capturedAt: Date.now() + 5_000 }))).status).toBe(200);
});

test("an intent that expires more than its maximum TTL after capture: 400 expires_at", async () => {
  const res = await enforce(rawRequest({ ttlMs: 301_000 }));
  expect(res.status).toBe(400);
  expect(res.json.error.details.field).toBe("expires_at");
});

test("policy refs: over 16 or repeated is 400 policy_refs at enforce time; every accepted dossier serves", async () => {
  const many = await enforce(rawRequest({ policyRefs: Array.from({ length: 17 }, (_, i) => `p${i}`) }));
  expect(many.status).toBe(400);
  expect(many.json.error.details.field).toBe("policy_refs");
  const twice = await enforce(rawRequest({ policyRefs: ["trading", "trading"] }));
  expect(twice.status).toBe(400);
  expect(twice.json.error.details.field).toBe("policy_refs");
  // The largest request accepted: 16 refs of 200 characters and a binding near 100 KiB.
  const refs = Array.from({ length: 16 }, (_, i) => `${String(i).padStart(2, "0")}${"r".repeat(198)}`);
  const big = await enforce(rawRequest({ policyRefs: refs, parameters: { blob: "x".repeat(90_000) } }));
  expect(big.status).toBe(200);
  const dossier = await call(h.authority, "GET", `/v1/protocol/dossiers/${big.json.dossier_id as string}`);
  expect(dossier.status).toBe(200);
});

describe("options", () => {
  test("an unknown option is refused by name with the closest known one, also from plain JavaScript", async () => {
    const error = await startLocalAuthority({ policies: POLICIES, prot: 1 } as unknown as LocalAuthorityOptions).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LocalAuthorityError);
    expect(error).toMatchObject({ code: "OPTIONS_INVALID" });
    expect((error as Error).message).toContain('options.prot: unknown option; did you mean "port"?');
  });

  test("settings come from own properties only: a polluted Object.prototype changes nothing", async () => {
    const proto = Object.prototype as Record<string, unknown>;
    // Not enumerable, so zod's own strict-key checks elsewhere stay quiet; `options.port` would still read it.
    const pollute = (name: string, value: unknown) =>
      Object.defineProperty(proto, name, { value, configurable: true, writable: true, enumerable: false });
    pollute("port", 1);
    pollute("apiKeys", ["polluted-key-123"]);
    pollute("journal", "/nonexistent/polluted.jsonl");
    try {
      const a = await startLocalAuthority({ policies: POLICIES });
      try {
        expect(a.apiKey).not.toBe("polluted-key-123");
        expect(new URL(a.url).port).not.toBe("1");
        const res = await fetch(`${a.url}/v1/authority/escalations/esc_X`, {
          headers: { authorization: "Bearer polluted-key-123" },
        });
        expect(res.status).toBe(401);
      } finally {
        await a.stop();
      }
    } finally {
      delete proto["port"];
      delete proto["apiKeys"];
      delete proto["journal"];
    }
  });

  test("options that are not an object are refused", async () => {
    await expect(startLocalAuthority(null as unknown as LocalAuthorityOptions)).rejects.toMatchObject({
      code: "OPTIONS_INVALID",
    });
  });
});
