/**
 * The dossier page as a person reads it: the final state first (an
 * escalation approved and executed reads so, not "ESCALATE"), grants labelled
 * by how they were used, the values each policy test compared; an unknown
 * dossier is an HTML 404.
 */
import { call, rawRequest, useHarness } from "./helpers.js";

const h = useHarness();

const page = async (id: string) => {
  const res = await fetch(`${h.authority.url}/dossiers/${id}`);
  return { status: res.status, type: res.headers.get("content-type"), html: await res.text() };
};
const text = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ");

async function escalatedThenApproved(): Promise<{
  dossierId: string;
  token: string;
  hash: string;
  decisionId: string;
}> {
  const body = rawRequest({ context: { notional: 500_000 } });
  const first = (await call(h.authority, "POST", "/v1/authority/enforce-and-bind", body)).json;
  expect(first.status).toBe("ESCALATE");
  const approved = await call(
    h.authority,
    "POST",
    `/v1/authority/escalations/${first.escalation_id as string}/approve`,
    { by: "alice", note: "desk confirmed" },
    { authorization: `Bearer ${h.authority.approverKey}` },
  );
  const decision = approved.json.decision;
  return {
    dossierId: first.dossier_id,
    token: decision.execution_token,
    hash: body["intent_hash"] as string,
    decisionId: decision.decision_id,
  };
}

test("escalated, approved, consumed and executed: the page leads with EXECUTED, then the first decision", async () => {
  const d = await escalatedThenApproved();
  const approvedOnly = text((await page(d.dossierId)).html);
  expect(approvedOnly).toMatch(
    /^ Dossier .*Decision dossier dos_\w+ .* APPROVED Escalated, approved by alice; not executed yet/,
  );

  await call(h.authority, "POST", "/v1/execution/consume-token", {
    execution_token: d.token,
    intent_hash: d.hash,
    consumed_by: "worker-1",
  });
  const started = text((await page(d.dossierId)).html);
  expect(started).toMatch(/EXECUTION STARTED Escalated, approved by alice, grant consumed at \S+ by worker-1/);

  const at = new Date().toISOString();
  await call(h.authority, "POST", `/v1/authority/decisions/${d.decisionId}/outcome`, {
    status: "SUCCEEDED",
    started_at: at,
    finished_at: at,
  });
  const { status, html } = await page(d.dossierId);
  expect(status).toBe(200);
  const shown = text(html);
  expect(shown).toContain(`EXECUTED Escalated, approved by alice, executed: succeeded at ${at}`);
  // The final state comes before the first answer, which is still shown for what it was.
  expect(shown.indexOf("EXECUTED")).toBeLessThan(shown.indexOf("First decision"));
  expect(shown).toMatch(/First decision Status ESCALATE/);
  expect(shown).toMatch(/consumed at \S+ by worker-1/);
  expect(shown).not.toContain("not consumed");
  // The policy test with the value it compared.
  expect(shown).toContain("context.notional greaterThan 100000 — the intent had 500000");
  expect(html).toContain("<title>Dossier");
  expect(html).toMatch(/<title>[^<]*EXECUTED<\/title>/);
});

test("a grant checked by signature and reported is 'used', not 'not consumed'", async () => {
  const res = (await call(h.authority, "POST", "/v1/authority/enforce-and-bind", rawRequest())).json;
  const at = new Date().toISOString();
  await call(h.authority, "POST", `/v1/authority/decisions/${res.decision_id as string}/outcome`, {
    status: "FAILED",
    started_at: at,
    finished_at: at,
    error: { name: "Error", message: "broker down" },
  });
  const shown = text((await page(res.dossier_id as string)).html);
  expect(shown).toContain(`EXECUTION FAILED Allowed, executed: failed at ${at}`);
  expect(shown).toContain("used: an outcome was reported");
  expect(shown).not.toContain("not consumed");
});

test("a block reads BLOCKED: nothing was allowed to run", async () => {
  const res = (
    await call(h.authority, "POST", "/v1/authority/enforce-and-bind", rawRequest({ context: { notional: 5_000_000 } }))
  ).json;
  expect(text((await page(res.dossier_id as string)).html)).toContain("BLOCKED Nothing was allowed to run");
});

test.each(["dos_UNKNOWN", "%3Cscript%3E", "a.b"])("an unknown dossier page (%s) is an HTML 404", async (id) => {
  const { status, type, html } = await page(id);
  expect(status).toBe(404);
  expect(type).toMatch(/^text\/html/);
  expect(html).toContain("No such dossier");
  expect(html).not.toContain("<script>");
});
