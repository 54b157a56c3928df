/**
 * What the framework suites share: a local authority whose "orders" policy
 * yields every outcome from the request body, a client bound to it, a client
 * whose authority is gone (503), and problem+json checks.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DecionisClient } from "../../src/index.js";
import { startLocalAuthority, type LocalAuthority, type PoliciesFile } from "../../src/local/index.js";

export const TENANT = "tenant_web";
export const API_KEY = "sk_test_do_not_leak_0123456789";

/** PLACE_ORDER by a CUSTOMER: BLOCK over qty 1000, ESCALATE over 100, REVIEW for X* symbols, ALLOW otherwise. */
export const POLICIES: PoliciesFile = {
  default_policy_refs: ["orders"],
  policies: [
    {
      id: "orders",
      version: 1,
      rules: [
        {
          id: "oversized",
          conditions: { path: "context.qty", operator: "greaterThan", value: 1000 },
          outcome: "BLOCK",
          reason_codes: ["QTY_LIMIT_EXCEEDED"],
          explanation: "Quantity above 1,000",
        },
        {
          id: "large",
          conditions: { path: "context.qty", operator: "greaterThan", value: 100 },
          outcome: "ESCALATE",
          reason_codes: ["LARGE_ORDER"],
          explanation: "Quantity above 100 needs a person",
        },
        {
          id: "exotic",
          conditions: { path: "action.resource", operator: "matches", value: "^X" },
          outcome: "REVIEW_REQUIRED",
          reason_codes: ["EXOTIC_SYMBOL"],
          explanation: "Exotic symbols are reviewed",
        },
        {
          id: "customers",
          match: { actor_type: "CUSTOMER" },
          outcome: "ALLOW",
          reason_codes: ["WITHIN_LIMITS"],
          explanation: "Within limits",
        },
      ],
      default: { outcome: "BLOCK", reason_codes: ["NO_RULE_MATCHED"], explanation: "No rule allows this" },
    },
  ],
};

export interface Harness {
  authority: LocalAuthority;
  client: DecionisClient;
  /** A client whose authority has stopped listening: every call is a transport failure. */
  deadClient: DecionisClient;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const authority = await startLocalAuthority({ policies: POLICIES, apiKeys: [API_KEY] });
  const client = new DecionisClient({
    baseUrl: authority.url,
    apiKey: API_KEY,
    tenantId: TENANT,
    system: "web",
    maxRetries: 0,
  });
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => {
    closed.close(() => {
      resolve();
    });
  });
  const deadClient = new DecionisClient({
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: API_KEY,
    tenantId: TENANT,
    maxRetries: 0,
    timeoutMs: 2_000,
    verify: "none",
  });
  return {
    authority,
    client,
    deadClient,
    close: async () => {
      await client.close();
      await deadClient.close();
      await authority.stop();
    },
  };
}

export interface Reply {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  json: any;
}

/** One HTTP request to a server of the test (loopback only). */
export async function request(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", headers: res.headers, text, json };
}

/** The checks every mapped answer passes: RFC 9457 media type and members, no key, no stack, no message of ours. */
export function expectProblem(reply: Reply, status: number, decisionStatus: string | null, reason?: string): void {
  expect(reply.status).toBe(status);
  expect(reply.contentType).toMatch(/^application\/problem\+json/);
  expect(reply.json).toMatchObject({ status, decision_status: decisionStatus });
  expect(typeof reply.json.type).toBe("string");
  expect(typeof reply.json.title).toBe("string");
  expect(typeof reply.json.detail).toBe("string");
  if (reason !== undefined) expect(reply.json.reason_codes).toContain(reason);
  if (decisionStatus !== null) expect(reply.json.decision_id).toMatch(/^dec_/);
  expect(reply.text).not.toContain(API_KEY);
  expect(reply.text).not.toMatch(/\bat .+:\d+:\d+/); // a stack frame
  expect(reply.text).not.toMatch(/stack|axios|ECONNREFUSED/i);
}

/** Where a server listens, as a base URL. */
export function baseUrlOf(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
