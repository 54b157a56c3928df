/**
 * The one HTTP mapping of SDK errors, shared by the NestJS, Express and Fastify
 * adapters so a gated route answers the same way on each: an RFC 9457 problem
 * document, built from the error's typed fields only. An error's `message`
 * never reaches the response (it may quote what the authority said), and no
 * stack, key, request or `cause` does either.
 */
import {
  BindingMismatchError,
  BlockedError,
  ContractError,
  DecionisError,
  InvalidReceiptError,
  RateLimitError,
  RetryExhaustedError,
  TransportError,
  ValidationError,
  type DecisionStatus,
} from "../index.js";

/** The media type of every mapped response (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * The body of a mapped response: RFC 9457's members (`status` is the HTTP
 * status, as the RFC defines it) and the decision's, in snake_case like the
 * wire protocol. Decision members are always present, `null` when there was no
 * decision (a transport failure, a refused input).
 */
export interface DecionisProblem {
  /** A `tag:` URI naming the kind of problem; stable across versions. */
  type: string;
  /** Short, fixed summary of the kind. */
  title: string;
  /** The HTTP status code. */
  status: number;
  /** What happened, for a person: the authority's explanation, the invalid field, or a fixed sentence. */
  detail: string;
  /** The SDK error's stable `code`, e.g. `DECISION_BLOCK`, `RETRY_EXHAUSTED`, `CIRCUIT_OPEN`. */
  code: string;
  /** `BLOCK`, `ESCALATE`, `REVIEW_REQUIRED` or `ERROR`; `null` without a decision. */
  decision_status: DecisionStatus | null;
  decision_id: string | null;
  reason_codes: string[];
  dossier_url: string | null;
  /** Set on 202: the escalation a person will decide. */
  escalation_id: string | null;
}

/** A response to send: status, headers and the problem document. */
export interface HttpProblem {
  status: number;
  headers: Record<string, string>;
  body: DecionisProblem;
}

const TYPE_BASE = "tag:decionis.com,2026:problem:";

type Kind = { status: number; type: string; title: string; detail: string };

const UNAVAILABLE: Kind = {
  status: 503,
  type: "unavailable",
  title: "Decision unavailable",
  detail: "No decision could be obtained from the decision authority, so nothing ran. Try again later.",
};

/**
 * Maps an error thrown by a gate to the HTTP response it stands for, or
 * `undefined` when it is not an SDK error (leave those to the framework).
 *
 * - BLOCK (also an escalation a person rejected) → 403
 * - ESCALATE / REVIEW_REQUIRED → 202, with `escalation_id` and `dossier_url`
 * - ERROR, a transport failure, retries exhausted, an open circuit (`code`
 *   `CIRCUIT_OPEN`), an escalation wait that timed out → 503 (with
 *   `Retry-After` when the authority sent one)
 * - an answer that failed the SDK's checks (contract, binding, grant) → 502
 * - a `ValidationError` (the intent could not be built from the request) → 400
 * - any other SDK error (a misconfigured client) → 500
 *
 * @example
 * const problem = toHttpProblem(error);
 * if (problem) res.status(problem.status).set(problem.headers).send(JSON.stringify(problem.body));
 */
export function toHttpProblem(error: unknown): HttpProblem | undefined {
  if (!(error instanceof DecionisError)) return undefined;
  const headers: Record<string, string> = {
    "content-type": PROBLEM_CONTENT_TYPE,
    // A decision is about one call at one time: no cache may replay it.
    "cache-control": "no-store",
  };
  const kind = kindOf(error);
  const retryAfterMs = retryAfterOf(error);
  if (kind.status === 503 && retryAfterMs !== undefined)
    headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  const blocked = error instanceof BlockedError ? error : undefined;
  return {
    status: kind.status,
    headers,
    body: {
      type: TYPE_BASE + kind.type,
      title: kind.title,
      status: kind.status,
      detail: kind.detail,
      code: error.code,
      decision_status: blocked?.status ?? null,
      decision_id: blocked?.decisionId ?? null,
      reason_codes: blocked === undefined ? [] : [...blocked.reasonCodes],
      dossier_url: blocked?.dossierUrl ?? null,
      escalation_id: blocked?.escalationId ?? stringDetail(error, "escalationId"),
    },
  };
}

function kindOf(error: DecionisError): Kind {
  if (error instanceof BlockedError) {
    const why = error.explanation ?? undefined;
    switch (error.status) {
      case "ESCALATE":
      case "REVIEW_REQUIRED":
        return {
          status: 202,
          type: "escalated",
          title: "Decision pending review",
          detail:
            (why === undefined ? "" : `${why}. `) +
            "The action needs a person's approval and has not run; it was not queued: ask again once approved.",
        };
      case "ERROR":
        return { ...UNAVAILABLE, type: "decision-error", detail: why ?? UNAVAILABLE.detail };
      default:
        return {
          status: 403,
          type: "blocked",
          title: "Action blocked",
          detail: why ?? "The decision authority blocked this action; nothing ran.",
        };
    }
  }
  if (error instanceof ValidationError)
    return { status: 400, type: "invalid-request", title: "Invalid request", detail: error.message };
  // Matched on the code, not the class: any copy of the SDK that has circuits says it this way.
  if (error.code === "CIRCUIT_OPEN") return { ...UNAVAILABLE, type: "circuit-open" };
  if (error instanceof TransportError || error instanceof RetryExhaustedError || error.code === "ESCALATION_TIMEOUT")
    return UNAVAILABLE;
  if (error instanceof ContractError || error instanceof BindingMismatchError || error instanceof InvalidReceiptError)
    return {
      status: 502,
      type: "untrusted-answer",
      title: "Decision not trusted",
      detail: "The decision authority's answer failed verification, so nothing ran.",
    };
  return {
    status: 500,
    type: "gate-failure",
    title: "Gate failure",
    detail: "The gate could not ask for a decision, so nothing ran.",
  };
}

/** The authority's `Retry-After`, on a 429 or on the last attempt of exhausted retries. */
function retryAfterOf(error: DecionisError): number | undefined {
  const last = error instanceof RetryExhaustedError ? error.cause : error;
  if (last instanceof RateLimitError) return last.retryAfterMs;
  const fromDetails = last.details["retryAfterMs"];
  return typeof fromDetails === "number" && Number.isFinite(fromDetails) && fromDetails > 0 ? fromDetails : undefined;
}

function stringDetail(error: DecionisError, key: string): string | null {
  const value = error.details[key];
  return typeof value === "string" ? value : null;
}
