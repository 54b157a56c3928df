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
import { closest } from "../options.js";
import { Authority, type OutcomeRecord } from "./authority.js";
import { signedDossier, type DossierRecord } from "./dossier.js";
import { LocalAuthorityError } from "./errors.js";
import { Evaluator, type PolicyVerdict } from "./evaluator.js";
import { createHandler } from "./http.js";
import { newApiKey } from "./ids.js";
import { Journal, type JournalLoad } from "./journal.js";
import { lockJournal } from "./lock.js";
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
export type { PolicyCheck, PolicyVerdict } from "./evaluator.js";
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
  /**
   * Agent keys (what the SDK holds), accepted as `authorization: Bearer <key>`:
   * they ask for decisions, poll escalations, consume grants and report
   * outcomes, and can never approve or reject. @default one generated key (see `apiKey`)
   */
  apiKeys?: readonly string[];
  /**
   * Approver keys: read escalations and dossiers, approve and reject (from
   * this machine only); they cannot ask for decisions. Never give one to a
   * gated program. @default one generated key (see `approverKey`)
   */
  approverKeys?: readonly string[];
  /** JSONL journal: reloaded at start, appended on every change. @default none (memory only) */
  journal?: string;
  /** Cut a torn last journal line off (kept in `<journal>.torn`) instead of refusing to start. @default false */
  repairJournal?: boolean;
  /**
   * How long a decision is kept after its last change: its dossier, its
   * idempotency key and its journal lines. Milliseconds, or a duration such
   * as `"7d"`, `"12h"`, `"30m"`; at least 10 minutes (longer than any intent
   * or grant lives). @default "7d"
   */
  retention?: number | string;
  /**
   * Key file (a JWK Set with private parts, see docs/local-authority.md); created when missing.
   * @default with a journal, `<journal>.keys.json` (the journal is signed with it); else none
   */
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
  /** An agent key it accepts: the first of `apiKeys`, or the generated one. */
  readonly apiKey: string;
  /** An approver key it accepts: the first of `approverKeys`, or the generated one. */
  readonly approverKey: string;
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
  /**
   * Drops what is past `retention` and rewrites the journal as a signed
   * snapshot of the rest (atomically). Runs by itself at start and every
   * quarter of the retention period (at most hourly); call it to force one.
   */
  compact(): { dropped: number; kept: number };
  /** How loading the journal went, when there is one: entries read, bytes, milliseconds, decisions kept. */
  readonly journalLoad?: { entries: number; bytes: number; ms: number; decisions: number };
}

const DURATION = /^(\d{1,6})(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MIN_RETENTION_MS = 10 * 60_000;

/** Retention in ms from the option; at least 10 minutes. */
function parseRetention(value: number | string | undefined): number {
  let ms = 7 * UNIT_MS.d;
  if (typeof value === "number") ms = value;
  else if (value !== undefined) {
    const [, n, unit] = DURATION.exec(value)!;
    ms = Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  if (ms < MIN_RETENTION_MS)
    throw new LocalAuthorityError(
      "OPTIONS_INVALID",
      "options.retention: at least 10 minutes (30m): shorter would forget idempotency keys and grants still in use",
      { field: "retention" },
    );
  return ms;
}

const key = z.string().min(8, "must be at least 8 characters").max(500);

/**
 * The options' schema; its keys are the known options. A new option is one
 * line here and one in {@link LocalAuthorityOptions}.
 */
const optionsSchema = z.strictObject({
  policies: z.unknown(),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  apiKeys: z.array(key).min(1).optional(),
  approverKeys: z.array(key).min(1).optional(),
  journal: z.string().min(1).optional(),
  repairJournal: z.boolean().optional(),
  retention: z
    .union([z.number().int().positive(), z.string().regex(DURATION, 'must be a duration such as "7d", "12h" or "30m"')])
    .optional(),
  keyFile: z.string().min(1).optional(),
  keys: z.unknown().optional(),
  grantTtlMs: z.number().int().min(1_000).max(300_000).optional(),
  escalationTtlMs: z.number().int().min(1).optional(),
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  publicUrl: z.url().optional(),
  log: z.function().optional(),
  decide: z.function().optional(),
});
type Settings = LocalAuthorityOptions;
const KNOWN_OPTIONS = Object.keys(optionsSchema.shape);

/**
 * Reads the options from their own properties only (a polluted
 * `Object.prototype` adds nothing) into a null-prototype object, refusing an
 * unknown option by name, as a plain-JavaScript caller needs.
 */
function readOptions(options: unknown): Settings {
  if (typeof options !== "object" || options === null || Array.isArray(options))
    throw new LocalAuthorityError(
      "OPTIONS_INVALID",
      'options: must be an object such as { policies: "./policies.json" }',
    );
  const own: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(name)) {
      const hint = closest(name, KNOWN_OPTIONS);
      throw new LocalAuthorityError(
        "OPTIONS_INVALID",
        `options.${name}: unknown option${hint === undefined ? "" : `; did you mean "${hint}"?`} ` +
          `(known: ${KNOWN_OPTIONS.join(", ")})`,
        { field: name, ...(hint === undefined ? {} : { suggestion: hint }) },
      );
    }
    own[name] = (options as Record<string, unknown>)[name];
  }
  const parsed = optionsSchema.safeParse(own);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".");
    throw new LocalAuthorityError(
      "OPTIONS_INVALID",
      `${field === "" ? "options" : `options.${field}`}: ${issue.message}`,
      {
        field,
      },
    );
  }
  if (!("policies" in own) || own["policies"] === undefined)
    throw new LocalAuthorityError("OPTIONS_INVALID", "options.policies: required (a policies file path or object)", {
      field: "policies",
    });
  // Null prototype again: an option left out must read as undefined, not as a polluted default.
  return own as unknown as Settings;
}

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
export async function startLocalAuthority(input: LocalAuthorityOptions): Promise<LocalAuthority> {
  const options = readOptions(input);
  const log =
    options.log ??
    ((message: string) => {
      console.error(message);
    });
  const policies = loadPolicies(options.policies);
  const evaluator =
    options.decide === undefined ? new Evaluator(policies) : new ScriptedEvaluator(policies, options.decide);
  const retentionMs = parseRetention(options.retention);
  const keys =
    options.keys !== undefined
      ? KeyRing.from(options.keys)
      : options.keyFile !== undefined
        ? KeyRing.load(options.keyFile)
        : options.journal !== undefined
          ? // The journal is signed: its lines must verify with the same keys at the next start.
            KeyRing.load(`${options.journal}.keys.json`)
          : KeyRing.generate();
  const apiKeys = options.apiKeys ?? [newApiKey()];
  const approverKeys = options.approverKeys ?? [newApiKey("dk_approver_")];
  if (apiKeys.some((k) => approverKeys.includes(k)))
    throw new LocalAuthorityError(
      "OPTIONS_INVALID",
      "options.approverKeys: a key is both an agent key and an approver key; an agent must never hold an approver key",
      { field: "approverKeys" },
    );
  const authority = new Authority({
    evaluator,
    keys,
    retentionMs,
    log,
    grantTtlMs: options.grantTtlMs ?? 30_000,
    escalationTtlMs: options.escalationTtlMs,
    latencyMs: options.latencyMs ?? 0,
    now: Date.now,
  });

  const lock = options.journal === undefined ? undefined : lockJournal(options.journal, log);
  let load: JournalLoad | undefined;
  let timer: NodeJS.Timeout | undefined;
  const closeJournal = () => {
    if (timer !== undefined) clearInterval(timer);
    authority.journal?.close();
    lock?.release();
  };
  try {
    if (options.journal !== undefined) {
      const path = options.journal;
      const opened = Journal.open(path, {
        keys,
        repair: options.repairJournal ?? false,
        warn: log,
        onEntry: (entry, line, bytes) => {
          authority.replay(entry, line, bytes, path);
        },
      });
      authority.journal = opened.journal;
      load = opened.load;
      // What expired while stopped goes now, and the journal sheds it.
      if (authority.replayDropped + authority.sweep() > 0) authority.compact();
      timer = setInterval(
        () => {
          try {
            if (authority.sweep() > 0) authority.compact();
          } catch (error) {
            log(`decionis local: journal ${path}: compaction failed (the journal is unchanged): ${String(error)}`);
          }
        },
        Math.min(retentionMs / 4, 3_600_000),
      );
      timer.unref();
    }
  } catch (error) {
    closeJournal();
    throw error;
  }

  const server: Server = createServer(createHandler(authority, { apiKeys, approverKeys, log }));
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
    closeJournal();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = (options.publicUrl ?? `http://${urlHost(host)}:${port}`).replace(/\/+$/, "");
  authority.url = url;

  let stopped: Promise<void> | undefined;
  return {
    url,
    apiKey: apiKeys[0]!,
    approverKey: approverKeys[0]!,
    jwksUrl: `${url}/.well-known/jwks.json`,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => {
          closeJournal();
          resolve();
        });
        server.closeAllConnections();
      })),
    approve: (id, who = {}) => admin(() => authority.approve(id, { by: who.by, note: who.note })),
    reject: (id, who = {}) => admin(() => authority.reject(id, { by: who.by, note: who.note })),
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
    compact: () => authority.compact(),
    ...(load === undefined
      ? {}
      : {
          journalLoad: {
            entries: load.entries,
            bytes: load.bytes,
            ms: Math.round(load.ms),
            decisions: authority.dossiers().length,
          },
        }),
  };
}
