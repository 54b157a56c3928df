import { randomBytes } from "node:crypto";

/**
 * A lowercase version-7 UUID for the test server's receipt ids. Not the core's
 * generator (internal): ordering within a millisecond does not matter here.
 * @internal
 */
export function uuidv7Like(nowMs: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
