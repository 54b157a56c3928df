/**
 * Keon's canonical JSON (RFC 8785 / JCS with Unicode NFC) and the subject hash
 * sent as `subjectHash` on `POST /decide`. It differs from the Decionis form
 * (docs/protocol.md 2.2) only in the NFC step, which is why it is its own walk.
 */
import { createHash } from "node:crypto";
import { canonicalJson, ValidationError } from "../../index.js";

/**
 * Writes `value` in Keon's canonical form: every string and key in Unicode
 * NFC, keys sorted by UTF-16 code units, numbers as ECMAScript writes them
 * (RFC 8785 3.2.2.3: `-0` → `0`, `1e21` → `1e+21`), strings escaped as RFC 8785
 * says (only `"`, `\` and controls), no whitespace.
 *
 * The value is first checked as JSON data with the core's limits, so a bad
 * value fails with a {@link ValidationError} naming its path.
 *
 * @example
 * keonCanonicalJson({ b: 1, a: "e\u0301" }) // '{"a":"é","b":1}'
 *
 * @throws {@link ValidationError} for a value that is not JSON data, a lone
 *   surrogate, or two keys of one object that are equal after NFC.
 */
export function keonCanonicalJson(value: unknown, path = "parameters"): string {
  canonicalJson(value, path);
  return write(value, path);
}

/**
 * The lowercase hex SHA-256 of {@link keonCanonicalJson}'s UTF-8 bytes: Keon's `subjectHash`.
 *
 * @example
 * subjectHash({}) // "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
 *
 * @throws {@link ValidationError} as {@link keonCanonicalJson} does.
 */
export function subjectHash(parameters: unknown, path = "parameters"): string {
  return createHash("sha256").update(keonCanonicalJson(parameters, path), "utf8").digest("hex");
}

// String.prototype.isWellFormed is ES2024; the library targets ES2022.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function text(s: string, path: string): string {
  // I-JSON (required by RFC 8785) has no lone surrogates; NFC of one is undefined.
  if (LONE_SURROGATE.test(s))
    throw new ValidationError(path, "a string holds a lone UTF-16 surrogate, which Keon's canonical form refuses");
  return JSON.stringify(s.normalize("NFC"));
}

function write(value: unknown, path: string): string {
  if (typeof value === "string") return text(value, path);
  if (typeof value !== "object" || value === null) return JSON.stringify(value);
  if (Array.isArray(value))
    return `[${value.map((item: unknown, i) => (item === undefined ? "null" : write(item, `${path}[${i}]`))).join(",")}]`;
  const members = new Map<string, unknown>();
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (LONE_SURROGATE.test(key))
      throw new ValidationError(path, "a key holds a lone UTF-16 surrogate, which Keon's canonical form refuses");
    const nfc = key.normalize("NFC");
    if (members.has(nfc))
      throw new ValidationError(
        `${path}.${nfc}`,
        "two keys are the same text after Unicode NFC (one composed, one decomposed): keep one",
      );
    members.set(nfc, item);
  }
  // The default sort compares UTF-16 code units, which is what RFC 8785 3.2.3 asks for.
  const keys = [...members.keys()].sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${write(members.get(k), `${path}.${k}`)}`).join(",")}}`;
}
