/**
 * decionis/keon/testing — a small Keon Runtime API v1 server for tests, demos
 * and examples, on 127.0.0.1. It checks requests as Keon does (credential,
 * correlation id, receipt rules), decides with a function you give it, and can
 * be told to answer the next calls with faults (5xx, 429, malformed bodies).
 * Not a Keon runtime: nothing here is governance.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { uuidv7Like } from "./ids.js";
import { CORRELATION_ID_PATTERN, TENANT_ID_PATTERN, type KeonDecideRequest, type KeonExecuteRequest } from "./wire.js";

/** What the decide function returns: a bare decision, or one with its reason and lifetime. */
export type KeonTestDecision =
  | "allow"
  | "deny"
  | {
      decision: "allow" | "deny";
      reason?: string;
      /** Lifetime of the receipt, ms; `null` sends no `expiresAt`. @default the server's `receiptTtlMs` */
      expiresInMs?: number | null;
      appliedPolicies?: string[];
    };

/** Options of {@link startKeonTestServer}. */
export interface KeonTestServerOptions {
  /** The accepted `X-API-Key`. @default a random key, unless `bearerToken` is given */
  apiKey?: string | undefined;
  /** The accepted bearer token. */
  bearerToken?: string | undefined;
  /** Decides a `/decide` request. @default allow everything */
  decide?: (request: KeonDecideRequest) => KeonTestDecision;
  /** The `result` of an execution; what it throws becomes a `failed` execution. @default `{ ok: true }` */
  execute?: (request: KeonExecuteRequest) => unknown;
  /** Lifetime of a receipt, ms. @default 60_000 */
  receiptTtlMs?: number;
  /** Port on 127.0.0.1. @default 0 (a free one) */
  port?: number;
}

/** One request as the server received it. */
export interface KeonTestRequest {
  readonly path: string;
  readonly headers: Readonly<http.IncomingHttpHeaders>;
  /** The parsed JSON body (`undefined` when it was not JSON). */
  readonly body: unknown;
}

/** A scripted answer, sent instead of the real one. */
export interface KeonTestFault {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (wins over `json`). */
  text?: string;
  /** Hold the answer this long, ms (for timeouts). */
  delayMs?: number;
}

/** A running test server. */
export interface KeonTestServer {
  /** Base URL of the runtime API, e.g. `http://127.0.0.1:41234/runtime/v1`. */
  readonly url: string;
  /** The accepted API key (`undefined` with a bearer token). */
  readonly apiKey: string | undefined;
  /** Every request received, in order. */
  readonly requests: readonly KeonTestRequest[];
  /** Receipts issued, by id. */
  readonly receipts: ReadonlyMap<string, Record<string, unknown>>;
  /** Executions performed (the `/execute` calls that ran the action). */
  readonly executions: readonly KeonExecuteRequest[];
  /** Answers the next calls to `path` with these, in order, before deciding normally again. */
  fail(path: "decide" | "execute", ...faults: KeonTestFault[]): void;
  stop(): Promise<void>;
}

const BASE = "/runtime/v1";

interface Reply {
  status: number;
  json: unknown;
}

const ok = (data: unknown): Reply => ({ status: 200, json: { success: true, data } });
const fail = (status: number, code: string, message: string, details?: Record<string, unknown>): Reply => ({
  status,
  json: { success: false, error: { code, message, ...(details === undefined ? {} : { details }) } },
});
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Starts a Keon test server on 127.0.0.1.
 *
 * @example
 * const keonServer = await startKeonTestServer({ decide: (r) => (r.action === "DELETE" ? "deny" : "allow") });
 * const keon = createKeonClient({ baseUrl: keonServer.url, apiKey: keonServer.apiKey, tenantId: "acme" });
 * // …
 * await keon.close(); await keonServer.stop();
 */
export async function startKeonTestServer(options: KeonTestServerOptions = {}): Promise<KeonTestServer> {
  const bearer = options.bearerToken;
  const apiKey =
    bearer === undefined ? (options.apiKey ?? `keon_test_${randomUUID().replace(/-/g, "")}`) : options.apiKey;
  const ttl = options.receiptTtlMs ?? 60_000;
  const decide = options.decide ?? ((): KeonTestDecision => "allow");
  const run = options.execute ?? ((): unknown => ({ ok: true }));
  const requests: KeonTestRequest[] = [];
  const executions: KeonExecuteRequest[] = [];
  const receipts = new Map<string, Record<string, unknown>>();
  const used = new Set<string>();
  const faults = new Map<string, KeonTestFault[]>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined;
      }
      const path = (req.url ?? "").startsWith(`${BASE}/`) ? (req.url ?? "").slice(BASE.length + 1) : "";
      requests.push(Object.freeze({ path, headers: { ...req.headers }, body }));
      const fault = faults.get(path)?.shift();
      if (fault !== undefined) {
        const answer = (): void => {
          res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
          res.end(fault.text ?? (fault.json === undefined ? "" : JSON.stringify(fault.json)));
        };
        if (fault.delayMs === undefined) answer();
        else setTimeout(answer, fault.delayMs).unref();
        return;
      }
      const reply = handle(req, path, body);
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply.json));
    });
  });

  /** The real answer to one request. */
  function handle(req: http.IncomingMessage, path: string, body: unknown): Reply {
    if (req.method !== "POST" || (path !== "decide" && path !== "execute"))
      return fail(404, "NOT_FOUND", `No route ${req.method ?? ""} ${req.url ?? ""}`);
    const authorized =
      bearer === undefined ? req.headers["x-api-key"] === apiKey : req.headers.authorization === `Bearer ${bearer}`;
    if (!authorized) return fail(401, "UNAUTHORIZED", "Missing or invalid credential");
    if (typeof body !== "object" || body === null) return fail(400, "VALIDATION_ERROR", "Body is not a JSON object");
    const b = body as Record<string, unknown>;
    const correlationId = b.correlationId;
    if (
      typeof correlationId !== "string" ||
      !CORRELATION_ID_PATTERN.test(correlationId) ||
      req.headers["x-correlation-id"] !== correlationId
    )
      return fail(
        400,
        "INVALID_CORRELATION_ID",
        "correlationId must be t:<tenant>|c:<uuidv7>, also in X-Correlation-Id",
      );
    for (const field of ["tenantId", "actorId", "action"])
      if (typeof b[field] !== "string" || b[field] === "")
        return fail(400, "VALIDATION_ERROR", `${field} is required`, { field });
    if (!TENANT_ID_PATTERN.test(b.tenantId as string) || !correlationId.startsWith(`t:${b.tenantId as string}|c:`))
      return fail(400, "INVALID_CORRELATION_ID", "the correlation id names another tenant");

    if (path === "decide") {
      const r = b as unknown as KeonDecideRequest;
      for (const field of ["resourceType", "resourceId"] as const)
        if (typeof r[field] !== "string" || r[field] === "")
          return fail(400, "VALIDATION_ERROR", `${field} is required`, { field });
      if (typeof r.subjectHash !== "string" || !HEX64.test(r.subjectHash))
        return fail(400, "VALIDATION_ERROR", "subjectHash must be 64 lowercase hex digits", { field: "subjectHash" });
      let answer: KeonTestDecision;
      try {
        answer = decide(r);
      } catch (error) {
        return fail(500, "INTERNAL_ERROR", error instanceof Error ? error.message : "decide failed");
      }
      const d = typeof answer === "string" ? { decision: answer } : answer;
      const now = Date.now();
      const expiresInMs = d.expiresInMs === undefined ? ttl : d.expiresInMs;
      const receipt: Record<string, unknown> = {
        receiptId: `dr-${uuidv7Like(now)}`,
        decision: d.decision,
        correlationId,
        tenantId: r.tenantId,
        actorId: r.actorId,
        decidedAt: new Date(now).toISOString(),
        ...(expiresInMs === null ? {} : { expiresAt: new Date(now + expiresInMs).toISOString() }),
        ...(d.reason === undefined ? {} : { reason: d.reason }),
        appliedPolicies: d.appliedPolicies ?? [],
      };
      receipts.set(receipt.receiptId as string, { ...receipt, action: r.action, subjectHash: r.subjectHash });
      return ok(receipt);
    }

    const r = b as unknown as KeonExecuteRequest;
    const receiptId = r.decisionReceiptId as unknown;
    if (typeof receiptId !== "string" || receiptId === "")
      return fail(400, "MISSING_DECISION_RECEIPT", "decisionReceiptId is required");
    const receipt = receipts.get(receiptId);
    if (receipt === undefined) return fail(400, "INVALID_DECISION_RECEIPT", "Unknown decision receipt");
    if (receipt.decision === "deny")
      return fail(403, "EXECUTION_DENIED", (receipt.reason as string | undefined) ?? "Denied by policy", {
        receiptId,
      });
    if (
      used.has(receiptId) ||
      receipt.tenantId !== r.tenantId ||
      receipt.actorId !== r.actorId ||
      receipt.action !== r.action ||
      (typeof receipt.expiresAt === "string" && Date.parse(receipt.expiresAt) <= Date.now())
    )
      return fail(400, "INVALID_DECISION_RECEIPT", "Receipt used, expired, or for another tenant, actor or action");
    used.add(receiptId);
    executions.push(Object.freeze({ ...r }));
    const executedAt = new Date().toISOString();
    let status = "completed";
    let result: unknown;
    try {
      result = run(r);
    } catch (error) {
      status = "failed";
      result = { error: error instanceof Error ? error.message : String(error) };
    }
    return ok({
      executionId: `exec-${randomUUID()}`,
      correlationId,
      decisionReceiptId: receiptId,
      status,
      ...(result === undefined ? {} : { result }),
      executedAt,
      completedAt: new Date().toISOString(),
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${BASE}`,
    apiKey,
    requests,
    receipts,
    executions,
    fail(path, ...list) {
      faults.set(path, [...(faults.get(path) ?? []), ...list]);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
