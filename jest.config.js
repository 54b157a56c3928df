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

// scripts/node-matrix.sh runs the suite again under Node 22 and 24, without the package test (it packs,
// installs and compiles the tarball: Node-independent work the Node 20 run already did).
const skipped = process.env.DECIONIS_SKIP_PACKAGE_TEST ? ["<rootDir>/test/package/"] : [];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: "tc39",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/**/*.test.ts"],
      // NestJS needs legacy decorators with metadata: its suites run in the project below only.
      testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/integrations/nestjs/", ...skipped],
      transform: transform("<rootDir>/tsconfig.jest.json"),
      moduleNameMapper,
      modulePathIgnorePatterns,
    },
    {
      displayName: "legacy-decorators",
      testEnvironment: "node",
      testMatch: ["<rootDir>/test/decorators/**/*.test.ts", "<rootDir>/test/integrations/nestjs/**/*.test.ts"],
      testPathIgnorePatterns: ["/node_modules/", ...skipped],
      transform: transform("<rootDir>/tsconfig.jest.legacy.json"),
      moduleNameMapper,
      modulePathIgnorePatterns,
    },
  ],
};
