/**
 * What the agent adapters (`decionis/ai`, `decionis/openai-agents`,
 * `decionis/mcp`, `decionis/langchain`) share.
 *
 * An agent framework looks at a tool call twice: once to ask whether it needs
 * a person's approval, once to run it. Both must see ONE decision, so the tool
 * call id becomes the intent's idempotency key and the decision asked at the
 * first look is remembered (per client, in memory; optionally in a store that
 * outlives the process) until the second look runs it. Running goes through
 * the client's own `execute` / `waitForDecision`: there is no second
 * enforcement path here, only bookkeeping and the words the model reads.
 */
import { createHash } from "node:crypto";
import { packageRequire } from "../../gateway/peer.js";
import {
  BindingMismatchError,
  BlockedError,
  ConfigurationError,
  DecionisError,
  canonicalJson,
  getDefaultClient,
  isDecionisError,
  type DecionisClient,
  type Decision,
  type GateOptions,
} from "../../index.js";
import { gateIntent } from "../../gate/gate.js";

/** One tool call, as the framework names it. */
export interface ToolCall {
  /** The framework's id of this call (`toolCallId`, `callId`): the intent's idempotency key. */
  readonly id: string | undefined;
  /** The tool's name. */
  readonly toolName: string;
}

/**
 * Where escalated tool calls are remembered so that a run paused for a person
 * can resume in another process (a Redis hash, a table, a file). Values are
 * small JSON strings with no secret in them. Any method may be async.
 *
 * @example
 * const store: EscalationStore = {
 *   get: (key) => redis.get(key) ?? undefined,
 *   set: (key, value, ttlMs) => redis.set(key, value, "PX", ttlMs),
 *   delete: (key) => redis.del(key),
 * };
 */
export interface EscalationStore {
  get(key: string): string | undefined | null | Promise<string | undefined | null>;
  set(key: string, value: string, ttlMs: number): unknown;
  delete(key: string): unknown;
}

type ToolArgs<I> = [input: I, call: ToolCall];

/**
 * A gate's options for a tool: every resolver gets the tool's input and the
 * {@link ToolCall}. Defaults differ from `gate()`'s where a tool says more:
 * `action`, `resource` and `target.operation` default to the tool's name,
 * `parameters` to the input itself, `idempotencyKey` to the tool call id.
 * `escalation` is not an option: the framework's approval flow handles it.
 *
 * @example
 * { client, actor: { id: "support-agent", type: "AI_AGENT" }, policy: "agent-tools",
 *   action: "ISSUE_REFUND", resource: (input) => `order:${input.orderId}` }
 */
export type ToolGateOptions<I = any> = Omit<GateOptions<ToolArgs<I>>, "action" | "escalation"> & {
  /** Action type, e.g. `"ISSUE_REFUND"`. @default the tool's name */
  action?: GateOptions<ToolArgs<I>>["action"];
  /** Keeps escalated calls across a process restart. @default this process's memory only */
  store?: EscalationStore;
};

/** What the authority's answer means for the framework. */
export type ToolCallVerdict =
  /** Run it (after the framework's own checks). */
  | { readonly kind: "allow"; readonly decision: Decision }
  /** Deny it: BLOCK, or a review nobody can take (no escalation id). The model reads {@link refusalText}. */
  | { readonly kind: "block"; readonly decision: Decision }
  /** Ask a person through the framework, then run only with the authority's grant. */
  | {
      readonly kind: "approval";
      readonly escalationId: string;
      readonly actionHash: string;
      /** Absent when the verdict was read back from an {@link EscalationStore}. */
      readonly decision: Decision | undefined;
      readonly facts: RefusalFacts;
    }
  /** ERROR, a transport failure, an open circuit, bad input: do not run; the framework reports a tool error. */
  | { readonly kind: "error"; readonly error: DecionisError };

/** The parts of a decision the model may read. */
export type RefusalFacts = Pick<
  Decision,
  "status" | "decisionId" | "reasonCodes" | "explanation" | "dossierUrl" | "escalationId"
>;

/**
 * Tells a decision apart: ALLOW, BLOCK, an escalation a person can approve,
 * or an error (ERROR or anything unknown).
 */
export function verdictOf(decision: Decision): ToolCallVerdict {
  if (decision.allowed) return { kind: "allow", decision };
  switch (decision.status) {
    case "BLOCK":
      return { kind: "block", decision };
    case "ESCALATE":
    case "REVIEW_REQUIRED":
      return decision.escalationId === null
        ? { kind: "block", decision }
        : {
            kind: "approval",
            escalationId: decision.escalationId,
            actionHash: decision.actionHash,
            decision,
            facts: decision,
          };
    default:
      return { kind: "error", error: new BlockedError(decision) };
  }
}

/**
 * The verdict for an error raised while asking: SDK errors (transport, open
 * circuit, validation, contract) become `error`; anything else — an abort, a
 * framework's control-flow exception — is rethrown untouched.
 *
 * @throws `error` itself when it is not an SDK error.
 */
export function verdictOfError(error: unknown): ToolCallVerdict {
  if (error instanceof BlockedError) return verdictOf(error.decision);
  if (isDecionisError(error)) return { kind: "error", error };
  throw error;
}

/** True for a decision-like object (a `Decision`, a `BlockedError`, stored facts). */
function isFacts(value: unknown): value is RefusalFacts {
  return typeof value === "object" && value !== null && "status" in value && "reasonCodes" in value;
}

const MAX_EXPLANATION = 500;

/**
 * The text the model reads when a tool call did not run: status, reason codes,
 * explanation, dossier URL and escalation id, and what to do next. Never the
 * API key, never a stack, never a transport error's details (only its code).
 *
 * @example
 * refusalText(blockedError)
 * // "Not done: Decionis blocked this tool call (BLOCK). Reason codes: REFUND_LIMIT_EXCEEDED.
 * //  Why: Refunds above 1,000 are not allowed. Dossier: https://…/dossiers/dos_…. Decision: dec_…. …"
 */
export function refusalText(subject: unknown): string {
  if (typeof subject === "object" && subject !== null && "kind" in subject) {
    const verdict = subject as ToolCallVerdict;
    switch (verdict.kind) {
      case "approval":
        return describe(verdict.facts, undefined);
      case "error":
        return refusalText(verdict.error);
      default:
        return describe(verdict.decision, undefined);
    }
  }
  if (subject instanceof BlockedError) return describe(subject, subject.escalationStatus ?? undefined);
  if (isFacts(subject)) return describe(subject, undefined);
  const code = isDecionisError(subject) ? ` (${subject.code})` : "";
  return `Not done: the tool did not run because Decionis could not decide${code}. Nothing ran; try again later or ask a person.`;
}

function describe(facts: RefusalFacts, escalationStatus: string | undefined): string {
  const escalation = facts.escalationId ?? undefined;
  let head: string;
  let next: string;
  if (escalationStatus !== undefined) {
    head = `Not done: the person asked through Decionis did not approve this tool call (escalation ${escalation ?? "?"} ${escalationStatus}).`;
    next = "Do not retry it unchanged.";
  } else if (facts.status === "BLOCK") {
    head = "Not done: Decionis blocked this tool call (BLOCK).";
    next = "Do not retry it unchanged; change the request or ask a person.";
  } else if ((facts.status === "ESCALATE" || facts.status === "REVIEW_REQUIRED") && escalation !== undefined) {
    head = `Waiting for a person: Decionis sent this tool call for approval (${facts.status}, escalation ${escalation}).`;
    next = "It runs only once a person approves it.";
  } else if (facts.status === "ESCALATE" || facts.status === "REVIEW_REQUIRED") {
    head = `Not done: Decionis requires a person (${facts.status}) and opened no escalation for this tool call.`;
    next = "Ask a person.";
  } else {
    head = `Not done: Decionis could not decide on this tool call (${facts.status}).`;
    next = "Nothing ran; try again later or ask a person.";
  }
  const parts = [head];
  if (facts.reasonCodes.length > 0) parts.push(`Reason codes: ${facts.reasonCodes.join(", ")}.`);
  if (facts.explanation !== null && facts.explanation !== "")
    parts.push(`Why: ${facts.explanation.slice(0, MAX_EXPLANATION)}${/[.!?]$/.test(facts.explanation) ? "" : "."}`);
  if (facts.dossierUrl !== null) parts.push(`Dossier: ${facts.dossierUrl}`);
  parts.push(`Decision: ${facts.decisionId}.`, next);
  return parts.join(" ");
}

/** Printable ASCII without spaces, 1–180 characters: what travels unchanged in the `idempotency-key` header. */
const KEY_SAFE = /^[\x21-\x7e]{1,180}$/;

/**
 * The intent's idempotency key for a tool call id: the id itself when it can
 * travel in a header, else `tool-call:<sha256 hex of the id>`.
 *
 * @example idempotencyKeyFor("call_8fK2") // "call_8fK2"
 */
export function idempotencyKeyFor(toolCallId: string): string {
  return KEY_SAFE.test(toolCallId)
    ? toolCallId
    : `tool-call:${createHash("sha256").update(toolCallId, "utf8").digest("hex")}`;
}

// ---------------------------------------------------------------------------
// The ledger: one decision per tool call, between the approval check and the run.

interface Entry {
  readonly at: number;
  /** Canonical JSON of the input the decision was asked for. */
  readonly input: string;
  readonly verdict: Promise<ToolCallVerdict>;
}

/** An intent lives at most 5 minutes; past that no grant of its decision can run. */
const ENTRY_TTL_MS = 6 * 60_000;
/** Bounds memory when calls are checked and never run (denied in the framework, abandoned). */
const MAX_ENTRIES = 10_000;
/** One ledger per client: tool objects may be rebuilt per request; the client lives on. */
const ledgers = new WeakMap<DecionisClient, Map<string, Entry>>();

function ledgerOf(client: DecionisClient): Map<string, Entry> {
  let ledger = ledgers.get(client);
  if (ledger === undefined) ledgers.set(client, (ledger = new Map<string, Entry>()));
  return ledger;
}

function remember(ledger: Map<string, Entry>, key: string, entry: Entry): void {
  ledger.delete(key);
  ledger.set(key, entry);
  // Insertion order is age order: drop from the front.
  for (const [oldKey, old] of ledger) {
    if (ledger.size <= MAX_ENTRIES && entry.at - old.at < ENTRY_TTL_MS) break;
    ledger.delete(oldKey);
  }
}

interface StoredEscalation {
  v: 1;
  escalationId: string;
  actionHash: string;
  input: string;
  facts: RefusalFacts;
}

const storeKey = (key: string): string => `decionis:tool-call:${key}`;
const digest = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

function isPlainObject(value: unknown): value is object {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Per-look options of {@link ToolCallGate.verdict} and {@link ToolCallGate.run}. */
export interface ToolCallOptions {
  /** Aborts asking and waiting; the look rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /**
   * Refuse (`BindingMismatchError`) when this look's input differs from the
   * one the decision was asked for. Off only where the framework itself binds
   * the approval to the unchanged call and hands each look another form of
   * the same input (OpenAI Agents: schema-normalised data, then the raw JSON).
   * @default true
   */
  compareInput?: boolean;
}

/**
 * The gate of one tool: asks for the decision of a tool call once, and runs
 * the tool under it once. Adapters call {@link ToolCallGate.verdict} from the
 * framework's approval check and {@link ToolCallGate.run} from the tool's
 * execution.
 *
 * @example
 * const gate = new ToolCallGate(options, "issueRefund");
 * const verdict = await gate.verdict(input, { id: toolCallId, toolName: "issueRefund" });
 * await gate.run(input, call, () => original.execute(input));
 */
export class ToolCallGate<I = any> {
  readonly #options: ToolGateOptions<I>;
  readonly #gateOptions: GateOptions;
  readonly toolName: string;

  /** @throws {@link ConfigurationError} for options that are not an object, or no action and no tool name. */
  constructor(options: ToolGateOptions<I>, toolName: string | undefined) {
    if (typeof options !== "object" || (options as unknown) === null)
      throw new ConfigurationError("options", "a gated tool needs gate options: { client, actor, action, ... }");
    const name = toolName ?? "";
    if (options.action === undefined && name === "")
      throw new ConfigurationError(
        "action",
        'this tool has no name: give its gate an `action`, e.g. action: "ISSUE_REFUND"',
      );
    this.toolName = name;
    this.#options = options;
    const rest: Partial<ToolGateOptions<I>> = { ...options };
    delete rest.store;
    this.#gateOptions = {
      ...rest,
      action: options.action ?? name,
      resource: options.resource ?? (name === "" ? undefined : name),
      parameters: options.parameters ?? ((input: unknown) => (isPlainObject(input) ? input : { input })),
      idempotencyKey:
        options.idempotencyKey ?? ((_input: unknown, call: ToolCall) => call.id && idempotencyKeyFor(call.id)),
      target: { operation: name === "" ? "tool" : name, ...options.target },
    } as GateOptions;
  }

  #client(): DecionisClient {
    return this.#options.client ?? getDefaultClient();
  }

  /**
   * The decision on this tool call: asked the first time, then the same one
   * until the call runs. Never throws for SDK errors (they are the `error`
   * verdict); rethrows an abort or any foreign exception untouched.
   */
  async verdict(input: I, call: ToolCall, options: ToolCallOptions = {}): Promise<ToolCallVerdict> {
    const { signal, compareInput = true } = options;
    let client: DecionisClient;
    let intent;
    let canonical: string;
    try {
      client = this.#client();
      intent = gateIntent(this.#gateOptions, [input, call], this.#gateOptions.target?.operation ?? "tool");
      canonical = canonicalJson(input ?? null, "input");
    } catch (error) {
      return verdictOfError(error);
    }
    const key = intent.idempotencyKey;
    const ledger = ledgerOf(client);
    const known = key === undefined ? undefined : ledger.get(key);
    if (known !== undefined && Date.now() - known.at < ENTRY_TTL_MS) {
      if (compareInput && known.input !== canonical)
        return {
          kind: "error",
          error: new BindingMismatchError(digest(known.input), digest(canonical), "tool call input"),
        };
      return known.verdict;
    }
    const asked = this.#ask(client, intent, key, canonical, signal);
    if (key !== undefined) {
      remember(ledger, key, { at: Date.now(), input: canonical, verdict: asked });
      // A foreign exception (an abort) is not a decision: forget it so the call can be asked again.
      asked.catch(() => {
        if (ledger.get(key)?.verdict === asked) ledger.delete(key);
      });
    }
    return asked;
  }

  async #ask(
    client: DecionisClient,
    intent: ReturnType<typeof gateIntent>,
    key: string | undefined,
    canonical: string,
    signal: AbortSignal | undefined,
  ): Promise<ToolCallVerdict> {
    const store = this.#options.store;
    try {
      if (store !== undefined && key !== undefined) {
        const saved = await store.get(storeKey(key));
        if (typeof saved === "string") return restore(saved, canonical);
      }
      const decision = await client.decide(intent, {
        ...(signal === undefined ? {} : { signal }),
        ...(this.#options.verify === undefined ? {} : { verify: this.#options.verify }),
      });
      const verdict = verdictOf(decision);
      if (verdict.kind === "approval" && store !== undefined && key !== undefined) {
        const record: StoredEscalation = {
          v: 1,
          escalationId: verdict.escalationId,
          actionHash: verdict.actionHash,
          input: digest(canonical),
          facts: pickFacts(decision),
        };
        await store.set(storeKey(key), JSON.stringify(record), ENTRY_TTL_MS);
      }
      return verdict;
    } catch (error) {
      return verdictOfError(error);
    }
  }

  /**
   * Runs `fn` once under this tool call's decision: at once on ALLOW; after
   * the authority grants the escalation (`waitForDecision`) when a person had
   * to approve. Anything else runs nothing and throws: `BlockedError` for
   * BLOCK, the SDK error for ERROR / transport / open circuit.
   *
   * @throws {@link BlockedError}, {@link BindingMismatchError}, transport and grant errors; the signal's reason on abort.
   */
  async run<R>(input: I, call: ToolCall, fn: () => R, options: ToolCallOptions = {}): Promise<Awaited<R>> {
    const { signal } = options;
    const client = this.#client();
    const { reportOutcome, waitTimeoutMs, verify } = this.#options;
    if ((this.#options.mode ?? "ENFORCEMENT") === "SHADOW")
      return client.enforce(gateIntent(this.#gateOptions, [input, call], this.toolName || "tool"), {
        mode: "SHADOW",
        execute: fn,
      });
    const verdict = await this.verdict(input, call, options);
    // Spent: a second run of this call asks again, and the authority refuses a reused key.
    this.#forget(client, input, call);
    const execOptions = reportOutcome === undefined ? {} : { reportOutcome };
    switch (verdict.kind) {
      case "allow":
        return client.execute(verdict.decision, fn, execOptions);
      case "approval": {
        const granted = await client.waitForDecision(verdict.decision ?? verdict.escalationId, {
          ...(signal === undefined ? {} : { signal }),
          ...(waitTimeoutMs === undefined ? {} : { timeoutMs: waitTimeoutMs }),
          ...(verify === undefined ? {} : { verify }),
        });
        if (granted.actionHash !== verdict.actionHash)
          throw new BindingMismatchError(verdict.actionHash, granted.actionHash, "escalation action_hash");
        await this.#unstore(input, call);
        return client.execute(granted, fn, execOptions);
      }
      case "block":
        throw new BlockedError(verdict.decision);
      default:
        throw verdict.error;
    }
  }

  #keyOf(input: I, call: ToolCall): string | undefined {
    try {
      return gateIntent(this.#gateOptions, [input, call], this.toolName || "tool").idempotencyKey;
    } catch {
      return undefined;
    }
  }

  #forget(client: DecionisClient, input: I, call: ToolCall): void {
    const key = this.#keyOf(input, call);
    if (key !== undefined) ledgerOf(client).delete(key);
  }

  async #unstore(input: I, call: ToolCall): Promise<void> {
    const key = this.#keyOf(input, call);
    if (this.#options.store !== undefined && key !== undefined) await this.#options.store.delete(storeKey(key));
  }
}

function pickFacts(d: RefusalFacts): RefusalFacts {
  return {
    status: d.status,
    decisionId: d.decisionId,
    reasonCodes: [...d.reasonCodes],
    explanation: d.explanation,
    dossierUrl: d.dossierUrl,
    escalationId: d.escalationId,
  };
}

/** An escalation read back from a store: trusted only for the same input. */
function restore(saved: string, canonical: string): ToolCallVerdict {
  let record: StoredEscalation;
  try {
    record = JSON.parse(saved) as StoredEscalation;
  } catch {
    throw new ConfigurationError("store", "the escalation store returned a value that is not JSON; nothing ran");
  }
  if (record.v !== 1 || typeof record.escalationId !== "string" || typeof record.actionHash !== "string")
    throw new ConfigurationError(
      "store",
      "the escalation store returned a record this version cannot read; nothing ran",
    );
  if (record.input !== digest(canonical))
    return { kind: "error", error: new BindingMismatchError(record.input, digest(canonical), "tool call input") };
  return {
    kind: "approval",
    escalationId: record.escalationId,
    actionHash: record.actionHash,
    decision: undefined,
    facts: record.facts,
  };
}

// ---------------------------------------------------------------------------
// Optional peers: an adapter names the package it needs when it is missing.

/**
 * Checks, when an adapter is imported, that its framework can be resolved
 * from here, so the failure names the package to install instead of
 * surfacing later as an undefined property.
 *
 * @throws {@link ConfigurationError} naming the package and the install command.
 */
export function requirePeer(pkg: string, adapter: string, range: string): void {
  const load = packageRequire();
  if (load === undefined) return; // no location to resolve from (a bundle): the framework import reports it
  const resolve = (id: string): string => load.resolve(id);
  try {
    resolve(pkg);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Present but ESM-only or without a "." export for require: installed all the same.
    if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return;
    throw new ConfigurationError(
      pkg,
      `${adapter} needs the package "${pkg}" (${range}), which is not installed. Install it: npm install ${pkg}`,
      { package: pkg, range },
    );
  }
}
