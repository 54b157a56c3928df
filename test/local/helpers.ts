/**
 * What the local-authority suites share: a policies file that yields every
 * outcome, an authority on 127.0.0.1:0 with a client bound to it, raw HTTP for
 * what the SDK has no API for yet, and JWS checks done with node:crypto alone.
 */
import { createPublicKey, verify, type JsonWebKey } from "node:crypto";
import { DecionisClient, intentHash, type ClientOptions, type IntentInput } from "../../src/index.js";
import { newCorrelationId, uuidv7 } from "../../src/intent/ids.js";
import {
  startLocalAuthority,
  type LocalAuthority,
  type LocalAuthorityOptions,
  type PoliciesFile,
} from "../../src/local/index.js";

export const TENANT = "tenant_test";

/** trading: BLOCK > 1M, ESCALATE > 100k, REVIEW for X* symbols, ALLOW otherwise. kyc: needs context.kyc. */
export const POLICIES: PoliciesFile = {
  policies: [
    {
      id: "trading",
      version: 7,
      rules: [
        {
          id: "oversized",
          match: { action: "OPEN_POSITION" },
          conditions: { path: "context.notional", operator: "greaterThan", value: 1_000_000 },
          outcome: "BLOCK",
          reason_codes: ["NOTIONAL_LIMIT_EXCEEDED"],
          explanation: "Notional above 1,000,000",
        },
        {
          id: "large",
          match: { action: "OPEN_POSITION" },
          conditions: { path: "context.notional", operator: "greaterThan", value: 100_000 },
          outcome: "ESCALATE",
          reason_codes: ["LARGE_NOTIONAL"],
          explanation: "Notional above 100,000 needs a person",
        },
        {
          id: "exotic",
          conditions: { path: "parameters.symbol", operator: "matches", value: "^X" },
          outcome: "REVIEW_REQUIRED",
          reason_codes: ["EXOTIC_SYMBOL"],
          explanation: "Exotic symbols are reviewed",
        },
        {
          id: "within-limits",
          match: { action: ["OPEN_POSITION", "CLOSE_POSITION"], actor_type: "TRADING_BOT" },
          outcome: "ALLOW",
          reason_codes: ["WITHIN_LIMITS"],
          explanation: "Within limits",
        },
      ],
      default: { outcome: "BLOCK", reason_codes: ["NO_RULE_MATCHED"], explanation: "No rule allows this" },
    },
    {
      id: "kyc",
      version: "2026-01",
      rules: [
        {
          id: "verified",
          conditions: { path: "context.kyc", operator: "equal", value: "verified" },
          outcome: "ALLOW",
          reason_codes: ["KYC_OK"],
          explanation: "KYC verified",
        },
        {
          id: "missing",
          conditions: { path: "context.kyc", operator: "exists", value: false },
          outcome: "BLOCK",
          reason_codes: ["KYC_MISSING"],
          explanation: "No KYC status",
        },
      ],
      default: { outcome: "REVIEW_REQUIRED", reason_codes: ["KYC_PENDING"], explanation: "KYC pending" },
    },
  ],
};

export interface Harness {
  authority: LocalAuthority;
  client: DecionisClient;
  close(): Promise<void>;
}

/**
 * One authority for the whole test file: started in `beforeAll`, stopped in
 * `afterAll`. The returned object is filled in once the authority runs.
 */
export function useHarness(options: Partial<LocalAuthorityOptions> = {}): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    Object.assign(h, await startHarness(options));
  });
  afterAll(async () => {
    await h.close();
  });
  return h;
}

/** An authority on port 0 and a client with no retries (tests count requests). */
export async function startHarness(options: Partial<LocalAuthorityOptions> = {}): Promise<Harness> {
  const authority = await startLocalAuthority({ policies: POLICIES, ...options });
  const client = clientFor(authority);
  return {
    authority,
    client,
    close: async () => {
      await client.close();
      await authority.stop();
    },
  };
}

/** A client of `authority` with no retries; `options` override. */
export function clientFor(authority: LocalAuthority, options: ClientOptions = {}): DecionisClient {
  return new DecionisClient({
    baseUrl: authority.url,
    apiKey: authority.apiKey,
    tenantId: TENANT,
    system: "broker",
    maxRetries: 0,
    ...options,
  });
}

/** An OPEN_POSITION intent under the trading policy. */
export function order(notional: number, extra: Partial<IntentInput> = {}): IntentInput {
  return {
    actor: { id: "bot_7", type: "TRADING_BOT" },
    action: { type: "OPEN_POSITION", resource: "EURUSD" },
    parameters: { symbol: "EURUSD", qty: notional / 100 },
    context: { notional },
    policyRefs: ["trading"],
    ...extra,
  };
}

export interface RawResponse {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** A raw HTTP call with the authority's key (or `apiKey`). */
export async function call(
  authority: LocalAuthority,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const res = await fetch(authority.url + path, {
    method,
    headers: {
      authorization: `Bearer ${authority.apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Decodes a compact JWS and checks its Ed25519 signature against a JWKS, with node:crypto only. */
export function verifyJws(
  token: string,
  jwks: { keys: JsonWebKey[] },
): { header: Record<string, any>; claims: Record<string, any>; valid: boolean } {
  const [h, c, s] = token.split(".") as [string, string, string];
  const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
  const claims = JSON.parse(Buffer.from(c, "base64url").toString("utf8"));
  const jwk = jwks.keys.find((k) => k["kid"] === header.kid);
  const valid =
    jwk !== undefined &&
    verify(
      null,
      Buffer.from(`${h}.${c}`),
      createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } as JsonWebKey, format: "jwk" }),
      Buffer.from(s, "base64url"),
    );
  return { header, claims, valid };
}

export async function jwksOf(authority: LocalAuthority): Promise<{ keys: JsonWebKey[] }> {
  return (await fetch(authority.jwksUrl)).json() as Promise<{ keys: JsonWebKey[] }>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A valid enforce-and-bind body built by hand (for raw HTTP tests), hashed per
 * protocol 2.2; `mutate` edits the binding before hashing.
 */
export function rawRequest(
  options: {
    idempotencyKey?: string;
    context?: Record<string, unknown>;
    parameters?: Record<string, unknown>;
    policyRefs?: string[];
    capturedAt?: number;
    ttlMs?: number;
  } = {},
): Record<string, unknown> {
  const captured = options.capturedAt ?? Date.now();
  const intentId = uuidv7(captured);
  const binding = {
    protocol_version: "agent-safe.intent/1",
    tenant_id: TENANT,
    intent_id: intentId,
    idempotency_key: options.idempotencyKey ?? intentId,
    captured_at: new Date(captured).toISOString(),
    expires_at: new Date(captured + (options.ttlMs ?? 60_000)).toISOString(),
    actor: { id: "bot_7", type: "TRADING_BOT", runtime: "node" },
    action: { type: "OPEN_POSITION", resource: "EURUSD", parameters: options.parameters ?? { symbol: "EURUSD" } },
    context: options.context ?? { notional: 1_000 },
    downstream_target: { system: "broker", operation: "TradingBot.openPosition" },
  };
  return {
    ...binding,
    intent_hash: intentHash(binding),
    mode: "ENFORCEMENT",
    policy_refs: options.policyRefs ?? ["trading"],
    correlation_id: newCorrelationId(TENANT),
  };
}
