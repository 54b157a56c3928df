/**
 * Roles (protocol 7): an agent key never approves or rejects (403 FORBIDDEN),
 * an approver key never asks for decisions; the approver's identity and note
 * go into the escalation history and the dossier; health and the JWKS need no
 * key and say nothing secret.
 */
import { BlockedError } from "../../src/index.js";
import { keyIdOf } from "../../src/local/http.js";
import { startLocalAuthority } from "../../src/local/index.js";
import { call, order, POLICIES, rawRequest, useHarness } from "./helpers.js";

const h = useHarness({ approverKeys: ["approver-key-alice-0001"] });
const APPROVER = { authorization: "Bearer approver-key-alice-0001" };

async function escalate(): Promise<string> {
  const error = await h.client.enforce(order(500_000)).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlockedError);
  return (error as BlockedError).escalationId!;
}

test("an agent key cannot approve or reject: 403 FORBIDDEN, the escalation stays pending", async () => {
  const id = await escalate();
  for (const verb of ["approve", "reject"]) {
    const res = await call(h.authority, "POST", `/v1/authority/escalations/${id}/${verb}`, { by: "bot" });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("FORBIDDEN");
    expect(res.text).not.toContain(h.authority.apiKey);
  }
  const state = await call(h.authority, "GET", `/v1/authority/escalations/${id}`);
  expect(state.json.status).toBe("AWAITING_APPROVER");
});

test("an approver key approves; its identity and note are in the history and the dossier", async () => {
  expect(h.authority.approverKey).toBe("approver-key-alice-0001");
  const id = await escalate();
  const res = await call(
    h.authority,
    "POST",
    `/v1/authority/escalations/${id}/approve`,
    { by: "alice", note: "desk confirmed" },
    APPROVER,
  );
  expect(res.status).toBe(200);
  expect(res.json.status).toBe("GRANT_READY");
  const event = {
    status: "GRANT_READY",
    by: "alice",
    approver_key: keyIdOf("approver-key-alice-0001"),
    note: "desk confirmed",
  };
  expect(res.json.history[1]).toMatchObject(event);
  expect(JSON.stringify(res.json)).not.toContain("approver-key-alice-0001");
  const dossier = await call(h.authority, "GET", `/v1/protocol/dossiers/${res.json.dossier_id as string}`);
  expect(dossier.json.escalation.history[1]).toMatchObject(event);
  const page = await fetch(`${h.authority.url}/dossiers/${res.json.dossier_id as string}`);
  const html = await page.text();
  expect(html).toContain("by alice");
  expect(html).toContain("desk confirmed");
});

test("an approver key cannot ask for decisions, consume or report: 403", async () => {
  const enforce = await call(h.authority, "POST", "/v1/authority/enforce-and-bind", rawRequest(), APPROVER);
  expect(enforce.status).toBe(403);
  expect(enforce.json.error.code).toBe("FORBIDDEN");
  const consume = await call(h.authority, "POST", "/v1/execution/consume-token", {}, APPROVER);
  expect(consume.status).toBe(403);
});

test("the programmatic approve() keeps working", async () => {
  const id = await escalate();
  const approved = await h.authority.approve(id, { by: "ops" });
  expect(approved.status).toBe("GRANT_READY");
});

test("health and the JWKS need no key and carry nothing secret", async () => {
  const health = await fetch(`${h.authority.url}/v1/health`);
  expect(health.status).toBe(200);
  const text = await health.text();
  expect(JSON.parse(text)).toEqual({ status: "ok", version: expect.any(String) });
  const jwks = await fetch(h.authority.jwksUrl);
  expect(jwks.status).toBe(200);
  const keys = (await jwks.json()) as { keys: Record<string, unknown>[] };
  for (const k of keys.keys) expect(k["d"]).toBeUndefined();
  for (const body of [text, JSON.stringify(keys)]) {
    expect(body).not.toContain(h.authority.apiKey);
    expect(body).not.toContain(h.authority.approverKey);
  }
  // Everything else still needs a key.
  expect((await fetch(`${h.authority.url}/v1/authority/escalations/esc_X`)).status).toBe(401);
});

test("a generated approver key differs from the agent key; one key in both lists is refused", async () => {
  const a = await startLocalAuthority({ policies: POLICIES });
  expect(a.approverKey).toMatch(/^dk_approver_/);
  expect(a.approverKey).not.toBe(a.apiKey);
  await a.stop();
  await expect(
    startLocalAuthority({ policies: POLICIES, apiKeys: ["same-key-12345"], approverKeys: ["same-key-12345"] }),
  ).rejects.toMatchObject({ code: "OPTIONS_INVALID" });
});
