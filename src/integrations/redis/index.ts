/**
 * `decionis/redis`: one grant, one run across a fleet. {@link RedisReplayStore}
 * claims each grant's token id in a Redis the processes share, with one atomic
 * `SET <prefix><jti> 1 PXAT <grant expiry> NX`: the first process to claim it
 * runs, every other one gets `InvalidReceiptError` (`TOKEN_REPLAYED`).
 *
 * It brings no Redis client of its own and loads none: pass the `ioredis` or
 * node-redis (`redis` / `@redis/client`) client your processes already have.
 * Both are optional peers; `decionis` itself never loads this module.
 */
import { ConfigurationError, type ReplayStore } from "../../index.js";

/**
 * The part of an `ioredis` client (`Redis` or `Cluster`, v5 or v6) the store uses:
 * `call(command, ...args)`, one raw command, its reply as Redis sent it.
 */
export interface IoRedisLike {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * The part of a node-redis client (`createClient()` of `redis` v4–v6 or
 * `@redis/client`) the store uses: `sendCommand([command, ...args])`.
 * A node-redis cluster's `sendCommand` takes a routing key first and does not fit:
 * use one of its node clients, or ioredis' `Cluster`.
 */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** A Redis client the store can claim with: ioredis or node-redis, as they come. */
export type RedisClientLike = IoRedisLike | NodeRedisLike;

/** Options of {@link RedisReplayStore}. */
export interface RedisReplayStoreOptions {
  /**
   * A connected client, shared with the rest of the process if you like: the
   * store sends one `SET` per claim and nothing else.
   */
  client: RedisClientLike;
  /**
   * Prefix of every key, so the store's keys are easy to find and never meet the app's.
   * @default "decionis:jti:"
   */
  keyPrefix?: string;
  /**
   * Longest wait for Redis to answer one claim. Past it the claim fails and
   * nothing runs (a Redis that is down, reconnecting or stalled must not hold a
   * call). A claim on a healthy Redis takes well under a millisecond (the bench
   * measures about 60 µs on loopback), so the default leaves ample room for a
   * remote Redis under load while bounding a dead one. The call's own
   * `AbortSignal` still ends the wait earlier.
   * @default 1000
   */
  timeoutMs?: number;
}

const DEFAULT_PREFIX = "decionis:jti:";
const DEFAULT_TIMEOUT_MS = 1000;
/** setTimeout's ceiling: a longer delay fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * A {@link ReplayStore} in Redis, shared by every process that points at the
 * same Redis and prefix: a grant runs once across all of them.
 *
 * Each claim is one `SET <keyPrefix><jti> 1 PXAT <expiresAtMs> NX`: `OK` means
 * this process claimed the grant first, nil that another one did. Keys expire
 * with their grant, so Redis holds only unexpired ones (about 100 bytes each).
 * The expiry is an instant on Redis's clock: keep the fleet's and Redis's clocks
 * in sync (NTP); the client already adds its `clockSkewMs` to the grant's expiry.
 *
 * Fails closed: an error from the client, no answer within `timeoutMs` or any
 * reply but `OK`/nil rejects the claim, and the gated call throws
 * `InvalidReceiptError` with code `REPLAY_STORE_FAILED` (this store's reason in
 * `details.cause`); nothing runs. A claim that Redis records after it timed out
 * still burns the grant: it can never run twice, at worst not at all.
 *
 * @example
 * // RedisReplayStore is exported by decionis/redis; Redis by ioredis (or: await createClient({ url }).connect())
 * const redis = new Redis(process.env.REDIS_URL!);
 * const client = new DecionisClient({ replayStore: new RedisReplayStore({ client: redis }) });
 *
 * @throws {@link ConfigurationError} naming the option, when `client` is not an
 *   ioredis or node-redis client, `keyPrefix` is not a non-empty string or
 *   `timeoutMs` is not a whole number of ms from 1 to 2147483647.
 */
export class RedisReplayStore implements ReplayStore {
  /** The prefix keys are written under. */
  readonly keyPrefix: string;
  /** The longest wait for one claim, in ms. */
  readonly timeoutMs: number;
  readonly #send: (key: string, expiresAtMs: string) => Promise<unknown>;

  constructor(options: RedisReplayStoreOptions) {
    if (typeof options !== "object" || (options as unknown) === null)
      throw new ConfigurationError(
        "options",
        "RedisReplayStore needs options: new RedisReplayStore({ client: <an ioredis or node-redis client> })",
      );
    const { client, keyPrefix = DEFAULT_PREFIX, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    this.#send = sender(client);
    if (typeof keyPrefix !== "string" || keyPrefix === "")
      throw new ConfigurationError(
        "keyPrefix",
        `RedisReplayStore keyPrefix must be a non-empty string (default "${DEFAULT_PREFIX}"); got ${describe(keyPrefix)}`,
      );
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS)
      throw new ConfigurationError(
        "timeoutMs",
        `RedisReplayStore timeoutMs must be a whole number of ms from 1 to ${MAX_TIMEOUT_MS} (default ${DEFAULT_TIMEOUT_MS}); got ${describe(timeoutMs)}`,
      );
    this.keyPrefix = keyPrefix;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Claims `jti` until `expiresAtMs` (ms since the epoch): `true` for the first
   * claim anywhere, `false` when the key already exists.
   * @throws Error (a rejection) when Redis fails, is slower than `timeoutMs` or answers anything but `OK`/nil.
   */
  async claim(jti: string, expiresAtMs: number): Promise<boolean> {
    if (typeof jti !== "string" || jti === "") throw new Error(`the grant's token id is ${describe(jti)}`);
    if (!Number.isFinite(expiresAtMs)) throw new Error(`the grant's expiry is ${describe(expiresAtMs)}`);
    // Already expired here: its grant cannot run anyway (as InMemoryReplayStore). Redis would
    // accept a past PXAT with OK and keep no key, so every process could "claim" it.
    if (expiresAtMs <= Date.now()) return false;
    const reply = await this.#withTimeout(this.#send(this.keyPrefix + jti, String(Math.ceil(expiresAtMs))));
    if (reply === null) return false;
    if (isOk(reply)) return true;
    throw new Error(`Redis answered the claim's SET with ${describeReply(reply)}, not OK or nil`);
  }

  #withTimeout(pending: Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `Redis did not answer the claim within ${this.timeoutMs} ms (RedisReplayStore timeoutMs): down, reconnecting or stalled`,
          ),
        );
      }, this.timeoutMs);
      pending.then(
        (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(
            new Error(`Redis failed the claim: ${redact(error instanceof Error ? error.message : String(error))}`),
          );
        },
      );
    });
  }
}

/** The one raw SET, through whichever API the client has. */
function sender(client: unknown): (key: string, expiresAtMs: string) => Promise<unknown> {
  const c = client as Partial<IoRedisLike & NodeRedisLike> | null | undefined;
  // ioredis has both methods (its sendCommand takes a Command object): `call` first.
  // A raw command, not `set(...)` with options: what reaches Redis is exactly this
  // SET whatever the client's version, and a client taken for the wrong kind throws
  // (fails closed) instead of dropping NX. In a Promise executor, so that a client throwing at
  // once (closed, or not the kind it looked like) rejects like any failure, redacted.
  if (typeof c?.call === "function") {
    const call = c.call.bind(c);
    return (key, at) =>
      new Promise((resolve) => {
        resolve(call("SET", key, "1", "PXAT", at, "NX"));
      });
  }
  if (typeof c?.sendCommand === "function") {
    const send = c.sendCommand.bind(c);
    return (key, at) =>
      new Promise((resolve) => {
        resolve(send(["SET", key, "1", "PXAT", at, "NX"]));
      });
  }
  throw new ConfigurationError(
    "client",
    `RedisReplayStore client must be an ioredis client (new Redis(url) from "ioredis") or a node-redis client ` +
      `(await createClient({ url }).connect() from "redis"); got ${describe(client)}`,
  );
}

/** `OK`, as a string or as the bytes of a client that returns buffers. */
function isOk(reply: unknown): boolean {
  if (reply === "OK") return true;
  return reply instanceof Uint8Array && reply.length === 2 && reply[0] === 0x4f && reply[1] === 0x4b;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number") return String(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "object") {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "Object" ? `a ${name}` : "an object without call() or sendCommand()";
  }
  return typeof value;
}

/** What Redis sent, short: it is shown in an error, not logged in full. */
function describeReply(reply: unknown): string {
  if (typeof reply === "number" || typeof reply === "boolean") return `${typeof reply} ${String(reply)}`;
  if (Array.isArray(reply)) return `an array of ${reply.length}`;
  return describe(reply);
}

/** Client errors may quote a connection URL: never its password. */
function redact(message: string): string {
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@");
}
