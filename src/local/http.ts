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
import { renderDossierPage, signedDossier } from "./dossier.js";
import { ProtocolError } from "./errors.js";

/** Protocol 1: no response is over 100 KiB. */
export const MAX_RESPONSE_BYTES = 100 * 1024;
/** A canonical binding is at most 100 KiB; the siblings and JSON spacing get the rest. */
const MAX_REQUEST_BYTES = 256 * 1024;

export interface HandlerOptions {
  apiKeys: readonly string[];
  /** Told of unexpected failures (never of the API key). */
  log: (message: string) => void;
}

type Handler = (req: IncomingMessage, match: RegExpExecArray) => Promise<Reply> | Reply;
interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  html?: boolean;
}
interface Route {
  method: string;
  pattern: RegExp;
  /** Needs the API key. */
  auth: boolean;
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
    if ((key !== "by" && key !== "note") || typeof value !== "string" || value.length > 500)
      throw new ProtocolError(
        400,
        "INVALID_REQUEST",
        `${key}: must be "by" or "note", a string of at most 500 characters`,
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
      auth: true,
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
      auth: true,
      handle: (_req, m) => ({ status: 200, body: authority.escalation(m[1]!) }),
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/authority/escalations/${ID}/(approve|reject)$`),
      auth: true,
      local: true,
      handle: async (req, m) => {
        const who = approver(await readJson(req));
        return {
          status: 200,
          body: m[2] === "approve" ? authority.approve(m[1]!, who) : authority.reject(m[1]!, who),
        };
      },
    },
    {
      method: "POST",
      pattern: /^\/v1\/execution\/consume-token$/,
      auth: true,
      handle: async (req) => ({ status: 200, body: authority.consume(await readJson(req)) }),
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/authority/decisions/${ID}/outcome$`),
      auth: true,
      handle: async (req, m) => ({ status: 202, body: authority.outcome(m[1]!, await readJson(req)) }),
    },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/protocol/dossiers/${ID}$`),
      auth: true,
      handle: (_req, m) => ({ status: 200, body: dossierOf(m[1]!) }),
    },
    {
      method: "GET",
      pattern: /^\/v1\/health$/,
      auth: true,
      handle: () => ({ status: 200, body: { status: "ok", version: VERSION } }),
    },
    {
      method: "GET",
      pattern: /^\/\.well-known\/jwks\.json$/,
      auth: false,
      handle: () => ({ status: 200, body: authority.keys.jwks(), headers: { "cache-control": "public, max-age=60" } }),
    },
    {
      method: "GET",
      pattern: new RegExp(`^/dossiers/${ID}$`),
      auth: false,
      handle: (_req, m) => {
        const dossier = dossierOf(m[1]!);
        const check = verifyDossier(dossier, authority.keys.jwks());
        return { status: 200, body: renderDossierPage(dossier, check.valid), html: true };
      },
    },
  ];
}

/** Compares digests in constant time, so the key's length and prefix do not leak through timing. */
function keyMatcher(apiKeys: readonly string[]): (presented: string) => boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  const known = apiKeys.map(digest);
  return (presented) => {
    const d = digest(presented);
    let ok = false;
    for (const k of known) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
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
  const accepts = keyMatcher(options.apiKeys);

  const handle = async (req: IncomingMessage): Promise<Reply> => {
    const path = new URL(req.url ?? "/", "http://local").pathname;
    let allowed: string[] = [];
    for (const route of table) {
      const match = route.pattern.exec(path);
      if (match === null) continue;
      if (route.method !== req.method) {
        allowed = [...allowed, route.method];
        continue;
      }
      if (route.auth) {
        const auth = header(req, "authorization") ?? "";
        if (!auth.startsWith("Bearer ") || !accepts(auth.slice(7)))
          throw new ProtocolError(
            401,
            "UNAUTHENTICATED",
            "Missing or unknown API key: send authorization: Bearer <key> with a key this authority was started with",
          );
      }
      if (route.local === true && !LOOPBACK.test(req.socket.remoteAddress ?? ""))
        throw new ProtocolError(
          403,
          "ADMIN_LOCAL_ONLY",
          "Escalations can be approved or rejected from this machine only",
        );
      return await route.handle(req, match);
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
