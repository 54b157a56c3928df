/**
 * An in-process authority for the enforcer's unit tests: a DecisionGateway with
 * every optional method, answering with real EdDSA grants signed by the test
 * key, so a client with `authorityKeys: jwks` verifies them for real. Each
 * method records what it was sent; each answer can be replaced per test.
 * (The HTTP suites drive the same pipeline over a socket; these tests pin the
 * enforcer's own checks, many per second.)
 */
import { randomUUID } from "node:crypto";
import {
  DecionisClient,
  InMemoryReplayStore,
  type ClientOptions,
  type DecisionGateway,
  type EnforceRequest,
  type GatewayCallOptions,
  type IntentInput,
} from "../../src/index.js";
import { jwks, signGrant } from "../helpers/test-authority.js";

export { jwks, signGrant };

type Wire = EnforceRequest["request"];

/** The claims of a correct grant for `decision`, answering `req`. */
export function claimsFor(req: Wire, decision: Record<string, unknown>): Record<string, unknown> {
  return {
    iss: "fake-authority",
    jti: `jti_${randomUUID()}`,
    decision_id: decision["decision_id"],
    dossier_id: decision["dossier_id"],
    tenant_id: req.tenant_id,
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.parse(decision["execution_token_expires_at"] as string) / 1000),
    binding: { intent_hash: req.intent_hash },
  };
}

/**
 * A valid ALLOW for `req`, fields overridden; its grant is signed for the final
 * fields, with `claims` overriding the grant's claims.
 */
export function allow(
  req: Wire,
  overrides: Record<string, unknown> = {},
  claims: Record<string, unknown> = {},
): Record<string, unknown> {
  const decision: Record<string, unknown> = {
    decision_id: `dec_${randomUUID()}`,
    status: "ALLOW",
    should_execute: true,
    reason_codes: ["WITHIN_LIMITS"],
    action_hash: req.intent_hash,
    execution_token: null,
    // Whole seconds, so the grant's `exp` is the same instant.
    execution_token_expires_at: new Date(
      Math.floor(Math.min(Date.now() + 30_000, Date.parse(req.expires_at)) / 1000) * 1000,
    ).toISOString(),
    dossier_id: `dos_${randomUUID()}`,
    dossier_url: "https://fake.test/dossiers/x",
    explanation: "Within limits",
    policy_version: "fake@1",
    escalation_id: null,
    ...overrides,
  };
  if (!("execution_token" in overrides))
    decision["execution_token"] = signGrant({ ...claimsFor(req, decision), ...claims });
  return decision;
}

/** A non-ALLOW decision for `req`. */
export function refuse(req: Wire, status: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return allow(req, {
    status,
    should_execute: false,
    reason_codes: ["LIMIT_EXCEEDED"],
    execution_token: null,
    execution_token_expires_at: null,
    ...overrides,
  });
}

/** An escalation (protocol 3) of `req`. */
export function escalation(
  req: Wire,
  id: string,
  status: string,
  decision: unknown = null,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    escalation_id: id,
    intent_id: req.intent_id,
    action_hash: req.intent_hash,
    status,
    expires_at: req.expires_at,
    reason_codes: ["NEEDS_APPROVAL"],
    decision,
    ...overrides,
  };
}

export class FakeAuthority implements DecisionGateway {
  readonly requests: EnforceRequest[] = [];
  readonly decideOptions: (GatewayCallOptions | undefined)[] = [];
  readonly consumed: Record<string, unknown>[] = [];
  readonly jwksUrls: (string | undefined)[] = [];
  readonly outcomes: { decisionId: string; outcome: unknown }[] = [];
  readonly escalationPolls: string[] = [];
  decide: (req: Wire) => unknown = (req) => allow(req);
  escalate: (id: string, req: Wire) => unknown = (id, req) => escalation(req, id, "PENDING");
  consume: (body: Record<string, unknown>) => unknown = (body) => ({
    valid: true,
    claims: JSON.parse(
      Buffer.from(String(body["execution_token"]).split(".")[1]!, "base64url").toString("utf8"),
    ) as unknown,
  });
  outcome: () => unknown = () => ({ recorded: true });
  /** What getJwks serves. */
  keys: unknown = jwks;

  enforceAndBind(request: EnforceRequest, options?: GatewayCallOptions): Promise<unknown> {
    this.requests.push(request);
    this.decideOptions.push(options);
    return Promise.resolve().then(() => this.decide(request.request));
  }

  getEscalation(id: string): Promise<unknown> {
    this.escalationPolls.push(id);
    return Promise.resolve().then(() => this.escalate(id, this.last));
  }

  consumeToken(body: unknown): Promise<unknown> {
    this.consumed.push(body as Record<string, unknown>);
    return Promise.resolve().then(() => this.consume(body as Record<string, unknown>));
  }

  getJwks(options?: { url?: string }): Promise<unknown> {
    this.jwksUrls.push(options?.url);
    return Promise.resolve(this.keys);
  }

  reportOutcome(decisionId: string, outcome: unknown): Promise<unknown> {
    this.outcomes.push({ decisionId, outcome });
    return Promise.resolve().then(() => this.outcome());
  }

  get last(): Wire {
    const last = this.requests.at(-1);
    if (last === undefined) throw new Error("no request was sent");
    return last.request;
  }
}

/** A client of `gateway` that verifies signatures with the test keys and has its own replay store. */
export function clientOf(gateway: DecisionGateway, options: ClientOptions = {}): DecionisClient {
  return new DecionisClient({
    gateway,
    tenantId: "acme",
    authorityKeys: jwks as never,
    replayStore: new InMemoryReplayStore(),
    circuitBreaker: false,
    ...options,
  });
}

export const intent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
  parameters: { qty: 1000 },
};

/** Awaits `promise` and returns what it rejected with (fails the test if it resolved). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; details?: any }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; details?: any };
  }
  throw new Error("expected a rejection, but the call resolved");
}
