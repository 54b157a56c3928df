/**
 * Intent-hash conformance: every vector in test/fixtures/conformance (copied
 * from the protocol's published set) must reproduce, byte for byte. A vector
 * added to the folder is checked without a code change.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalJson, DecionisClient, intentHash } from "../src/index.js";
import { MockGateway } from "./helpers/mock-gateway.js";

const dir = join(__dirname, "fixtures", "conformance");
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => ({
    file: f,
    ...(JSON.parse(readFileSync(join(dir, f), "utf8")) as {
      binding: unknown;
      intent_hash: string;
      canonical_json?: string;
    }),
  }));

describe("intent hash conformance vectors", () => {
  it("finds the vectors", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(7);
  });

  it.each(vectors)("$file", (vector) => {
    if (vector.canonical_json !== undefined) expect(canonicalJson(vector.binding)).toBe(vector.canonical_json);
    expect(intentHash(vector.binding)).toBe(vector.intent_hash);
  });

  it("negative zero and 1e21 are written as JSON.stringify writes them", () => {
    expect(canonicalJson({ a: -0, b: 1e21, c: 1.5e-7 })).toBe('{"a":0,"b":1e+21,"c":1.5e-7}');
  });
});

describe("the body the client sends", () => {
  it("hashes exactly its binding, assembled piecewise, equal to a full canonicalisation", async () => {
    const gateway = new MockGateway();
    const client = new DecionisClient({ gateway, tenantId: "tenant_e", system: "shopify" });
    await client.enforce({
      actor: { id: "agent-🚀", type: "AI_AGENT", runtime: "mcp", trustLevel: "verified" },
      action: { type: "refund_order", resource: "shopify:order:1" },
      parameters: { Z: 1, za: [1, { é: null, b: -0 }], zé: "café" },
      context: { source: "conformance", nested: { deeper: [true, false] } },
      target: { system: "shopify", operation: "refund", endpoint: "POST /refunds" },
      policyRefs: ["refund-policy"],
      idempotencyKey: "refund-1",
    });
    const sent = JSON.parse(gateway.last.body) as Record<string, unknown>;
    const { intent_hash, mode, policy_refs, correlation_id, ...binding } = sent;
    expect(intent_hash).toBe(intentHash(binding));
    expect(gateway.last.body.startsWith(canonicalJson(binding).slice(0, -1))).toBe(true);
    expect({ mode, policy_refs }).toEqual({ mode: "ENFORCEMENT", policy_refs: ["refund-policy"] });
    expect(correlation_id).toMatch(/^t:tenant_e\|c:[0-9a-f-]{36}$/);
    expect(binding["actor"]).toEqual({ id: "agent-🚀", type: "AI_AGENT", runtime: "mcp", trust_level: "verified" });
  });

  it("reproduces the published agent-safe vector when given the same binding fields", async () => {
    const vector = vectors.find((v) => v.file === "agent-safe-intent-v1.json")!;
    expect(intentHash(vector.binding)).toBe(vector.intent_hash);
  });
});
