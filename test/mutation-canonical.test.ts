/**
 * Canonical JSON's data checks at the edges the 2026-12-04 Stryker run of
 * src/intent/canonical.ts found untested: objects with behaviour that look
 * like data (boxed primitives, setters, symbol methods, a prototype without a
 * constructor), reads that throw, and the name of a value in errors.
 */
import { canonicalJson, intentHash } from "../src/intent/canonical.js";
import { ValidationError } from "../src/index.js";

function refusal(value: unknown, path?: string): ValidationError {
  try {
    canonicalJson(value, path);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("accepted");
}

describe("objects with behaviour are not data", () => {
  it.each([
    ["a boxed number", new Number(5)],
    ["a boxed boolean", new Boolean(false)],
    [
      "a class instance with its own Symbol.toStringTag",
      new (class Tagged {
        [Symbol.toStringTag] = "Tagged";
      })(),
    ],
    [
      "an instance of a class with a setter",
      new (class WithSetter {
        set x(_v: number) {
          /* behaviour */
        }
      })(),
    ],
    [
      "an instance of a class with a symbol method",
      new (class Iterable {
        *[Symbol.iterator]() {
          yield 1;
        }
      })(),
    ],
    [
      "an instance with its own setter",
      Object.defineProperty(new (class Dto {})(), "x", {
        set(_v: unknown) {
          /* behaviour */
        },
        enumerable: true,
      }),
    ],
  ])("%s", (_what, value) => {
    expect(refusal({ v: value }, "parameters").path).toBe("parameters.v");
  });

  it("a prototype without a constructor, with a getter: named as a custom prototype", () => {
    const proto: object = Object.create(null) as object;
    Object.defineProperty(proto, "x", { get: () => 1 });
    const error = refusal({ v: Object.create(proto) as object });
    expect(error.message).toMatch(/^value\.v: an object with a custom prototype is not JSON data: /);
  });

  it("a constructor with an empty name: named as a custom prototype too", () => {
    const proto = { constructor: { name: "" } };
    Object.defineProperty(proto, "x", { get: () => 1 });
    const error = refusal({ v: Object.create(proto) as object });
    expect(error.message).toMatch(/^value\.v: an object with a custom prototype is not JSON data: /);
  });

  it("a data class instance is still data", () => {
    class Order {
      id = "o1";
      qty = 2;
    }
    expect(canonicalJson({ v: new Order() })).toBe('{"v":{"id":"o1","qty":2}}');
  });
});

describe("reads that throw, and nested refusals", () => {
  it("a getter that throws is a ValidationError naming where, not a plain Error", () => {
    const error = refusal({
      order: {
        get qty(): number {
          throw new Error("boom");
        },
      },
    });
    expect(error.path).toBe("value.order.qty");
    expect(error.message).toBe("value.order.qty: reading it threw (boom): pass plain data");
  });

  it("a Proxy whose trap throws a non-Error says what it threw", () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a trap that throws a non-Error is the case under test
          throw "no keys";
        },
      },
    );
    expect(refusal({ p: hostile }).message).toBe("value.p: reading it threw (no keys): pass plain data");
  });

  it("a bad value deep inside keeps its own message, not a 'reading it threw'", () => {
    const error = refusal({ a: { b: [1, Number.NaN] } }, "context");
    expect(error.path).toBe("context.a.b[1]");
    expect(error.message).toBe("context.a.b[1]: NaN is not JSON data: only finite numbers are JSON data");
  });

  it("without a name, the value is called `value`", () => {
    expect(refusal(Number.POSITIVE_INFINITY).path).toBe("value");
  });
});

describe("hashing without crypto.hash (Node 20 before 20.12)", () => {
  it("falls back to a Hash object with the same digest", () => {
    const expected = intentHash({ amount: 0, to: "acct_1" });
    let fallback: string | undefined;
    jest.isolateModules(() => {
      jest.doMock("node:crypto", () => {
        const real = jest.requireActual<typeof import("node:crypto")>("node:crypto");
        return { ...real, hash: undefined };
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh copy of the module under the mock
      const fresh = require("../src/intent/canonical.js") as typeof import("../src/intent/canonical.js");
      fallback = fresh.intentHash({ amount: 0, to: "acct_1" });
    });
    jest.dontMock("node:crypto");
    expect(fallback).toBe(expected);
    expect(expected).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
