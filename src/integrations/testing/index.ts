/**
 * `decionis/testing`: test gated code against a real authority in the same
 * process. `createTestAuthority()` starts the local authority on 127.0.0.1:0,
 * lets a `decide(intent)` callback script outcomes, records every intent it
 * was asked about, and hands back a client bound to it. Grants stay real
 * (signed by the authority, verified by the client), so a test exercises the
 * same path as production. Matchers for jest and vitest come with it.
 */
import {
  BlockedError,
  DecionisClient,
  type ClientOptions,
  type DecisionStatus,
  type JsonObject,
  type Mode,
} from "../../index.js";
import {
  startLocalAuthority,
  type LocalAuthority,
  type LocalDecisionRecord,
  type PoliciesFile,
  type ResolveOptions,
  type ScriptedOutcome,
} from "../../local/index.js";
import type { WireEnforceRequest, WireEscalation } from "../../gateway/wire.js";

export type { ScriptedOutcome } from "../../local/index.js";

/** An intent as the authority received it, in the SDK's camelCase. */
export interface RecordedIntent {
  readonly tenantId: string;
  readonly actor: {
    readonly id: string;
    readonly type: string;
    readonly runtime?: string;
    readonly trustLevel?: string;
  };
  readonly action: { readonly type: string; readonly resource: string };
  readonly parameters: JsonObject;
  readonly context: JsonObject;
  readonly policyRefs: readonly string[];
  readonly target: { readonly system: string; readonly operation: string; readonly endpoint?: string };
  readonly idempotencyKey: string;
  readonly correlationId: string;
  readonly intentId: string;
  readonly intentHash: string;
  readonly mode: Mode;
}

/** Any part of a {@link RecordedIntent}, nested objects partial too; values may be asymmetric matchers. */
export type PartialIntent = DeepPartial<RecordedIntent>;
type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Options of {@link createTestAuthority}. All optional. */
export interface TestAuthorityOptions {
  /**
   * A policies file path or object (the local authority's format). Without it
   * every intent the script leaves undecided is allowed.
   * @default allow all
   */
  policies?: string | PoliciesFile;
  /**
   * Scripted outcomes, asked first for each new intent: `"BLOCK"`,
   * `{ status: "ESCALATE", reasonCodes: ["LARGE"] }`, ... or `undefined` to let
   * the policies decide. A throw becomes an ERROR decision.
   * @default none
   */
  decide?: (intent: RecordedIntent) => ScriptedOutcome | Promise<ScriptedOutcome>;
  /** Options of the returned client (its `baseUrl` and `apiKey` are the authority's). @default `{ tenantId: "test_tenant" }` */
  client?: Omit<ClientOptions, "baseUrl" | "apiKey" | "gateway">;
  /** Lifetime of a grant, ms. @default 30_000 */
  grantTtlMs?: number;
  /** Delay before each decision, ms (to try timeouts). @default 0 */
  latencyMs?: number;
}

/** A running test authority and its client. */
export interface TestAuthority {
  /** A client bound to this authority: pass it to `gate({ client })`, `@gated({ client })` or `setDefaultClient`. */
  readonly client: DecionisClient;
  readonly url: string;
  readonly apiKey: string;
  /** Every intent decided since the start (or the last `reset()`), oldest first. */
  readonly intents: readonly RecordedIntent[];
  /** The last intent decided. @throws Error when there is none. */
  lastIntent(): RecordedIntent;
  /** The decisions, as the local authority keeps them. */
  decisions(): LocalDecisionRecord[];
  /** Approves a pending escalation (see `escalation: "wait"`). */
  approve(escalationId: string, options?: ResolveOptions): Promise<WireEscalation>;
  /** Rejects a pending escalation. */
  reject(escalationId: string, options?: ResolveOptions): Promise<WireEscalation>;
  /** Forgets the intents recorded so far (the authority's state stays). */
  reset(): void;
  /** Closes the client, then the authority. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** The underlying local authority. */
  readonly local: LocalAuthority;
}

/** The local authority wants a policies file; without one the script's fallback (ALLOW) decides everything. */
const ALLOW_ALL: PoliciesFile = {
  policies: [
    {
      id: "test-allow-all",
      version: 1,
      rules: [],
      default: { outcome: "ALLOW", reason_codes: ["TEST_ALLOW"], explanation: "Allowed by the test authority" },
    },
  ],
};
const allowed = { status: "ALLOW", reasonCodes: ["TEST_ALLOW"], explanation: "Allowed by the test authority" } as const;

/**
 * Starts a local authority in this process, on 127.0.0.1 and a free port,
 * and returns it with a ready client. Stop it after the test (`stop()`, or `await using`).
 *
 * @example
 * const authority = await createTestAuthority({
 *   decide: (intent) => (intent.parameters.amount as number) > 1000 ? { status: "BLOCK", reasonCodes: ["LIMIT"] } : "ALLOW",
 * });
 * const pay = authority.client.gate(payments.pay, { action: "PAY", actor: { id: "bot", type: "AI_AGENT" } });
 * await expect(pay(5000)).rejects.toBeBlockedWith("BLOCK", "LIMIT");
 * expect(authority).toHaveRequestedDecision({ action: { type: "PAY" }, parameters: { args: [5000] } });
 * await authority.stop();
 *
 * @throws `LocalAuthorityError` for a bad policies file; `ConfigurationError` for bad client options.
 */
export async function createTestAuthority(options: TestAuthorityOptions = {}): Promise<TestAuthority> {
  const { decide, policies } = options;
  const local = await startLocalAuthority({
    policies: policies ?? ALLOW_ALL,
    ...(policies === undefined ? { decide: () => allowed } : {}),
    ...(decide === undefined
      ? {}
      : {
          decide: async (request: WireEnforceRequest) =>
            (await decide(recordedIntent(request))) ?? (policies === undefined ? allowed : undefined),
        }),
    ...(options.grantTtlMs === undefined ? {} : { grantTtlMs: options.grantTtlMs }),
    ...(options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs }),
    log: () => undefined,
  });
  let client: DecionisClient;
  try {
    client = new DecionisClient({
      tenantId: "test_tenant",
      ...options.client,
      baseUrl: local.url,
      apiKey: local.apiKey,
    });
  } catch (error) {
    await local.stop();
    throw error;
  }
  let seen = 0;
  const intents = (): RecordedIntent[] =>
    local
      .decisions()
      .slice(seen)
      .map((d) => recordedIntent(d.request));
  const stop = async (): Promise<void> => {
    await client.close();
    await local.stop();
  };
  const authority: TestAuthority = {
    client,
    url: local.url,
    apiKey: local.apiKey,
    get intents() {
      return intents();
    },
    lastIntent: () => {
      const all = intents();
      if (all.length === 0) throw new Error("The test authority has not been asked for any decision yet");
      return all[all.length - 1]!;
    },
    decisions: () => local.decisions(),
    approve: (id, who) => local.approve(id, who),
    reject: (id, who) => local.reject(id, who),
    reset: () => {
      seen = local.decisions().length;
    },
    stop,
    [Symbol.asyncDispose]: stop,
    local,
  };
  testAuthorities.add(authority);
  return authority;
}

const testAuthorities = new WeakSet();

function recordedIntent(r: WireEnforceRequest): RecordedIntent {
  return {
    tenantId: r.tenant_id,
    actor: {
      id: r.actor.id,
      type: r.actor.type,
      ...(r.actor.runtime === undefined ? {} : { runtime: r.actor.runtime }),
      ...(r.actor.trust_level === undefined ? {} : { trustLevel: r.actor.trust_level }),
    },
    action: { type: r.action.type, resource: r.action.resource },
    parameters: r.action.parameters as JsonObject,
    context: r.context as JsonObject,
    policyRefs: r.policy_refs,
    target: {
      system: r.downstream_target.system,
      operation: r.downstream_target.operation,
      ...(r.downstream_target.endpoint === undefined ? {} : { endpoint: r.downstream_target.endpoint }),
    },
    idempotencyKey: r.idempotency_key,
    correlationId: r.correlation_id,
    intentId: r.intent_id,
    intentHash: r.intent_hash,
    mode: r.mode,
  };
}

/* ----------------------------------------------------------------------------
 * Matchers for jest and vitest: `expect.extend(decionisMatchers)`.
 * -------------------------------------------------------------------------- */

/** The matchers' signatures, to augment jest's or vitest's types with (jest's is done on import). */
export interface DecionisMatchers<R = unknown, T = unknown> {
  /**
   * The error (or, awaited, the promise's rejection) is a `BlockedError` with
   * this status, and this reason code among its reason codes.
   * @example await expect(pay(5000)).toBeBlockedWith("BLOCK", "LIMIT");
   */
  toBeBlockedWith(status: DecisionStatus, reasonCode?: string): T extends PromiseLike<unknown> ? Promise<R> : R;
  /**
   * The test authority was asked about an intent matching this one (a deep
   * partial match; asymmetric matchers such as `expect.any(Number)` work).
   * @example expect(authority).toHaveRequestedDecision({ action: { type: "PAY" } });
   */
  toHaveRequestedDecision(intent: PartialIntent): R;
}

interface MatcherResult {
  pass: boolean;
  message: () => string;
}

interface MatcherThis {
  isNot?: boolean;
}

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
};

function blockedResult(error: unknown, status: DecisionStatus, reasonCode: string | undefined): MatcherResult {
  const wanted = `a BlockedError with status ${status}${reasonCode === undefined ? "" : ` and reason code ${reasonCode}`}`;
  if (!(error instanceof BlockedError))
    return {
      pass: false,
      message: () =>
        `expected ${wanted}, got ${error instanceof Error ? `${error.name}: ${error.message}` : show(error)}`,
    };
  const pass = error.status === status && (reasonCode === undefined || error.reasonCodes.includes(reasonCode));
  return {
    pass,
    message: () =>
      `expected ${pass ? "not " : ""}${wanted}, got status ${error.status} with reason codes ${show(error.reasonCodes)}`,
  };
}

/** Deep partial match: every key of `expected` matches, arrays element by element, asymmetric matchers honoured. */
function matches(actual: unknown, expected: unknown): boolean {
  if (typeof expected === "object" && expected !== null) {
    const asymmetric = (expected as { asymmetricMatch?: unknown }).asymmetricMatch;
    if (typeof asymmetric === "function") return (asymmetric as (v: unknown) => boolean).call(expected, actual);
    if (Array.isArray(expected))
      return (
        Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(actual[i], e))
      );
    if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return false;
    return Object.entries(expected).every(
      ([key, value]) => Object.hasOwn(actual, key) && matches((actual as Record<string, unknown>)[key], value),
    );
  }
  return Object.is(actual, expected);
}

/**
 * The matchers, for `expect.extend(decionisMatchers)` in jest or vitest.
 *
 * @example
 * // in a jest (or vitest) setup file, with decionisMatchers imported from decionis/testing:
 * expect.extend(decionisMatchers);
 */
export const decionisMatchers = {
  toBeBlockedWith(
    this: MatcherThis,
    received: unknown,
    status: DecisionStatus,
    reasonCode?: string,
  ): MatcherResult | Promise<MatcherResult> {
    if (typeof (received as PromiseLike<unknown> | null)?.then === "function")
      return Promise.resolve(received).then(
        (value) => ({
          pass: false,
          message: () =>
            `expected the call to be refused (BlockedError ${status}), but it resolved with ${show(value)}`,
        }),
        (error: unknown) => blockedResult(error, status, reasonCode),
      );
    return blockedResult(received, status, reasonCode);
  },

  toHaveRequestedDecision(this: MatcherThis, received: unknown, intent: PartialIntent): MatcherResult {
    if (typeof received !== "object" || received === null || !testAuthorities.has(received))
      return {
        pass: false,
        message: () => "toHaveRequestedDecision expects the object createTestAuthority() returned",
      };
    const asked = (received as TestAuthority).intents;
    const pass = asked.some((i) => matches(i, intent));
    return {
      pass,
      message: () =>
        pass
          ? `expected no intent matching ${show(intent)}, but one was asked`
          : `expected an intent matching ${show(intent)}; asked: ${asked.length === 0 ? "none" : asked.map((i) => show({ action: i.action, parameters: i.parameters })).join(", ")}`,
    };
  },
};

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    // Same type parameters as @types/jest's declaration, as interface merging requires.
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface Matchers<R, T = {}> extends DecionisMatchers<R, T> {}
  }
}
