/**
 * Two projects: every suite under TC39 decorators, and the decorator suite
 * again under legacy `experimentalDecorators` — same tests, other compiler flags.
 * Type errors are caught by `npm run typecheck` (ts-jest transpiles only here).
 */
const transform = (tsconfig) => ({ "^.+\\.ts$": ["ts-jest", { tsconfig }] });
// Sources import "./x.js" (as Node ESM wants); in tests that means ./x.ts.
const moduleNameMapper = { "^(\\.{1,2}/.*)\\.js$": "$1" };

// Scratch installs of the packed tarball and its consumer fixtures are not ours to map.
const modulePathIgnorePatterns = [
  "<rootDir>/.tmp/",
  "<rootDir>/test/package/fixtures/",
  "<rootDir>/dist/",
  "<rootDir>/.stryker-tmp/",
];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: "tc39",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/**/*.test.ts"],
      // NestJS needs legacy decorators with metadata: its suites run in the project below only.
      testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/integrations/nestjs/"],
      transform: transform("<rootDir>/tsconfig.jest.json"),
      moduleNameMapper,
      modulePathIgnorePatterns,
    },
    {
      displayName: "legacy-decorators",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/decorators/**/*.test.ts", "<rootDir>/test/integrations/nestjs/**/*.test.ts"],
      transform: transform("<rootDir>/tsconfig.jest.legacy.json"),
      moduleNameMapper,
      modulePathIgnorePatterns,
    },
  ],
};
