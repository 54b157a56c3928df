/**
 * The canonical writer's checks and limits at their boundaries, and the exact
 * bytes it writes: a loosened check or a changed byte fails a test here
 * (mutation testing of intent/canonical.ts).
 */
import { createHash } from "node:crypto";
import vm from "node:vm";
import { ValidationError } from "../../src/index.js";
import {
  LIMITS,
  canonicalJson,
  canonicalRecord,
  intentHash,
  sha256Hex,
  sha256Tagged,
} from "../../src/intent/canonical.js";

function refusal(value: unknown, path = "value", budget?: { entries: number }): ValidationError {
  try {
    canonicalJson(value, path, budget);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error("accepted");
}

/** `depth` objects, one inside the other, around a 1. */
const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

describe("bytes", () => {
  it("writes scalars as JSON.stringify does", () => {
    expect(canonicalJson(true)).toBe("true");
    expect(canonicalJson(false)).toBe("false");
    expect(canonicalJson(null)).toBe("null");
    expect(canonicalJson(-0)).toBe("0");
    expect(canonicalJson(1e21)).toBe("1e+21");
    expect(canonicalJson('a"\n\u2028é')).toBe(JSON.stringify('a"\n\u2028é'));
  });

  it("sorts keys by UTF-16 code units at every level, with no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 2 }, A: 0, é: 1, "\u{1F600}": 2, "\uFB01": 3 })).toBe(
      '{"A":0,"a":{"c":2,"d":[3,{"y":2,"z":1}]},"b":1,"é":1,"\u{1F600}":2,"\uFB01":3}',
    );
  });

  it("drops undefined members, first, middle and last, and writes undefined elements as null", () => {
    expect(canonicalJson({ a: undefined, b: 1, c: undefined, d: 2, e: undefined })).toBe('{"b":1,"d":2}');
    expect(canonicalJson({ a: undefined })).toBe("{}");
    expect(canonicalJson([undefined, 1, undefined])).toBe("[null,1,null]");
    expect(canonicalJson([])).toBe("[]");
    expect(canonicalJson([[], {}])).toBe("[[],{}]");
  });

  it("accepts the same object twice when it is not a cycle", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared, shared] })).toBe('{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
  });

  it("accepts null-prototype objects and plain objects of another realm", () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
    expect(canonicalJson(vm.runInNewContext("({ k: [1, { j: 2 }] })"))).toBe('{"k":[1,{"j":2}]}');
  });

  it("hashes the UTF-8 bytes: sha256 tagged, lowercase hex", () => {
    const expected = createHash("sha256").update("é", "utf8").digest("hex");
    expect(sha256Hex("é")).toBe(expected);
    expect(sha256Tagged("é")).toBe(`sha256:${expected}`);
    expect(intentHash({ b: 1, a: "é" })).toBe(
      `sha256:${createHash("sha256").update('{"a":"é","b":1}', "utf8").digest("hex")}`,
    );
  });
});

describe("refusals name the path and the fix", () => {
  it.each([
    ["NaN", NaN, "NaN is not JSON data: only finite numbers"],
    ["Infinity", Infinity, "Infinity is not JSON data"],
    ["-Infinity", -Infinity, "-Infinity is not JSON data"],
    ["a BigInt", 1n, "a bigint is not JSON data: pass it as a string or a safe integer"],
    ["a function", () => 1, "a function is not JSON data: pass plain data"],
    ["a symbol", Symbol("s"), "a symbol is not JSON data: pass plain data"],
    ["a Date", new Date(0), "a Date is not JSON data: pass an ISO string instead"],
    ["a Map", new Map(), "a Map is not JSON data: convert it to a plain object or array"],
    ["a Set", new Set(), "a Set is not JSON data: convert it to a plain object or array"],
    [
      "a class instance with an accessor",
      new (class Order {
        get total() {
          return 1;
        }
      })(),
      "a Order is not JSON data: convert it to plain objects",
    ],
    [
      "a class instance with its own toJSON",
      new (class Order {
        toJSON() {
          return 1;
        }
      })(),
      "a Order is not JSON data",
    ],
    ["a Buffer", Buffer.from("x"), "a Buffer is not JSON data"],
  ])("%s", (_what, bad, message) => {
    const error = refusal({ order: { lines: [1, bad] } }, "parameters");
    expect(error.path).toBe("parameters.order.lines[1]");
    expect(error.message).toContain(message);
    expect(error.code).toBe("VALIDATION_FAILED");
  });

  it("a data-only instance (a DTO) reads as the plain object it holds, whatever its prototype", () => {
    const dto = new (class Order {
      symbol = "EURUSD";
      qty = 2;
    })();
    expect(canonicalJson({ x: dto })).toBe(canonicalJson({ x: { symbol: "EURUSD", qty: 2 } }));
    const bare = Object.create(Object.create(null) as object) as object;
    expect(canonicalJson({ x: bare })).toBe('{"x":{}}');
    const getter = Object.create({}, { secret: { get: () => 1, enumerable: true } }) as object;
    expect(refusal({ x: getter }).path).toBe("value.x");
  });

  it("intentHash names the binding in its refusals", () => {
    expect(() => intentHash({ action: { parameters: { qty: NaN } } })).toThrow(
      expect.objectContaining({ path: "binding.action.parameters.qty" }),
    );
  });

  it("paths: identifiers dotted, other keys quoted, indexes in brackets", () => {
    expect(refusal({ "a-b": { c: [{ $d_1: NaN }] } }, "context").path).toBe('context["a-b"].c[0].$d_1');
    expect(refusal({ "1x": NaN }).path).toBe('value["1x"]');
    expect(refusal([NaN]).path).toBe("value[0]");
    expect(refusal(NaN, "").path).toBe("");
    expect(refusal({ a: NaN }, "").path).toBe("a");
  });

  it.each(["__proto__", "constructor", "prototype"])("the key %s", (key) => {
    const error = refusal(JSON.parse(`{"ok":1,"${key}":{"x":1}}`));
    expect(error.message).toContain(`the key "${key}" is not allowed`);
    expect(error.path).toBe(`value.${key}`);
  });

  it("a forbidden key with an undefined value is dropped like any undefined member", () => {
    expect(canonicalJson({ constructor: undefined, a: 1 })).toBe('{"a":1}');
  });

  it("cycles, through objects and arrays", () => {
    const o: Record<string, unknown> = { a: 1 };
    o["self"] = o;
    expect(refusal(o).message).toContain("a cycle");
    expect(refusal(o).path).toBe("value.self");
    const arr: unknown[] = [1];
    arr.push({ back: arr });
    expect(refusal(arr).path).toBe("value[1].back");
  });
});

describe("limits", () => {
  it(`depth: ${LIMITS.maxDepth} levels pass, one more is refused`, () => {
    expect(() => canonicalJson(nest(LIMITS.maxDepth))).not.toThrow();
    const error = refusal(nest(LIMITS.maxDepth + 1));
    expect(error.message).toContain(`nesting deeper than ${LIMITS.maxDepth} levels`);
    expect(refusal([nest(LIMITS.maxDepth)]).message).toContain("nesting deeper");
  });

  it(`entries: ${LIMITS.maxEntries} members and elements pass, one more is refused, across values`, () => {
    const half = Array.from({ length: LIMITS.maxEntries / 2 }, (_, i) => i);
    const budget = { entries: 0 };
    canonicalJson(half, "parameters", budget);
    canonicalJson(Object.fromEntries(half.map((i) => [`k${i}`, i])), "context", budget);
    expect(budget.entries).toBe(LIMITS.maxEntries);
    const error = refusal([1], "more", budget);
    expect(error.message).toContain(`more than ${LIMITS.maxEntries} object members`);
    expect(refusal(Array.from({ length: LIMITS.maxEntries + 1 }, () => 0)).path).toBe("value");
    expect(() => canonicalJson(Array.from({ length: LIMITS.maxEntries }, () => 0))).not.toThrow();
  });

  it("undefined members count as entries (they were sent to the walk)", () => {
    const budget = { entries: 0 };
    canonicalJson({ a: undefined, b: 1 }, "v", budget);
    expect(budget.entries).toBe(2);
  });

  it("a record the authority wrote has no depth or size limit, but the same form and checks", () => {
    expect(canonicalRecord(nest(LIMITS.maxDepth + 5))).toBe(
      canonicalJson(nest(LIMITS.maxDepth), "v").replace("1", '{"a":{"a":{"a":{"a":{"a":1}}}}}'),
    );
    expect(canonicalRecord({ b: [1, undefined], a: null })).toBe('{"a":null,"b":[1,null]}');
    expect(() => canonicalRecord({ d: new Date(0) })).toThrow(/record\.d: a Date/);
  });
});
