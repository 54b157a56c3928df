/**
 * Escalations (protocol 3): approve, reject, expiry; GRANT_READY carries a
 * fresh ALLOW for the same action hash; the admin routes.
 */
import { BlockedError, type JsonObject } from "../../src/index.js";
import { wireDecisionSchema, wireEscalationSchema } from "../../src/gateway/wire.js";
import { LocalAuthorityError } from "../../src/local/index.js";
import { call, jwksOf, order, sleep, useHarness, verifyJws } from "./helpers.js";

/** Approve and reject need the approver key. */
const asApprover = (path: string, body?: unknown) =>
  call(h.authority, "POST", path, body, { authorization: `Bearer ${h.authority.approverKey}` });

const h = useHarness({ escalationTtlMs: 400 });

async function escalate(context: JsonObject = { notional: 500_000 }): Promise<BlockedError> {
  const error = await h.client.enforce(order(0, { context })).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlockedError);
  return error as BlockedError;
}

const getEscalation = (id: string) => call(h.authority, "GET", `/v1/authority/escalations/${id}`);

test("approve: GRANT_READY with a fresh, signed ALLOW for the same action hash", async () => {
  const blocked = await escalate();
  const pending = await getEscalation(blocked.escalationId!);
  expect(wireEscalationSchema.parse(pending.json)).toMatchObject({
    status: "AWAITING_APPROVER",
    action_hash: blocked.decision.actionHash,
    reason_codes: ["LARGE_NOTIONAL"],
    decision: null,
  });

  const approved = await h.authority.approve(blocked.escalationId!, { by: "alice", note: "client called" });
  expect(approved.status).toBe("GRANT_READY");

  const readyBody = (await getEscalation(blocked.escalationId!)).json;
  const ready = wireEscalationSchema.parse(readyBody);
  const grant = wireDecisionSchema.parse(ready.decision);
  expect(grant).toMatchObject({
    status: "ALLOW",
    should_execute: true,
    action_hash: blocked.decision.actionHash,
    dossier_id: blocked.dossierId,
    escalation_id: blocked.escalationId,
    reason_codes: ["ESCALATION_APPROVED", "LARGE_NOTIONAL"],
  });
  expect(grant.decision_id).not.toBe(blocked.decisionId);
  const { valid, claims } = verifyJws(grant.execution_token!, await jwksOf(h.authority));
  expect(valid).toBe(true);
  expect(claims["binding"]).toEqual({ intent_hash: blocked.decision.actionHash });
  expect(claims["decision_id"]).toBe(grant.decision_id);
  const intent = h.authority.decisions().find((d) => d.decision.decision_id === blocked.decisionId)!.request;
  expect(Date.parse(grant.execution_token_expires_at!)).toBeLessThanOrEqual(Date.parse(intent.expires_at));
  expect(Date.parse(grant.execution_token_expires_at!)).toBeGreaterThan(Date.now());
  expect(readyBody.history).toEqual([
    { status: "AWAITING_APPROVER", at: expect.any(String) },
    { status: "GRANT_READY", at: expect.any(String), by: "alice", note: "client called" },
  ]);

  // Resolved once: a second approval or a rejection is refused.
  await expect(h.authority.approve(blocked.escalationId!)).rejects.toMatchObject({ code: "ESCALATION_NOT_PENDING" });
  const again = await asApprover(`/v1/authority/escalations/${blocked.escalationId!}/reject`, {});
  expect(again.status).toBe(409);
  expect(again.json.error).toMatchObject({ code: "ESCALATION_NOT_PENDING", details: { status: "GRANT_READY" } });
});

test("reject through the admin route: REJECTED, no decision", async () => {
  const blocked = await escalate();
  const rejected = await asApprover(`/v1/authority/escalations/${blocked.escalationId!}/reject`, { by: "bob" });
  expect(rejected.status).toBe(200);
  expect(rejected.json).toMatchObject({ status: "REJECTED", decision: null });
  expect((await getEscalation(blocked.escalationId!)).json.status).toBe("REJECTED");
});

test("REVIEW_REQUIRED is approved the same way, through the admin route", async () => {
  const receipt = await h.client.decide(order(1_000, { parameters: { symbol: "XPTUSD" } }));
  expect(receipt.status).toBe("REVIEW_REQUIRED");
  const approved = await asApprover(`/v1/authority/escalations/${receipt.escalationId!}/approve`);
  expect(approved.status).toBe(200);
  expect(approved.json.decision.status).toBe("ALLOW");
});

test("unanswered, an escalation expires; then it cannot be approved", async () => {
  const blocked = await escalate();
  const pending = (await getEscalation(blocked.escalationId!)).json;
  expect(Date.parse(pending.expires_at) - Date.now()).toBeLessThanOrEqual(400);
  await sleep(450);
  expect((await getEscalation(blocked.escalationId!)).json).toMatchObject({ status: "EXPIRED", decision: null });
  const error = await h.authority.approve(blocked.escalationId!).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(LocalAuthorityError);
  expect(error).toMatchObject({ code: "ESCALATION_NOT_PENDING" });
});

test("unknown escalations: 404 over HTTP, LocalAuthorityError in code", async () => {
  const res = await getEscalation("esc_UNKNOWN");
  expect(res.status).toBe(404);
  expect(res.json.error.code).toBe("ESCALATION_NOT_FOUND");
  await expect(h.authority.reject("esc_UNKNOWN")).rejects.toMatchObject({ code: "ESCALATION_NOT_FOUND" });
});

test("the admin routes need an approver key and accept only { by, note }", async () => {
  const blocked = await escalate();
  const path = `/v1/authority/escalations/${blocked.escalationId!}/approve`;
  expect((await call(h.authority, "POST", path, {}, { authorization: "Bearer nope-nope" })).status).toBe(401);
  const extra = await asApprover(path, { by: "x", grant: true });
  expect(extra.status).toBe(400);
  expect(extra.json.error.details.field).toBe("grant");
  expect((await getEscalation(blocked.escalationId!)).json.status).toBe("AWAITING_APPROVER");
});
