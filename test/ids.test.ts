import { uuidv7, uuidv7Time, isUuidV7, assertCorrelationId, newCorrelationId } from "../src/intent/ids.js";
import { InvalidCorrelationIdError } from "../src/index.js";

describe("uuidv7", () => {
  it("is a lowercase version-7 RFC 4122 uuid carrying the timestamp", () => {
    const now = Date.UTC(2026, 10, 21, 10, 0, 0);
    const id = uuidv7(now);
    expect(isUuidV7(id)).toBe(true);
    expect(uuidv7Time(id)).toBe(now);
  });

  it("stays strictly ordered within one millisecond and when the clock steps back", () => {
    const ids: string[] = [];
    const t = Date.now() + 10_000;
    for (let i = 0; i < 5000; i++) ids.push(uuidv7(t));
    ids.push(uuidv7(t - 5000));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isUuidV7)).toBe(true);
  });
});

describe("correlation ids", () => {
  it("are t:<tenant>|c:<uuidv7>", () => {
    expect(newCorrelationId("acme")).toMatch(
      /^t:acme\|c:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const ok = newCorrelationId("acme");
    expect(assertCorrelationId(ok, "acme")).toBe(ok);
  });

  it.each([
    ["not a string", 42],
    ["no prefix", "acme|c:0193f1c2-7a1b-7c3d-9e4f-0a1b2c3d4e5f"],
    ["another tenant", "t:other|c:0193f1c2-7a1b-7c3d-9e4f-0a1b2c3d4e5f"],
    ["uuid v4", "t:acme|c:0193f1c2-7a1b-4c3d-9e4f-0a1b2c3d4e5f"],
    ["uppercase uuid", "t:acme|c:0193F1C2-7A1B-7C3D-9E4F-0A1B2C3D4E5F"],
    ["bad variant", "t:acme|c:0193f1c2-7a1b-7c3d-1e4f-0a1b2c3d4e5f"],
  ])("rejects %s", (_what, value) => {
    expect(() => assertCorrelationId(value, "acme")).toThrow(InvalidCorrelationIdError);
  });
});
