/**
 * Identifiers: UUIDv7 intent ids (time-ordered, RFC 9562) and correlation ids
 * `t:<tenant_id>|c:<uuidv7>` (protocol 2.3).
 */
import { randomFillSync } from "node:crypto";
import { InvalidCorrelationIdError } from "../errors/input.js";
import { UUID_V7_PATTERN } from "../gateway/wire.js";

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// Random bytes are drawn in blocks: one syscall serves many ids.
const POOL_SIZE = 16 * 256;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomBytes10(): Buffer {
  if (poolOffset + 10 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return bytes;
}

let lastMs = -1;
let sequence = 0;

/**
 * A new lowercase UUIDv7. Ids made in the same millisecond stay ordered: the
 * 12 `rand_a` bits carry a counter seeded at random each millisecond (RFC 9562
 * 6.2, method 1), and the timestamp is borrowed forward if the counter runs out
 * or the clock steps back.
 *
 * @param nowMs - the timestamp to embed; defaults to `Date.now()`.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const rnd = randomBytes10();
  let ms = nowMs;
  if (ms > lastMs) {
    // Seed in the lower half so there is room to count up within the millisecond.
    sequence = ((rnd[0]! << 8) | rnd[1]!) & 0x7ff;
  } else {
    ms = lastMs;
    sequence++;
    if (sequence > 0xfff) {
      ms = lastMs + 1;
      sequence = 0;
    }
  }
  lastMs = ms;
  const hi = Math.floor(ms / 0x10000);
  const lo = ms % 0x10000;
  return (
    HEX[(hi >>> 24) & 0xff]! +
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    "-" +
    HEX[(lo >>> 8) & 0xff]! +
    HEX[lo & 0xff]! +
    "-" +
    HEX[0x70 | (sequence >>> 8)]! +
    HEX[sequence & 0xff]! +
    "-" +
    HEX[0x80 | (rnd[2]! & 0x3f)]! +
    HEX[rnd[3]!]! +
    "-" +
    HEX[rnd[4]!]! +
    HEX[rnd[5]!]! +
    HEX[rnd[6]!]! +
    HEX[rnd[7]!]! +
    HEX[rnd[8]!]! +
    HEX[rnd[9]!]!
  );
}

/** True for a lowercase version-7, RFC 4122 variant UUID. */
export function isUuidV7(value: string): boolean {
  return UUID_V7_PATTERN.test(value);
}

/** The millisecond timestamp embedded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** `t:<tenantId>|c:<uuidv7>` for a new uuid. */
export function newCorrelationId(tenantId: string, nowMs?: number): string {
  return `t:${tenantId}|c:${uuidv7(nowMs)}`;
}

/**
 * Checks a caller's correlation id against protocol 2.3.
 *
 * @throws {@link InvalidCorrelationIdError} with what is wrong and the expected form.
 */
export function assertCorrelationId(value: unknown, tenantId: string): string {
  const expected = `expected "t:${tenantId}|c:<lowercase uuidv7>"; omit correlationId to have one generated`;
  if (typeof value !== "string")
    throw new InvalidCorrelationIdError(`must be a string, got ${typeof value}: ${expected}`);
  const bar = value.indexOf("|c:");
  if (!value.startsWith("t:") || bar < 0)
    throw new InvalidCorrelationIdError(`"${clip(value)}" is not of the form ${expected}`);
  const tenant = value.slice(2, bar);
  const uuid = value.slice(bar + 3);
  if (tenant !== tenantId)
    throw new InvalidCorrelationIdError(
      `its tenant part "${clip(tenant)}" differs from the intent's tenant: ${expected}`,
    );
  if (!isUuidV7(uuid)) throw new InvalidCorrelationIdError(`"${clip(uuid)}" is not a lowercase UUIDv7: ${expected}`);
  return value;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
