/**
 * Keon's subject hash: every vector in test/fixtures/keon (hand-written
 * canonical forms, hashes computed outside the SDK), and the inputs it refuses.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ValidationError } from "../../src/index";
import { keonCanonicalJson, subjectHash } from "../../src/integrations/keon/index";

const DIR = join(__dirname, "..", "fixtures", "keon");
const vectors = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .map((f) => {
    const v = JSON.parse(readFileSync(join(DIR, f), "utf8")) as {
      description: string;
      input_json: string;
      canonical_json: string;
      subject_hash: string;
    };
    return [f, v] as const;
  });

test("there are vectors for NFC, UTF-16 key order and number forms", () => {
  const names = vectors.map(([f]) => f);
  expect(names).toEqual(
    expect.arrayContaining(["nfc-strings-and-keys.json", "utf16-key-order.json", "number-forms.json"]),
  );
});

test.each(vectors)("%s", (_file, v) => {
  const input: unknown = JSON.parse(v.input_json);
  expect(keonCanonicalJson(input)).toBe(v.canonical_json);
  expect(subjectHash(input)).toBe(v.subject_hash);
});

test("composed and decomposed inputs hash the same", () => {
  expect(subjectHash({ name: "Zoe\u0308" })).toBe(subjectHash({ name: "Zoë" }));
  expect(subjectHash({ name: "Zoe\u0308" })).not.toBe(subjectHash({ name: "Zoe" }));
});

test("two keys equal after NFC are refused, naming the path", () => {
  expect(() => keonCanonicalJson({ order: { "e\u0301": 1, é: 2 } })).toThrow(ValidationError);
  expect(() => keonCanonicalJson({ order: { "e\u0301": 1, é: 2 } })).toThrow(/parameters\.order\.é: two keys/);
});

test("lone surrogates, non-JSON values and non-finite numbers are refused", () => {
  expect(() => keonCanonicalJson({ s: "\ud800" })).toThrow(/lone UTF-16 surrogate/);
  expect(() => keonCanonicalJson({ ["\udc00"]: 1 })).toThrow(/lone UTF-16 surrogate/);
  expect(() => keonCanonicalJson({ n: Number.NaN })).toThrow(ValidationError);
  expect(() => keonCanonicalJson({ d: new Date(0) })).toThrow(/parameters\.d/);
  expect(() => keonCanonicalJson({ b: 1n })).toThrow(ValidationError);
});

test("undefined members are dropped as JSON.stringify drops them", () => {
  expect(keonCanonicalJson({ b: undefined, a: [undefined, 1] })).toBe('{"a":[null,1]}');
});
