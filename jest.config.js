/**
 * Two projects: every suite under TC39 decorators, and the decorator suite
 * again under legacy `experimentalDecorators` — same tests, other compiler flags.
 * Type errors are caught by `npm run typecheck` (ts-jest transpiles only here).
 */
const transform = (tsconfig) => ({ "^.+\\.ts$": ["ts-jest", { tsconfig }] });

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: "tc39",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/**/*.test.ts"],
      transform: transform("<rootDir>/tsconfig.jest.json"),
    },
    {
      displayName: "legacy-decorators",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/decorators/**/*.test.ts"],
      transform: transform("<rootDir>/tsconfig.jest.legacy.json"),
    },
  ],
};
