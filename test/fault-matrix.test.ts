/**
 * The fault matrix: one row per fault, each driven through the public API
 * against a real HTTP authority on 127.0.0.1, each asserting that the action
 * never ran and which error class (and code) was raised.
 *
 * To add a fault, append a row to `FAULTS` (or build your own list and pass it
 * to `runFaults`): a name, what the call throws, and `act(ctx, action)`, which
 * makes the gated call with `action` as the code that must not run. `ctx`
 * gives the scripted authority, a client factory, a stalling server and
 * `pollute()` for `Object.prototype` (restored after the row).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync } from "node:crypto";
import {
  AuthenticationError,
  BindingMismatchError,
  BlockedError,
  ConfigurationError,
  ContractError,
  DecionisClient,
  DecionisError,
  InvalidCorrelationIdError,
  InvalidReceiptError,
  MissingReceiptError,
  PermissionDeniedError,
  RateLimitError,
  RequestRejectedError,
  RetryExhaustedError,
  RetryPolicy,
  ServerError,
  ValidationError,
  gate,
  type ClientOptions,
  type IntentInput,
} from "../src/index.js";
import {
  allowFor,
  decisionFor,
  escalationFor,
  grantClaims,
  signGrant,
  useTestAuthority,
  type Answer,
  type AuthorityHarness,
  type RecordedRequest,
} from "./helpers/test-authority.js";

// ---------------------------------------------------------------- the runner

/** What a row gets to provoke its fault. */
export interface FaultContext {
  /** The scripted authority (reset before each row). */
  authority: AuthorityHarness;
  /** A client of the authority: `apiKey`, `baseUrl`, `tenantId` set, no retries. */
  client(options?: ClientOptions): DecionisClient;
  /** A server on 127.0.0.1 that accepts connections and never answers. */
  stallUrl: string;
  /** Sets `Object.prototype[key]` for this row only. */
  pollute(key: string, value: unknown): void;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** One fault: what provokes it and what it must raise. Nothing may run. */
export interface Fault {
  name: string;
  /** Makes the call; `action` is the code that must not run. */
  act: (ctx: FaultContext, action: jest.Mock) => unknown;
  /** The error class the call must raise. */
  error: ErrorClass;
  /** Its `code`, when it has one worth pinning. */
  code?: string;
  /** Further checks on the error (e.g. the message). */
  check?: (error: Error, ctx: FaultContext) => void;
}

/** Runs `faults` as one `it` each. */
export function runFaults(faults: readonly Fault[], ctx: FaultContext, pollution: Map<string, unknown>): void {
  it.each(faults.map((f) => [f.name, f] as const))("%s", async (_name, fault) => {
    const action = jest.fn(() => "ran");
    let error: unknown;
    try {
      await fault.act(ctx, action);
    } catch (e) {
      error = e;
    } finally {
      for (const key of pollution.keys()) Reflect.deleteProperty(Object.prototype, key);
      pollution.clear();
    }
    expect(action).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(fault.error);
    if (fault.code !== undefined) expect((error as DecionisError).code).toBe(fault.code);
    fault.check?.(error as Error, ctx);
  });
}

// ---------------------------------------------------------------- the setup

const API_KEY = "sk_fault_matrix";
const authority = useTestAuthority({ apiKey: API_KEY, retryPolicy: RetryPolicy.none() });
const pollution = new Map<string, unknown>();
let stall: http.Server;
const stallSockets = new Set<import("node:net").Socket>();
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const ctx: FaultContext = {
  authority,
  client: (options = {}) => authority.client(options),
  stallUrl: "",
  pollute(key, value) {
    pollution.set(key, value);
    Object.defineProperty(Object.prototype, key, { value, configurable: true, writable: true, enumerable: false });
  },
};

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  stall = http.createServer(() => undefined);
  stall.on("connection", (s) => {
    stallSockets.add(s);
  });
  await new Promise<void>((resolve) => stall.listen(0, "127.0.0.1", resolve));
  ctx.stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
});

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  for (const s of stallSockets) s.destroy();
  await new Promise((resolve) => stall.close(resolve));
  // No fault may surface as an unhandled rejection.
  expect(unhandled).toEqual([]);
});

// ---------------------------------------------------------------- helpers of rows

const intent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
  parameters: { qty: 1000 },
};

const inPast = () => new Date(Date.now() - 60_000).toISOString();
const far = () => new Date(Date.now() + 3_600_000).toISOString();

/** The authority's next enforce answer. */
const answers =
  (...make: ((r: RecordedRequest) => unknown)[]) =>
  (c: FaultContext) => {
    c.authority.script(...make.map((body): Answer => ({ body })));
  };

/** enforce(intent) with `action` under `options`, after scripting the authority. */
function enforceWith(
  script: ((c: FaultContext) => void) | undefined,
  options: ClientOptions = {},
  input: IntentInput = intent,
): Fault["act"] {
  return async (c, action) => {
    script?.(c);
    await c.client(options).enforce(input, { execute: action });
  };
}

/** An ALLOW whose grant carries `patch(claims)`, signed with `key`. */
const grantWith =
  (
    patch: (claims: Record<string, unknown>) => Record<string, unknown>,
    key?: import("node:crypto").KeyObject,
    kid?: string,
  ) =>
  (r: RecordedRequest) => {
    const d = allowFor(r);
    const options = { ...(key === undefined ? {} : { key }), ...(kid === undefined ? {} : { kid }) };
    return { ...d, execution_token: signGrant(patch(grantClaims(r, d)), options) };
  };

const otherKey = generateKeyPairSync("ed25519");
const status =
  (code: number, errorCode: string, times = 1) =>
  (c: FaultContext): void => {
    for (let n = 0; n < times; n++)
      c.authority.script({ status: code, body: { error: { code: errorCode, message: "no" } } });
  };

/** Aborts `controller` once the authority has received `count` requests. */
function abortAfterRequests(c: FaultContext, controller: AbortController, count: number): void {
  const timer = setInterval(() => {
    if (c.authority.requests.length >= count) {
      clearInterval(timer);
      controller.abort(new Error("caller gave up"));
    }
  }, 5);
  timer.unref();
}

const reasonIs = (message: string) => (error: Error) => {
  expect(error.message).toBe(message);
};

// ---------------------------------------------------------------- the rows

const FAULTS: Fault[] = [
  // Decisions that are not ALLOW.
  {
    name: "BLOCK",
    act: enforceWith(answers((r) => decisionFor(r, "BLOCK"))),
    error: BlockedError,
    code: "DECISION_BLOCK",
  },
  {
    name: "ESCALATE",
    act: enforceWith(answers((r) => decisionFor(r, "ESCALATE", { escalation_id: "esc_1" }))),
    error: BlockedError,
    code: "DECISION_ESCALATE",
  },
  {
    name: "REVIEW_REQUIRED",
    act: enforceWith(answers((r) => decisionFor(r, "REVIEW_REQUIRED"))),
    error: BlockedError,
    code: "DECISION_REVIEW_REQUIRED",
  },
  {
    name: "ERROR",
    act: enforceWith(answers((r) => decisionFor(r, "ERROR"))),
    error: BlockedError,
    code: "DECISION_ERROR",
  },
  {
    name: "an unknown status",
    act: enforceWith(answers((r) => allowFor(r, { status: "MAYBE" }))),
    error: ContractError,
  },
  // ALLOWs that fail acceptance (protocol 2.5).
  {
    name: "ALLOW with should_execute false",
    act: enforceWith(answers((r) => allowFor(r, { should_execute: false }))),
    error: InvalidReceiptError,
    code: "SHOULD_EXECUTE_FALSE",
  },
  {
    name: "ALLOW without a token",
    act: enforceWith(
      answers((r) => allowFor(r, { execution_token: null })),
      { verify: "none" },
    ),
    error: InvalidReceiptError,
    code: "TOKEN_MISSING",
  },
  {
    name: "ALLOW without a dossier id",
    act: enforceWith(answers((r) => allowFor(r, { dossier_id: null }))),
    error: InvalidReceiptError,
    code: "DOSSIER_ID_MISSING",
  },
  {
    name: "ALLOW with an expired token",
    act: enforceWith(
      answers((r) => allowFor(r, { execution_token_expires_at: inPast() })),
      { verify: "none" },
    ),
    error: InvalidReceiptError,
    code: "TOKEN_EXPIRED",
  },
  {
    name: "ALLOW whose token outlives the intent",
    act: enforceWith(
      answers((r) => allowFor(r, { execution_token_expires_at: far() })),
      { verify: "none" },
    ),
    error: InvalidReceiptError,
    code: "TOKEN_OUTLIVES_INTENT",
  },
  {
    name: "ALLOW bound to another intent (action_hash)",
    act: enforceWith(answers((r) => allowFor(r, { action_hash: `sha256:${"0".repeat(64)}` }))),
    error: BindingMismatchError,
  },
  {
    name: "an answer that breaks the schema",
    act: enforceWith(answers(() => ({ status: "ALLOW" }))),
    error: ContractError,
  },
  {
    name: "an answer that is not JSON",
    act: enforceWith((c) => {
      c.authority.script({ body: "<html>ok</html>" });
    }),
    error: ContractError,
  },
  // Grants (protocol 5).
  {
    name: "a grant signed by another key",
    act: enforceWith(answers(grantWith((c) => c, otherKey.privateKey))),
    error: InvalidReceiptError,
    code: "TOKEN_SIGNATURE_INVALID",
  },
  {
    name: "a grant swapped from another intent",
    act: enforceWith(answers(grantWith((c) => ({ ...c, binding: { intent_hash: `sha256:${"1".repeat(64)}` } })))),
    error: InvalidReceiptError,
    code: "TOKEN_BINDING_MISMATCH",
  },
  {
    name: "a grant of another decision",
    act: enforceWith(answers(grantWith((c) => ({ ...c, decision_id: "dec_other" })))),
    error: InvalidReceiptError,
    code: "TOKEN_DECISION_MISMATCH",
  },
  {
    name: "a grant of another tenant",
    act: enforceWith(answers(grantWith((c) => ({ ...c, tenant_id: "other" })))),
    error: InvalidReceiptError,
  },
  {
    name: "an expired grant",
    act: enforceWith(answers(grantWith((c) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 120 })))),
    error: InvalidReceiptError,
    code: "TOKEN_EXPIRED",
  },
  {
    name: "a grant under a kid nobody publishes",
    act: enforceWith(answers(grantWith((x) => x, undefined, "ghost"))),
    error: InvalidReceiptError,
    code: "TOKEN_KEY_UNKNOWN",
  },
  {
    name: "keys that cannot be fetched",
    act: async (c, action) => {
      c.authority.jwksStatus = 503;
      await c.client({ keysRefetchIntervalMs: 0 }).enforce(intent, { execute: action });
    },
    error: InvalidReceiptError,
  },
  // Transport and statuses.
  { name: "401", act: enforceWith(status(401, "UNAUTHENTICATED")), error: AuthenticationError },
  { name: "403", act: enforceWith(status(403, "FORBIDDEN")), error: PermissionDeniedError },
  { name: "422", act: enforceWith(status(422, "INVALID_INTENT")), error: RequestRejectedError },
  {
    name: "429 without retries",
    act: enforceWith(status(429, "RATE_LIMITED")),
    error: RetryExhaustedError,
    check: (e) => {
      expect(e.cause).toBeInstanceOf(RateLimitError);
    },
  },
  {
    name: "500 without retries",
    act: enforceWith(status(500, "INTERNAL")),
    error: RetryExhaustedError,
    check: (e) => {
      expect(e.cause).toBeInstanceOf(ServerError);
    },
  },
  {
    name: "503 past the retries",
    act: enforceWith(status(503, "UNAVAILABLE", 2), {
      retryPolicy: new RetryPolicy({ maxRetries: 1, baseDelayMs: 1 }),
    }),
    error: RetryExhaustedError,
  },
  // Receipts and replay.
  {
    name: "executing without a receipt",
    act: (c, action) => c.client().execute(undefined, action),
    error: MissingReceiptError,
  },
  {
    name: "a receipt of another client",
    act: async (c, action) => {
      const receipt = await c.client().decide(intent);
      await c.client().execute(receipt, action);
    },
    error: InvalidReceiptError,
    code: "RECEIPT_UNKNOWN",
  },
  {
    name: "a receipt executed twice",
    act: async (c, action) => {
      const client = c.client();
      const receipt = await client.decide(intent);
      await client.execute(receipt, () => "first");
      await client.execute(receipt, action);
    },
    error: InvalidReceiptError,
    code: "RECEIPT_ALREADY_USED",
  },
  {
    name: "one grant executed by two clients of one process (the replay store is one per process)",
    act: async (c, action) => {
      let first: RecordedRequest | undefined;
      c.authority.script({
        body: (r: RecordedRequest) => {
          first = r;
          return decisionFor(r, "ESCALATE", { escalation_id: "esc_px" });
        },
      });
      const one = c.client();
      await one.enforce(intent).catch(() => undefined);
      const granted = allowFor(first!);
      const ready = { body: escalationFor(first!, "esc_px", "GRANT_READY", granted) };
      c.authority.script(ready, ready);
      const two = c.client();
      const a = await one.waitForDecision("esc_px");
      const b = await two.waitForDecision("esc_px");
      await one.execute(a, () => "first");
      await two.execute(b, action);
    },
    error: InvalidReceiptError,
    code: "TOKEN_REPLAYED",
  },
  {
    name: "a replay store that rejects",
    act: enforceWith(undefined, { replayStore: { claim: () => Promise.reject(new Error("redis down")) } }),
    error: InvalidReceiptError,
    code: "REPLAY_STORE_FAILED",
  },
  {
    name: "consume-token says 409 TOKEN_ALREADY_CONSUMED",
    act: enforceWith(
      (c) => {
        c.authority.script(
          { body: (r: RecordedRequest) => allowFor(r) },
          { status: 409, body: { error: { code: "TOKEN_ALREADY_CONSUMED", message: "used" } } },
        );
      },
      { verify: "consume" },
    ),
    error: InvalidReceiptError,
    code: "TOKEN_CONSUMED",
  },
  {
    name: "consume-token says valid: false",
    act: enforceWith(
      (c) => {
        c.authority.script(
          { body: (r: RecordedRequest) => allowFor(r) },
          {
            body: (r: RecordedRequest) => ({
              valid: false,
              claims: {
                jti: "j",
                decision_id: "d",
                dossier_id: "x",
                exp: 1,
                binding: { intent_hash: r.json.intent_hash },
              },
            }),
          },
        );
      },
      { verify: "consume" },
    ),
    error: InvalidReceiptError,
    code: "TOKEN_NOT_VALID",
  },
  // Input (before any request).
  {
    name: "an intent without an actor",
    act: (c, action) =>
      c.client().enforce({ ...intent, actor: undefined } as unknown as IntentInput, { execute: action }),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("actor");
    },
  },
  {
    name: "parameters that are not JSON data",
    act: (c, action) => c.client().enforce({ ...intent, parameters: { at: new Date() } }, { execute: action }),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("parameters.at");
    },
  },
  {
    name: "a correlation id of another tenant",
    act: (c, action) =>
      c
        .client()
        .enforce({ ...intent, correlationId: "t:other|c:0190a0a0-0000-7000-8000-000000000000" }, { execute: action }),
    error: InvalidCorrelationIdError,
  },
  {
    name: "a gate resolver that throws",
    act: (c, action) =>
      gate(action, {
        client: c.client(),
        action: "PAY",
        actor: { id: "a", type: "SERVICE" },
        resource: () => {
          throw new Error("boom");
        },
      })(),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("resource");
    },
  },
  {
    name: "a gate resolver that returns a rejected promise",
    act: (c, action) =>
      gate(action, {
        client: c.client(),
        action: "PAY",
        actor: { id: "a", type: "SERVICE" },
        parameters: () => Promise.reject(new Error("later")),
      })(),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("parameters");
    },
  },
  {
    name: "a getter that throws while the intent is captured",
    act: (c, action) =>
      c.client().enforce(
        {
          ...intent,
          parameters: {
            get amount(): number {
              throw new Error("getter");
            },
          },
        },
        { execute: action },
      ),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("parameters.amount");
    },
  },
  {
    name: "a Proxy whose ownKeys trap throws",
    act: (c, action) =>
      c.client().enforce(
        {
          ...intent,
          context: {
            order: new Proxy(
              {},
              {
                ownKeys() {
                  throw new Error("trap");
                },
              },
            ),
          },
        },
        { execute: action },
      ),
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("context.order");
    },
  },
  {
    name: "a class instance with an accessor in parameters",
    act: (c, action) => {
      class Order {
        qty = 1;
        get total(): number {
          return 2;
        }
      }
      return c.client().enforce({ ...intent, parameters: { order: new Order() } }, { execute: action });
    },
    error: ValidationError,
    check: (e) => {
      expect((e as ValidationError).path).toBe("parameters.order");
    },
  },
  // Configuration (before any request).
  {
    name: "an unknown client option (timeout)",
    act: () => new DecionisClient({ apiKey: API_KEY, timeout: 5 } as ClientOptions),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message).toMatch(/"timeout".*timeoutMs/);
    },
  },
  {
    name: "an unknown gate option (idempotancyKey)",
    act: (c, action) =>
      gate(action, {
        client: c.client(),
        action: "PAY",
        actor: { id: "a", type: "SERVICE" },
        idempotancyKey: "k",
      } as never)(),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message).toMatch(/"idempotancyKey".*idempotencyKey/);
    },
  },
  {
    name: "an unknown call option (verfy)",
    act: (c, action) => c.client().enforce(intent, { execute: action, verfy: "none" } as never),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message).toMatch(/"verfy".*verify/);
    },
  },
  {
    name: "an unknown waitForDecision option (timeOut)",
    act: (c) => c.client().waitForDecision("esc_1", { timeOut: 5 } as never),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message).toMatch(/"timeOut".*timeoutMs/);
    },
  },
  {
    name: "an API key with a space",
    act: () => new DecionisClient({ apiKey: "sk_live abc" }),
    error: ConfigurationError,
    check: (e) => {
      expect(JSON.stringify(e) + e.message + String(e.stack)).not.toContain("sk_live abc");
    },
  },
  {
    name: "an API key with a control character",
    act: () => new DecionisClient({ apiKey: "sk_live\nx-evil: 1" }),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message + JSON.stringify(e)).not.toContain("sk_live");
    },
  },
  {
    name: "an API key outside ASCII",
    act: () => new DecionisClient({ apiKey: "sk_lïve" }),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message + JSON.stringify(e)).not.toContain("sk_lïve");
    },
  },
  {
    name: "a base URL without a scheme",
    act: () => new DecionisClient({ apiKey: API_KEY, baseUrl: "localhost:8787" }),
    error: ConfigurationError,
    check: (e) => {
      expect(e.message).toMatch(/"localhost:8787".*http:\/\/localhost:8787/);
    },
  },
  {
    name: "a base URL with http: to another host",
    act: () => new DecionisClient({ apiKey: API_KEY, baseUrl: "http://example.com" }),
    error: ConfigurationError,
  },
  // A polluted Object.prototype changes nothing.
  {
    name: 'Object.prototype.mode = "SHADOW" does not skip a BLOCK',
    act: async (c, action) => {
      c.pollute("mode", "SHADOW");
      answers((r) => decisionFor(r, "BLOCK"))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: BlockedError,
  },
  {
    name: 'Object.prototype.mode = "SHADOW" does not skip a BLOCK at a gate',
    act: async (c, action) => {
      c.pollute("mode", "SHADOW");
      answers((r) => decisionFor(r, "BLOCK"))(c);
      await gate(action, { client: c.client(), action: "PAY", actor: { id: "a", type: "SERVICE" } })();
    },
    error: BlockedError,
  },
  {
    name: 'Object.prototype.verify = "none" does not skip the signature check',
    act: async (c, action) => {
      c.pollute("verify", "none");
      answers(grantWith((x) => x, otherKey.privateKey))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: InvalidReceiptError,
    code: "TOKEN_SIGNATURE_INVALID",
  },
  {
    name: "Object.prototype.authorityKeys (an attacker's JWKS) is not trusted",
    act: async (c, action) => {
      const jwk = { ...otherKey.publicKey.export({ format: "jwk" }), kid: "test-key-1", alg: "EdDSA", use: "sig" };
      c.pollute("authorityKeys", { keys: [jwk] });
      answers(grantWith((x) => x, otherKey.privateKey))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: InvalidReceiptError,
    code: "TOKEN_SIGNATURE_INVALID",
  },
  {
    name: "Object.prototype.clockSkewMs does not admit an expired grant",
    act: async (c, action) => {
      c.pollute("clockSkewMs", 86_400_000);
      answers(grantWith((x) => ({ ...x, exp: Math.floor(Date.now() / 1000) - 120 })))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: InvalidReceiptError,
    code: "TOKEN_EXPIRED",
  },
  {
    name: "Object.prototype.replayStore (always first) does not allow a replay",
    act: async (c, action) => {
      c.pollute("replayStore", { claim: () => true });
      const client = c.client();
      let first: RecordedRequest | undefined;
      c.authority.script({
        body: (r: RecordedRequest) => {
          first = r;
          return decisionFor(r, "ESCALATE", { escalation_id: "esc_pp" });
        },
      });
      await client.enforce(intent).catch(() => undefined);
      const granted = allowFor(first!);
      const ready = { body: escalationFor(first!, "esc_pp", "GRANT_READY", granted) };
      c.authority.script(ready, ready);
      const a = await client.waitForDecision("esc_pp");
      const b = await client.waitForDecision("esc_pp");
      await client.execute(a, () => "first");
      await client.execute(b, action);
    },
    error: InvalidReceiptError,
    code: "TOKEN_REPLAYED",
  },
  {
    name: "Object.prototype.baseUrl does not redirect the client",
    act: async (c, action) => {
      c.pollute("baseUrl", c.stallUrl);
      answers((r) => decisionFor(r, "BLOCK"))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: BlockedError,
  },
  {
    name: "Object.prototype.gateway does not replace the transport",
    act: async (c, action) => {
      c.pollute("gateway", { enforceAndBind: () => Promise.resolve({}) });
      answers((r) => decisionFor(r, "BLOCK"))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: BlockedError,
  },
  {
    name: 'Object.prototype.escalation = "wait" does not hold an ESCALATE',
    act: async (c, action) => {
      c.pollute("escalation", "wait");
      answers((r) => decisionFor(r, "ESCALATE", { escalation_id: "esc_w" }))(c);
      await c.client().enforce(intent, { execute: action });
    },
    error: BlockedError,
    check: (_e, c) => {
      expect(c.authority.requests).toHaveLength(1);
    },
  },
  // What runs is what was approved: the re-check.
  {
    name: "the caller changes the arguments while the decision is pending",
    act: async (c, action) => {
      const order = { symbol: "EURUSD", qty: 1 };
      c.authority.script({ body: (r: RecordedRequest) => allowFor(r), delayMs: 30 });
      const open = gate(action as (o: typeof order) => string, {
        client: c.client(),
        action: "OPEN",
        actor: { id: "a", type: "SERVICE" },
      });
      const pending = open(order);
      order.qty = 1_000_000;
      await pending;
    },
    error: BindingMismatchError,
  },
  {
    name: "a getter that answers differently on the second read",
    act: async (c, action) => {
      let reads = 0;
      const parameters = {
        get qty(): number {
          return ++reads === 1 ? 1 : 1_000_000;
        },
      };
      await c.client().enforce({ ...intent, parameters }, { execute: action });
    },
    error: BindingMismatchError,
  },
  {
    name: "a resolver that answers differently on the second call",
    act: async (c, action) => {
      let calls = 0;
      await gate(action, {
        client: c.client(),
        action: "PAY",
        actor: { id: "a", type: "SERVICE" },
        resource: () => (++calls === 1 ? "acct_small" : "acct_big"),
      })();
    },
    error: BindingMismatchError,
  },
  {
    name: "a Proxy that answers differently on the second read",
    act: async (c, action) => {
      let reads = 0;
      const counted: Record<string, unknown> = { qty: 1 };
      const parameters = new Proxy(counted, {
        get: (t, k) => (k === "qty" ? (++reads === 1 ? 1 : 1_000_000) : t[k as string]),
      });
      await c.client().enforce({ ...intent, parameters }, { execute: action });
    },
    error: BindingMismatchError,
  },
  // Abort at every wait.
  {
    name: "a signal aborted before the call",
    act: (c, action) => c.client().enforce(intent, { execute: action, signal: AbortSignal.abort(new Error("early")) }),
    error: Error,
    check: reasonIs("early"),
  },
  {
    name: "an abort while the authority answers",
    act: async (c, action) => {
      const controller = new AbortController();
      c.authority.script({ body: (r: RecordedRequest) => allowFor(r), delayMs: 2_000 });
      abortAfterRequests(c, controller, 1);
      await c.client().enforce(intent, { execute: action, signal: controller.signal });
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
  {
    name: "an abort while the JWKS is fetched",
    act: async (c, action) => {
      const controller = new AbortController();
      abortAfterRequests(c, controller, 1);
      await c
        .client({ authorityKeys: `${c.stallUrl}/jwks.json`, timeoutMs: 10_000 })
        .enforce(intent, { execute: action, signal: controller.signal });
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
  {
    name: "an abort while an asynchronous replay store claims",
    act: async (c, action) => {
      const controller = new AbortController();
      abortAfterRequests(c, controller, 1);
      await c
        .client({ replayStore: { claim: () => new Promise<boolean>(() => undefined) } })
        .enforce(intent, { execute: action, signal: controller.signal });
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
  {
    name: "an abort while consume-token is pending",
    act: async (c, action) => {
      const controller = new AbortController();
      c.authority.script({ body: (r: RecordedRequest) => allowFor(r) }, { body: {}, delayMs: 2_000 });
      abortAfterRequests(c, controller, 2);
      await c.client({ verify: "consume" }).enforce(intent, { execute: action, signal: controller.signal });
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
  {
    name: "an abort while waiting for a person",
    act: async (c, action) => {
      const controller = new AbortController();
      let first: RecordedRequest | undefined;
      c.authority.script({
        body: (r: RecordedRequest) => {
          first = r;
          return decisionFor(r, "ESCALATE", { escalation_id: "esc_ab" });
        },
      });
      c.authority.fallback = () => ({ body: escalationFor(first!, "esc_ab", "PENDING") });
      abortAfterRequests(c, controller, 2);
      await c.client({ escalation: "wait" }).enforce(intent, { execute: action, signal: controller.signal });
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
  {
    name: "a gate's signal resolver, aborted while the authority answers",
    act: async (c, action) => {
      const controller = new AbortController();
      c.authority.script({ body: (r: RecordedRequest) => allowFor(r), delayMs: 2_000 });
      abortAfterRequests(c, controller, 1);
      await gate(action as (s: AbortSignal) => string, {
        client: c.client(),
        action: "PAY",
        actor: { id: "a", type: "SERVICE" },
        parameters: {},
        signal: (s) => s,
      })(controller.signal);
    },
    error: Error,
    check: reasonIs("caller gave up"),
  },
];

describe("fault matrix: nothing runs, and the error says why", () => {
  runFaults(FAULTS, ctx, pollution);

  it("has at least 40 rows", () => {
    expect(FAULTS.length).toBeGreaterThanOrEqual(40);
  });

  it("an honest ALLOW runs (the matrix's control row)", async () => {
    const action = jest.fn(() => "ran");
    await expect(ctx.client().enforce(intent, { execute: action })).resolves.toBe("ran");
    expect(action).toHaveBeenCalledTimes(1);
  });
});
