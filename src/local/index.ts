/**
 * `decionis/local`: a decision authority in the package, for demos, tests and
 * CI. A real HTTP server that implements the protocol (sections 2 to 6) from a
 * policies file, signs what it grants and keeps what it decided.
 *
 * Held back: the HTTP routing, the journal and the evaluator's internals.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { WireDecision, WireEnforceRequest, WireEscalation } from "../gateway/wire.js";
import { Authority, type OutcomeRecord } from "./authority.js";
import { signedDossier, type DossierRecord } from "./dossier.js";
import { LocalAuthorityError } from "./errors.js";
import { Evaluator, type PolicyVerdict } from "./evaluator.js";
import { createHandler } from "./http.js";
import { newApiKey } from "./ids.js";
import { Journal } from "./journal.js";
import { KeyRing, type KeyFile } from "./keys.js";
import { loadPolicies, type PoliciesFile } from "./policies.js";
import { ProtocolError } from "./errors.js";
import { ScriptedEvaluator, type DecideCallback } from "./scripted.js";

export { LocalAuthorityError, type LocalAuthorityErrorCode } from "./errors.js";
export {
  loadPolicies,
  OUTCOMES,
  type Condition,
  type LeafCondition,
  type Outcome,
  type PoliciesFile,
  type Policy,
  type PolicyRule,
} from "./policies.js";
export type { KeyFile } from "./keys.js";
export type { PolicyVerdict } from "./evaluator.js";
export type { DossierRecord, DossierIntegrity } from "./dossier.js";
export type { OutcomeRecord } from "./authority.js";
export type { DecideCallback, ScriptedOutcome } from "./scripted.js";

/** Options of {@link startLocalAuthority}. Only `policies` is required. */
export interface LocalAuthorityOptions {
  /** A policies file path, or the policies object itself. */
  policies: string | PoliciesFile;
  /** @default 0 (a free port; read it from `url`) */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** API keys accepted as `authorization: Bearer <key>`. @default one generated key (see `apiKey`) */
  apiKeys?: readonly string[];
  /** JSONL journal: reloaded at start, appended on every change. @default none (memory only) */
  journal?: string;
  /** Cut a torn last journal line off (kept in `<journal>.torn`) instead of refusing to start. @default false */
  repairJournal?: boolean;
  /** Key file (a JWK Set with private parts, see docs/local-authority.md); created when missing. */
  keyFile?: string;
  /** The key file's content, instead of `keyFile`. @default one generated key */
  keys?: KeyFile;
  /** Lifetime of an execution grant, ms; never past the intent's `expires_at`. @default 30_000 */
  grantTtlMs?: number;
  /** Lifetime of an escalation, ms; never past the intent's `expires_at`. @default the intent's `expires_at` */
  escalationTtlMs?: number;
  /** Delay added before each decision, ms: to try client timeouts and in-flight idempotency. @default 0 */
  latencyMs?: number;
  /** Base URL put in `dossier_url` and the grants' `iss`, when clients reach the server by another name. */
  publicUrl?: string;
  /** Where warnings and internal errors go. @default console.error */
  log?: (message: string) => void;
  /**
   * Scripted outcomes for tests: asked first for each new decision; `undefined`
   * lets the policies decide. Grants stay real (signed). See `decionis/testing`.
   * @default none
   */
  decide?: DecideCallback;
}

/** One decision as the authority keeps it. */
export interface LocalDecisionRecord {
  /** The decision as answered. */
  readonly decision: WireDecision;
  /** The request, as received and validated. */
  readonly request: WireEnforceRequest;
  readonly decidedAt: string;
  /** What each referenced policy decided. */
  readonly evaluation: readonly PolicyVerdict[];
  /** The escalation, for ESCALATE and REVIEW_REQUIRED. */
  readonly escalation: WireEscalation | null;
  readonly outcome: OutcomeRecord | null;
}

/** Who resolved an escalation, for the dossier's timeline. */
export interface ResolveOptions {
  by?: string;
  note?: string;
}

/** A running local authority. */
export interface LocalAuthority {
  /** e.g. `http://127.0.0.1:8787`: the client's `baseUrl`. */
  readonly url: string;
  /** An API key it accepts: the first of `apiKeys`, or the generated one. */
  readonly apiKey: string;
  /** `<url>/.well-known/jwks.json` */
  readonly jwksUrl: string;
  /** Closes the server and its connections, and the journal. */
  stop(): Promise<void>;
  /**
   * Approves a pending escalation: it becomes GRANT_READY with a fresh ALLOW.
   * @throws {@link LocalAuthorityError} `ESCALATION_NOT_FOUND` / `ESCALATION_NOT_PENDING`
   */
  approve(escalationId: string, options?: ResolveOptions): Promise<WireEscalation>;
  /** Rejects a pending escalation. @throws {@link LocalAuthorityError} as `approve` */
  reject(escalationId: string, options?: ResolveOptions): Promise<WireEscalation>;
  /** Every decision so far (journal included), oldest first. */
  decisions(): LocalDecisionRecord[];
  /** The signed dossier, as `GET /v1/protocol/dossiers/{id}` returns it. */
  dossier(dossierId: string): DossierRecord | undefined;
  /** Starts signing with a new key; older keys stay in the JWKS. Returns the new `kid`. */
  rotateKey(): string;
}

const optionsSchema = z.object({
  policies: z.unknown(),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  apiKeys: z.array(z.string().min(8, "must be at least 8 characters").max(500)).min(1).optional(),
  journal: z.string().min(1).optional(),
  repairJournal: z.boolean().optional(),
  keyFile: z.string().min(1).optional(),
  keys: z.unknown().optional(),
  grantTtlMs: z.number().int().min(1_000).max(300_000).optional(),
  escalationTtlMs: z.number().int().min(1).optional(),
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  publicUrl: z.url().optional(),
  log: z.function().optional(),
  decide: z.function().optional(),
});

function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Runs an admin call; the core's refusal becomes the public error. */
function admin<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    if (
      error instanceof ProtocolError &&
      (error.code === "ESCALATION_NOT_FOUND" || error.code === "ESCALATION_NOT_PENDING")
    )
      return Promise.reject(new LocalAuthorityError(error.code, error.message, error.details));
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * Starts a local decision authority.
 *
 * @example
 * const authority = await startLocalAuthority({ policies: "./policies.json" });
 * const client = new DecionisClient({ baseUrl: authority.url, apiKey: authority.apiKey, tenantId: "acme" });
 * // …
 * await authority.stop();
 *
 * @throws {@link LocalAuthorityError} for a bad policies file, key file or journal, naming the file and the reason.
 */
export async function startLocalAuthority(options: LocalAuthorityOptions): Promise<LocalAuthority> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LocalAuthorityError("OPTIONS_INVALID", `${issue.path.join(".") || "options"}: ${issue.message}`);
  }
  const log =
    options.log ??
    ((message: string) => {
      console.error(message);
    });
  const policies = loadPolicies(options.policies);
  const evaluator =
    options.decide === undefined ? new Evaluator(policies) : new ScriptedEvaluator(policies, options.decide);
  const keys =
    options.keys !== undefined
      ? KeyRing.from(options.keys)
      : options.keyFile !== undefined
        ? KeyRing.load(options.keyFile)
        : KeyRing.generate();
  const opened =
    options.journal === undefined
      ? undefined
      : Journal.open(options.journal, { repair: options.repairJournal ?? false, warn: log });
  const authority = new Authority({
    evaluator,
    keys,
    journal: opened?.journal,
    grantTtlMs: options.grantTtlMs ?? 30_000,
    escalationTtlMs: options.escalationTtlMs,
    latencyMs: options.latencyMs ?? 0,
    now: Date.now,
  });
  try {
    if (opened !== undefined) authority.replay(opened.entries, opened.journal.path);
  } catch (error) {
    opened?.journal.close();
    throw error;
  }

  const apiKeys = options.apiKeys ?? [newApiKey()];
  const server: Server = createServer(createHandler(authority, { apiKeys, log }));
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? "127.0.0.1";
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    opened?.journal.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = (options.publicUrl ?? `http://${urlHost(host)}:${port}`).replace(/\/+$/, "");
  authority.url = url;

  let stopped: Promise<void> | undefined;
  return {
    url,
    apiKey: apiKeys[0]!,
    jwksUrl: `${url}/.well-known/jwks.json`,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => {
          opened?.journal.close();
          resolve();
        });
        server.closeAllConnections();
      })),
    approve: (id, who = {}) => admin(() => authority.approve(id, who)),
    reject: (id, who = {}) => admin(() => authority.reject(id, who)),
    decisions: () =>
      authority.dossiers().map((d) => ({
        decision: authority.present(d.decision),
        request: d.request,
        decidedAt: d.decided_at,
        evaluation: d.trace,
        escalation: d.escalation === null ? null : authority.escalation(d.escalation.escalation_id),
        outcome: d.outcome,
      })),
    dossier: (id) => {
      const state = authority.dossier(id);
      return state === undefined ? undefined : signedDossier(state, authority);
    },
    rotateKey: () => keys.rotate(),
  };
}
