/**
 * Waiting for a person (protocol 3): poll an escalation with exponential
 * backoff and jitter, 500 ms rising to 5 s, bounded by the escalation's
 * expiry, the caller's timeout and an AbortSignal.
 */
import { z } from "zod";
import { DecionisError } from "../errors/base.js";
import { parseOptions } from "../options.js";
import { ContractError } from "../errors/decision.js";
import {
  ESCALATION_TERMINAL_STATUSES,
  wireEscalationSchema,
  type WireDecision,
  type WireEscalation,
} from "../gateway/wire.js";

/** What `onUpdate` is told after each poll. */
export interface EscalationUpdate {
  readonly escalationId: string;
  readonly status: string;
  readonly expiresAt: Date;
  readonly reasonCodes: readonly string[];
}

/** Options of `client.waitForDecision`. */
export interface WaitOptions {
  /** Longest wait, ms. @default until the escalation expires */
  timeoutMs?: number;
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told of every poll. Observes only. */
  onUpdate?: (update: EscalationUpdate) => unknown;
}

/** The wait ended by the caller's timeout, or the escalation's expiry passed with no terminal answer. */
export class EscalationTimeoutError extends DecionisError {
  static override readonly errorName: string = "EscalationTimeoutError";
  readonly escalationId: string;
  readonly lastStatus: string | undefined;
  constructor(escalationId: string, waitedMs: number, lastStatus: string | undefined) {
    super(
      `Escalation ${escalationId} was not decided within ${waitedMs} ms (last status ${lastStatus ?? "unknown"}); nothing ran.`,
      { code: "ESCALATION_TIMEOUT", details: { escalationId, waitedMs, lastStatus } },
    );
    this.escalationId = escalationId;
    this.lastStatus = lastStatus;
  }
}

/** How a wait ended, before the client turns it into a Decision or a BlockedError. */
export type WaitResult =
  | { kind: "granted"; escalation: WireEscalation; decision: WireDecision; raw: Record<string, unknown> }
  | { kind: "refused"; escalation: WireEscalation; raw: Record<string, unknown> };

const TERMINAL = new Set<string>(ESCALATION_TERMINAL_STATUSES);

const waitOptionsSchema = z.object({
  timeoutMs: z.number().int().min(0).optional(),
  signal: z.instanceof(AbortSignal).optional(),
  onUpdate: z.custom<(u: EscalationUpdate) => unknown>((f) => typeof f === "function", "must be a function").optional(),
});

/** @internal Delays between polls: 500 ms doubling to 5 s, each with ±20% jitter. */
export function pollDelay(poll: number, random: () => number = Math.random): number {
  const base = Math.min(5_000, 500 * 2 ** poll);
  return Math.round(base * (0.8 + 0.4 * random()));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Polls until a terminal status, the deadline or an abort.
 * @internal
 */
export async function waitForEscalation(
  escalationId: string,
  fetch: (signal: AbortSignal | undefined) => Promise<unknown>,
  options: WaitOptions,
): Promise<WaitResult> {
  parseOptions(waitOptionsSchema, options);
  const started = Date.now();
  const callerDeadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + options.timeoutMs;
  let lastStatus: string | undefined;
  for (let poll = 0; ; poll++) {
    if (options.signal?.aborted) throw options.signal.reason;
    const body = await fetch(options.signal);
    const parsed = wireEscalationSchema.safeParse(body);
    if (!parsed.success)
      throw new ContractError(`The authority's escalation ${escalationId} does not match the protocol; nothing ran.`, {
        issues: parsed.error.issues,
      });
    const escalation = parsed.data;
    if (escalation.escalation_id !== escalationId)
      throw new ContractError(
        `The authority answered for escalation ${escalation.escalation_id}, not ${escalationId}.`,
        {
          reason: "ESCALATION_MISMATCH",
        },
      );
    lastStatus = escalation.status;
    const expiresAt = Date.parse(escalation.expires_at);
    try {
      options.onUpdate?.({
        escalationId,
        status: escalation.status,
        expiresAt: new Date(expiresAt),
        reasonCodes: escalation.reason_codes,
      });
    } catch {
      // observes only
    }
    const raw = body as Record<string, unknown>;
    if (escalation.status === "GRANT_READY") {
      if (escalation.decision === null)
        throw new ContractError(`Escalation ${escalationId} is GRANT_READY without a decision; nothing ran.`, {
          reason: "GRANT_WITHOUT_DECISION",
        });
      return { kind: "granted", escalation, decision: escalation.decision, raw };
    }
    if (TERMINAL.has(escalation.status)) return { kind: "refused", escalation, raw };
    // A decision on a status we do not know as terminal is data we cannot read: fail closed.
    if (escalation.decision !== null)
      throw new ContractError(
        `Escalation ${escalationId} carries a decision under status ${escalation.status}; nothing ran.`,
        { reason: "UNKNOWN_ESCALATION_DATA" },
      );
    const now = Date.now();
    const deadline = Math.min(callerDeadline, expiresAt);
    if (now >= deadline) throw new EscalationTimeoutError(escalationId, now - started, lastStatus);
    await sleep(Math.min(pollDelay(poll), deadline - now), options.signal);
    // One last look at the deadline itself, so an approval at the wire is not missed.
  }
}
