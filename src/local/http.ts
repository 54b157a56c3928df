/**
 * The authority's HTTP face on node:http: routing, the API key, body limits,
 * the 100 KiB response cap and the protocol's error body. Every decision is
 * made in {@link Authority}; this file only translates.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { VERSION } from "../version.js";
import type { Authority } from "./authority.js";
import { verifyDossier } from "../dossier.js";
import { renderDossierPage, renderNotFoundPage, signedDossier } from "./dossier.js";
import { ProtocolError } from "./errors.js";
import { CONTROL } from "./limits.js";

/** Protocol 1: no response is over 100 KiB. */
export const MAX_RESPONSE_BYTES = 100 * 1024;
/** A canonical binding is at most 100 KiB; the siblings and JSON spacing get the rest. */
const MAX_REQUEST_BYTES = 256 * 1024;

export interface HandlerOptions {
  /** Agent keys: ask, poll, consume, report; never approve. */
  apiKeys: readonly string[];
  /** Approver keys: read escalations and dossiers, approve and reject; never ask for decisions. */
  approverKeys: readonly string[];
  /** Told of unexpected failures (never of the API key). */
  log: (message: string) => void;
}

/** Who presented a key: an agent (what the SDK holds) or an approver (a person's tool). */
export type Role = "agent" | "approver";
type Handler = (req: IncomingMessage, match: RegExpExecArray, caller: Caller) => Promise<Reply> | Reply;
interface Caller {
  role: Role | null;
  /** A public name of the key presented: `key:` + the first 12 hex of its SHA-256. */
  keyId: string | null;
}
interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  html?: boolean;
}
interface Route {
  method: string;
  pattern: RegExp;
  /** The roles whose key opens this route; empty: no key needed (probes, the JWKS, the dossier page). */
  roles: readonly Role[];
  /** Admin: loopback peers only. */
  local?: boolean;
  handle: Handler;
}

const ID = "([A-Za-z0-9_-]{1,200})";
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even when too large: leaving the loop early would destroy the socket before the 413 goes out.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  }
  if (size > MAX_REQUEST_BYTES)
    throw new ProtocolError(413, "PAYLOAD_TOO_LARGE", `The request body is over ${MAX_REQUEST_BYTES / 1024} KiB`);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ProtocolError(400, "INVALID_JSON", `The body is not JSON: ${(error as Error).message}`);
  }
}

/** `{ by?, note? }` of an admin call; anything else in the body is refused. */
function approver(body: unknown): { by?: string; note?: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ProtocolError(400, "INVALID_REQUEST", "body: must be an object { by?, note? }", { field: "body" });
  const out: { by?: string; note?: string } = {};
  for (const [key, value] of Object.entries(body)) {
    if (
      (key !== "by" && key !== "note") ||
      typeof value !== "string" ||
      value.length > 500 ||
      (key === "by" && CONTROL.test(value))
    )
      throw new ProtocolError(
        400,
        "INVALID_REQUEST",
        `${key}: must be "by" or "note", a string of at most 500 characters (no control characters in "by")`,
        {
          field: key,
        },
      );
    out[key] = value;
  }
  return out;
}

function routes(authority: Authority): Route[] {
  const notFound = (what: string, id: string) =>
    new ProtocolError(404, `${what.toUpperCase()}_NOT_FOUND`, `No ${what} ${id}`, { [`${what}_id`]: id });
  const dossierOf = (id: string) => {
    const state = authority.dossier(id);
    if (state === undefined) throw notFound("dossier", id);
    return signedDossier(state, authority);
  };
  return [
    {
      method: "POST",
      pattern: /^\/v1\/authority\/enforce-and-bind$/,
      roles: ["agent"],
      handle: async (req) => {
        const body = await readJson(req);
        const { decision, replayed } = await authority.enforce(body, {
          idempotencyKey: header(req, "idempotency-key"),
          correlationId: header(req, "x-correlation-id"),
        });
        return { status: 200, body: decision, headers: replayed ? { "idempotent-replayed": "true" } : {} };
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/authority/escalations/${ID}$`),
      roles: ["agent", "approver"],
      handle: (_req, m) => ({ status: 200, body: authority.escalation(m[1]!) }),
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/authority/escalations/${ID}/(approve|reject)$`),
      roles: ["approver"],
      local: true,
      handle: async (req, m, caller) => {
        const who = { ...approver(await readJson(req)), key: caller.keyId ?? undefined };
        return {
          status: 200,
          body: m[2] === "approve" ? authority.approve(m[1]!, who) : authority.reject(m[1]!, who),
        };
      },
    },
    {
      method: "POST",
      pattern: /^\/v1\/execution\/consume-token$/,
      roles: ["agent"],
      handle: async (req) => {
        const key = idempotencyHeader(req);
        const body = await readJson(req);
        const { answer, replayed } = authority.consume(body, key);
        return { status: 200, body: answer, headers: replayed ? { "idempotent-replayed": "true" } : {} };
      },
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/authority/decisions/${ID}/outcome$`),
      roles: ["agent"],
      handle: async (req, m) => {
        const key = idempotencyHeader(req);
        const { answer, replayed } = authority.outcome(m[1]!, await readJson(req), key);
        return { status: 202, body: answer, headers: replayed ? { "idempotent-replayed": "true" } : {} };
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/protocol/dossiers/${ID}$`),
      roles: ["agent", "approver"],
      handle: (_req, m) => ({ status: 200, body: dossierOf(m[1]!) }),
    },
    {
      method: "GET",
      pattern: /^\/v1\/health$/,
      roles: [],
      handle: () => ({ status: 200, body: { status: "ok", version: VERSION } }),
    },
    {
      method: "GET",
      pattern: /^\/\.well-known\/jwks\.json$/,
      roles: [],
      handle: () => ({ status: 200, body: authority.keys.jwks(), headers: { "cache-control": "public, max-age=60" } }),
    },
    {
      method: "GET",
      pattern: /^\/dossiers\/([^/]*)$/,
      roles: [],
      handle: (_req, m) => {
        const id = m[1]!;
        const state = /^[A-Za-z0-9_-]{1,200}$/.test(id) ? authority.dossier(id) : undefined;
        if (state === undefined) return { status: 404, body: renderNotFoundPage(id), html: true };
        const dossier = signedDossier(state, authority);
        const check = verifyDossier(dossier, authority.keys.jwks());
        return { status: 200, body: renderDossierPage(dossier, check.valid), html: true };
      },
    },
  ];
}

/**
 * Finds the role of a presented key, comparing digests in constant time so the
 * key's length and prefix do not leak through timing. Every known key is
 * compared, whichever matches.
 */
function keyMatcher(apiKeys: readonly string[], approverKeys: readonly string[]): (presented: string) => Caller {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  const known = [
    ...apiKeys.map((k) => ({ role: "agent" as const, digest: digest(k) })),
    ...approverKeys.map((k) => ({ role: "approver" as const, digest: digest(k) })),
  ];
  return (presented) => {
    const d = digest(presented);
    let role: Role | null = null;
    for (const k of known) if (timingSafeEqual(k.digest, d)) role = k.role;
    return { role, keyId: role === null ? null : keyIdOf(presented) };
  };
}

/** A public name for a key: `key:` + 12 hex of its SHA-256, enough to tell keys apart in a history, useless to guess one. */
export function keyIdOf(key: string): string {
  return `key:${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** The `idempotency-key` header of consume and outcome (protocol 4, 6), checked; undefined when absent. */
function idempotencyHeader(req: IncomingMessage): string | undefined {
  const value = header(req, "idempotency-key");
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > 200 || CONTROL.test(value))
    throw new ProtocolError(
      400,
      "INVALID_REQUEST",
      "idempotency-key: must be 1 to 200 characters without control characters",
      { field: "idempotency-key" },
    );
  return value;
}

function send(res: ServerResponse, reply: Reply): void {
  let status = reply.status;
  let text = reply.html ? String(reply.body) : JSON.stringify(reply.body);
  if (!reply.html && Buffer.byteLength(text) > MAX_RESPONSE_BYTES) {
    status = 500;
    text = JSON.stringify(errorBody(new ProtocolError(500, "RESPONSE_TOO_LARGE", "The answer would be over 100 KiB")));
  }
  res.writeHead(status, {
    "content-type": reply.html ? "text/html; charset=utf-8" : "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...(reply.html ? { "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" } : {}),
    ...reply.headers,
  });
  res.end(text);
}

function errorBody(error: ProtocolError): unknown {
  return { error: { code: error.code, message: error.message, details: error.details } };
}

/** The request listener of a local authority. */
export function createHandler(
  authority: Authority,
  options: HandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const table = routes(authority);
  const identify = keyMatcher(options.apiKeys, options.approverKeys);

  const handle = async (req: IncomingMessage): Promise<Reply> => {
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://local").pathname;
    } catch {
      throw new ProtocolError(400, "INVALID_REQUEST_TARGET", "The request target is not a valid path", {
        field: "path",
      });
    }
    let allowed: string[] = [];
    for (const route of table) {
      const match = route.pattern.exec(path);
      if (match === null) continue;
      if (route.method !== req.method) {
        allowed = [...allowed, route.method];
        continue;
      }
      let caller: Caller = { role: null, keyId: null };
      if (route.roles.length > 0) {
        const auth = header(req, "authorization") ?? "";
        caller = auth.startsWith("Bearer ") ? identify(auth.slice(7)) : caller;
        if (caller.role === null)
          throw new ProtocolError(
            401,
            "UNAUTHENTICATED",
            "Missing or unknown API key: send authorization: Bearer <key> with a key this authority was started with",
          );
        if (!route.roles.includes(caller.role))
          throw new ProtocolError(
            403,
            "FORBIDDEN",
            caller.role === "agent"
              ? "An agent key cannot approve or reject escalations: use an approver key (a gated program must not grant itself)"
              : "An approver key can read, approve and reject only: ask for decisions with an agent key",
            { role: caller.role },
          );
      }
      if (route.local === true && !LOOPBACK.test(req.socket.remoteAddress ?? ""))
        throw new ProtocolError(
          403,
          "ADMIN_LOCAL_ONLY",
          "Escalations can be approved or rejected from this machine only",
        );
      return await route.handle(req, match, caller);
    }
    if (allowed.length > 0)
      throw new ProtocolError(405, "METHOD_NOT_ALLOWED", `Use ${allowed.join(" or ")} here`, { allowed });
    throw new ProtocolError(404, "NOT_FOUND", `No such endpoint: ${req.method ?? "?"} ${path}`);
  };

  return (req, res) => {
    handle(req).then(
      (reply) => {
        send(res, reply);
      },
      (error: unknown) => {
        if (!(error instanceof ProtocolError)) {
          options.log(`decionis local: internal error on ${req.method ?? "?"} ${req.url ?? ""}: ${String(error)}`);
          error = new ProtocolError(500, "INTERNAL", "The local authority failed to answer; see its log");
        }
        const problem = error as ProtocolError;
        send(res, { status: problem.status, body: errorBody(problem) });
      },
    );
  };
}
