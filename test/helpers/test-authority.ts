/**
 * A scriptable authority on a real `node:http` server (127.0.0.1, port 0), for
 * integration tests of the SDK's transport and fail-closed rules. Each request
 * takes the next scripted answer; with none left, it answers with `fallback`
 * (by default a well-formed ALLOW bound to the request's intent hash).
 */
import http from "node:http";
import { DecionisClient, type ClientOptions, type IntentInput } from "../../src/index.js";
import { listenLoopback } from "./listen.js";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";

/** The test authority's signing key: grants are real EdDSA JWS, verifiable by the SDK. */
export const signingKey = generateKeyPairSync("ed25519");
export const KID = "test-key-1";
export const jwks = {
  keys: [{ ...signingKey.publicKey.export({ format: "jwk" }), kid: KID, alg: "EdDSA", use: "sig" }],
};

/** Signs a grant (protocol 5) with `key` (default: the test authority's). */
export function signGrant(
  claims: Record<string, unknown>,
  options: { kid?: string; key?: import("node:crypto").KeyObject; header?: Record<string, unknown> } = {},
): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const header = b64(options.header ?? { alg: "EdDSA", kid: options.kid ?? KID, typ: "decionis-grant+jwt" });
  const payload = b64(claims);
  const signature = sign(null, Buffer.from(`${header}.${payload}`), options.key ?? signingKey.privateKey);
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

/** The claims a correct grant for `decision` and `req` carries. */
export function grantClaims(req: RecordedRequest, decision: Record<string, unknown>): Record<string, unknown> {
  return {
    iss: "test-authority",
    jti: `jti_${randomUUID()}`,
    decision_id: decision["decision_id"],
    dossier_id: decision["dossier_id"],
    tenant_id: req.json.tenant_id,
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.parse(decision["execution_token_expires_at"] as string) / 1000),
    binding: { intent_hash: req.json.intent_hash },
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

export type Answer = {
  status?: number;
  /** An object (sent as JSON), a raw string, or a function of the request. */
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Close the socket without answering. */
  drop?: boolean;
};

export interface TestAuthority {
  url: string;
  requests: RecordedRequest[];
  script(...answers: Answer[]): void;
  fallback: (req: RecordedRequest) => Answer;
  /** What `/.well-known/jwks.json` serves (outside the script and the request log). */
  jwks: { keys: Record<string, unknown>[] };
  /** Status of the JWKS answer (e.g. 503 to make keys unreachable). */
  jwksStatus: number;
  jwksFetches: number;
  /** Back to a fresh state: no script, no recorded requests, default answers and keys. */
  reset(): void;
  close(): Promise<void>;
}

/** A valid ALLOW for `req`, with fields overridden; its grant is signed for the final fields. */
export function allowFor(req: RecordedRequest, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const intentExpires = Date.parse(req.json.expires_at as string);
  const decision: Record<string, unknown> = {
    decision_id: `dec_${randomUUID()}`,
    status: "ALLOW",
    should_execute: true,
    reason_codes: ["WITHIN_LIMITS"],
    action_hash: req.json.intent_hash,
    execution_token: "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln",
    execution_token_expires_at: new Date(Math.min(Date.now() + 30_000, intentExpires)).toISOString(),
    dossier_id: `dos_${randomUUID()}`,
    dossier_url: "http://127.0.0.1/dossiers/x",
    explanation: "Within limits",
    policy_version: "test@1",
    escalation_id: null,
    ...overrides,
  };
  const expiry = decision["execution_token_expires_at"];
  if (!("execution_token" in overrides) && typeof expiry === "string" && !Number.isNaN(Date.parse(expiry)))
    decision["execution_token"] = signGrant(grantClaims(req, decision));
  return decision;
}

/** An escalation (protocol 3) for the intent of `req`. */
export function escalationFor(
  req: RecordedRequest,
  escalationId: string,
  status: string,
  decision: unknown = null,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    escalation_id: escalationId,
    intent_id: req.json.intent_id,
    action_hash: req.json.intent_hash,
    status,
    expires_at: req.json.expires_at,
    reason_codes: ["NEEDS_APPROVAL"],
    decision,
    ...overrides,
  };
}

/** A non-ALLOW decision for `req`. */
export function decisionFor(
  req: RecordedRequest,
  status: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return allowFor(req, {
    status,
    should_execute: false,
    reason_codes: ["LIMIT_EXCEEDED"],
    execution_token: null,
    execution_token_expires_at: null,
    explanation: `Test ${status}`,
    ...overrides,
  });
}

/** What the authority answers when nothing is scripted, by route. */
export function defaultAnswer(req: RecordedRequest): Answer {
  if (req.url === "/v1/authority/enforce-and-bind") return { body: allowFor(req) };
  if (/^\/v1\/authority\/decisions\/[^/]+\/outcome$/.test(req.url)) return { status: 202, body: { recorded: true } };
  if (req.url === "/v1/health") return { body: { status: "ok", version: "test" } };
  return { status: 404, body: { error: { code: "NOT_FOUND", message: `no route ${req.url}` } } };
}

export async function startTestAuthority(into: Partial<TestAuthority> = {}): Promise<TestAuthority> {
  const queue: Answer[] = [];
  let close = (): Promise<void> => Promise.resolve();
  const authority: TestAuthority = Object.assign(into, {
    url: "",
    requests: [],
    script: (...answers: Answer[]) => {
      queue.push(...answers);
    },
    fallback: defaultAnswer,
    jwks,
    jwksStatus: 200,
    jwksFetches: 0,
    close: () => close(),
    reset: () => {
      queue.length = 0;
      authority.requests.length = 0;
      authority.fallback = defaultAnswer;
      authority.jwks = { keys: [...jwks.keys] };
      authority.jwksStatus = 200;
      authority.jwksFetches = 0;
    },
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = body === "" ? undefined : JSON.parse(body);
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body,
        json,
      };
      if (recorded.url === "/.well-known/jwks.json") {
        authority.jwksFetches++;
        res.writeHead(authority.jwksStatus, { "content-type": "application/json" });
        res.end(JSON.stringify(authority.jwks));
        return;
      }
      authority.requests.push(recorded);
      const answer = queue.shift() ?? authority.fallback(recorded);
      const respond = () => {
        if (answer.drop) {
          req.socket.destroy();
          return;
        }
        const raw =
          typeof answer.body === "function" ? (answer.body as (r: RecordedRequest) => unknown)(recorded) : answer.body;
        const text = raw === undefined ? "" : typeof raw === "string" ? raw : JSON.stringify(raw);
        res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers });
        res.end(text);
      };
      if (answer.delayMs) setTimeout(respond, answer.delayMs);
      else respond();
    });
  });
  ({ url: authority.url, close } = await listenLoopback(server));
  return authority;
}

/** A sample intent for tests that do not care about its content. */
export const sampleIntent: IntentInput = {
  actor: { id: "bot", type: "TRADING_BOT" },
  action: { type: "OPEN_POSITION", resource: "EURUSD" },
  parameters: { qty: 1000 },
};

/** A test authority for a whole test file, with a factory of clients bound to it (closed after the file). */
export interface AuthorityHarness extends TestAuthority {
  client(options?: ClientOptions): DecionisClient;
}

/**
 * Starts a test authority before the file's tests, resets it before each one and
 * stops it (and every client made with `client()`) after them.
 */
export function useTestAuthority(defaults: ClientOptions = {}): AuthorityHarness {
  const clients: DecionisClient[] = [];
  const harness = {
    client(options: ClientOptions = {}): DecionisClient {
      const client = new DecionisClient({
        apiKey: "sk_test",
        baseUrl: harness.url,
        tenantId: "acme",
        ...defaults,
        ...options,
      });
      clients.push(client);
      return client;
    },
  } as AuthorityHarness;
  beforeAll(async () => {
    await startTestAuthority(harness);
  });
  beforeEach(() => {
    harness.reset();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await harness.close();
  });
  return harness;
}
