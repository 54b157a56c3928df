/**
 * An in-process DecisionGateway for unit tests of the adapters: records each
 * request and answers with `respond` (by default a valid ALLOW bound to the
 * request's hash). Integration tests use a real HTTP server instead.
 */
import type { DecisionGateway, EnforceRequest } from "../../src/index.js";

export function allowAnswer(request: EnforceRequest, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const r = request.request;
  return {
    decision_id: `dec_${r.intent_id}`,
    status: "ALLOW",
    should_execute: true,
    reason_codes: ["WITHIN_LIMITS"],
    action_hash: r.intent_hash,
    execution_token: `header.${r.intent_id}.signature`,
    execution_token_expires_at: new Date(Math.min(Date.now() + 30_000, Date.parse(r.expires_at))).toISOString(),
    dossier_id: `dos_${r.intent_id}`,
    dossier_url: `https://authority.test/dossiers/dos_${r.intent_id}`,
    explanation: "ok",
    policy_version: "p@1",
    escalation_id: null,
    ...overrides,
  };
}

export class MockGateway implements DecisionGateway {
  readonly requests: EnforceRequest[] = [];
  respond: (request: EnforceRequest) => unknown = (request) => allowAnswer(request);

  enforceAndBind(request: EnforceRequest): Promise<unknown> {
    this.requests.push(request);
    return Promise.resolve().then(() => this.respond(request));
  }

  get last(): EnforceRequest {
    const last = this.requests.at(-1);
    if (last === undefined) throw new Error("no request was sent");
    return last;
  }
}
