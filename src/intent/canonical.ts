/**
 * Canonical JSON and the intent hash (protocol 2.2), with the JSON-data checks
 * of 2.1 done in the same pass: one walk validates and writes, so a gated call
 * pays for its data once.
 */
import * as crypto from "node:crypto";
import { ValidationError } from "../errors/input.js";

/** Limits on caller data (protocol 2.1). */
export const LIMITS = {
  /** Nesting depth of one value; the value itself is level 1. */
  maxDepth: 20,
  /** Object members plus array elements across all caller data of one intent. */
  maxEntries: 5_000,
  /** UTF-8 bytes of the canonical binding. */
  maxCanonicalBytes: 100 * 1024,
} as const;

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** @internal Shared across the values of one intent so the entry limit is global. */
export interface WalkBudget {
  entries: number;
}

/** Dotted path of `segments`: `context.order.placedAt`, `parameters.args[0]`. */
function pathOf(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (out === "") out = s;
    else if (/^[A-Za-z_$][\w$]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const proto: unknown = Object.getPrototypeOf(value);
  const ctor = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof ctor === "string" && ctor !== "" ? `a ${ctor}` : "an object with a custom prototype";
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) return true;
  // A plain object from another realm (vm context, worker message): its prototype's prototype is null.
  if (
    Object.getPrototypeOf(proto) === null &&
    (proto as { constructor?: { name?: unknown } }).constructor?.name === "Object"
  )
    return true;
  return isDataClassInstance(value, proto as object);
}

/**
 * A DTO as class-transformer makes it: an instance of a user class whose own
 * properties are all data, with no accessor or `toJSON` anywhere on its
 * prototype chain. Captured as the plain object it is; anything with behaviour
 * (Map, Date, a getter) is not.
 */
function isDataClassInstance(value: object, proto: object): boolean {
  if (Object.prototype.toString.call(value) !== "[object Object]") return false;
  for (
    let p: object | null = proto;
    p !== null && p !== Object.prototype;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(p)))
      if (d.get !== undefined || d.set !== undefined || key === "toJSON") return false;
    if (Object.getOwnPropertySymbols(p).length > 0) return false;
  }
  for (const d of Object.values(Object.getOwnPropertyDescriptors(value)))
    if (d.get !== undefined || d.set !== undefined) return false;
  return true;
}

function hintFor(value: unknown): string {
  if (value instanceof Date) return "pass an ISO string instead, e.g. value.toISOString()";
  if (typeof value === "bigint") return "pass it as a string or a safe integer";
  if (typeof value === "number") return "only finite numbers are JSON data";
  if (typeof value === "function" || typeof value === "symbol")
    return "pass plain data, or set the gate's `parameters`/`context` option to pick the fields to send";
  if (value instanceof Map || value instanceof Set) return "convert it to a plain object or array";
  return "convert it to plain objects, arrays, strings, numbers, booleans or null";
}

class Walker {
  private readonly segments: (string | number)[];
  private readonly ancestors = new Set<object>();

  constructor(
    root: string,
    private readonly budget: WalkBudget,
    private readonly limits: { maxDepth: number; maxEntries: number },
  ) {
    this.segments = [root];
  }

  fail(message: string, details: Record<string, unknown> = {}): never {
    throw new ValidationError(pathOf(this.segments), message, details);
  }

  write(value: unknown, depth: number): string {
    switch (typeof value) {
      case "string":
        return JSON.stringify(value);
      case "boolean":
        return value ? "true" : "false";
      case "number":
        if (!Number.isFinite(value)) this.fail(`${String(value)} is not JSON data: ${hintFor(value)}`);
        return JSON.stringify(value);
      case "object":
        if (value === null) return "null";
        return this.writeContainer(value, depth);
      default:
        return this.fail(`a ${typeof value} is not JSON data: ${hintFor(value)}`);
    }
  }

  private writeContainer(value: object, depth: number): string {
    try {
      return this.writeContainerOf(value, depth);
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      // A getter or a Proxy trap threw: name where, never let a plain Error out.
      return this.fail(`reading it threw (${error instanceof Error ? error.message : String(error)}): pass plain data`);
    }
  }

  private writeContainerOf(value: object, depth: number): string {
    if (depth > this.limits.maxDepth)
      this.fail(`nesting deeper than ${this.limits.maxDepth} levels: flatten the data or send a summary`);
    if (this.ancestors.has(value)) this.fail("a cycle: the value contains itself");
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) this.fail(`${describe(value)} is not JSON data: ${hintFor(value)}`);
    this.ancestors.add(value);
    let out: string;
    if (isArray) {
      const arr = value as unknown[];
      this.spend(arr.length);
      out = "[";
      for (let i = 0; i < arr.length; i++) {
        this.segments.push(i);
        const item = arr[i];
        // As JSON.stringify does: an undefined element is written as null.
        out += (i === 0 ? "" : ",") + (item === undefined ? "null" : this.write(item, depth + 1));
        this.segments.pop();
      }
      out += "]";
    } else {
      const obj = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what the protocol asks for.
      const keys = Object.keys(obj).sort();
      this.spend(keys.length);
      out = "{";
      let first = true;
      for (const key of keys) {
        this.segments.push(key);
        const item = obj[key];
        if (item === undefined) {
          this.segments.pop();
          continue;
        }
        if (FORBIDDEN_KEYS.has(key)) this.fail(`the key "${key}" is not allowed: rename it`);
        out += (first ? "" : ",") + JSON.stringify(key) + ":" + this.write(item, depth + 1);
        this.segments.pop();
        first = false;
      }
      out += "}";
    }
    this.ancestors.delete(value);
    return out;
  }

  private spend(n: number): void {
    this.budget.entries += n;
    if (this.budget.entries > this.limits.maxEntries)
      this.fail(
        `more than ${this.limits.maxEntries} object members and array elements in one intent: send a summary or an id instead`,
      );
  }
}

/**
 * Validates `value` as JSON data and writes it canonically: no whitespace, keys
 * sorted by UTF-16 code units at every level, strings and numbers as
 * `JSON.stringify` writes them, no Unicode normalisation, `undefined` members
 * dropped.
 *
 * @param path - name of the value in errors, e.g. `context`.
 * @throws {@link ValidationError} naming the path of the first bad value.
 */
export function canonicalJson(value: unknown, path = "value", budget: WalkBudget = { entries: 0 }): string {
  return new Walker(path, budget, LIMITS).write(value, 1);
}

/**
 * Canonical JSON of a record the authority wrote (a dossier): the same form as
 * {@link canonicalJson}, without the limits that apply to caller data.
 */
export function canonicalRecord(value: unknown): string {
  return new Walker("record", { entries: 0 }, { maxDepth: Infinity, maxEntries: Infinity }).write(value, 1);
}

/** `sha256:` + lowercase hex SHA-256 of the UTF-8 bytes of `canonical`. */
export function sha256Tagged(canonical: string): string {
  return "sha256:" + sha256Hex(canonical);
}

// crypto.hash (Node >= 20.12) hashes in one call, without a Hash object per intent.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
export function sha256Hex(text: string): string {
  return oneShot === undefined
    ? crypto.createHash("sha256").update(text, "utf8").digest("hex")
    : oneShot("sha256", text, "hex");
}

/**
 * The intent hash of a binding (protocol 2.2).
 *
 * @example
 * intentHash({ amount: 0 }) // "sha256:e6a3…"
 */
export function intentHash(binding: unknown): string {
  return sha256Tagged(canonicalJson(binding, "binding"));
}
