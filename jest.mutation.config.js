/**
 * Jest as `npm run mutation` (StrykerJS) runs it: the TC39 project only (the
 * legacy-decorator project re-runs decorator suites that test no mutated
 * code differently), without the package tests (they build and install a
 * tarball) and the CLI and example tests (child processes): none of them
 * loads a mutant, and under Stryker's instrumentation they outrun their timeouts.
 */
const { projects } = require("./jest.config.js");

// eslint-disable-next-line no-unused-vars
const { displayName, ...tc39 } = projects.find((p) => p.displayName === "tc39");

// MUTATION_TESTS="test/grants/**,test/grants.test.ts" narrows the suites a run uses: on 2 cores a
// run over every suite takes minutes per file group, most of it in suites that never reach the mutants.
const only = (process.env.MUTATION_TESTS ?? "")
  .split(",")
  .filter((glob) => glob.trim() !== "")
  .map((glob) => `<rootDir>/${glob.trim()}`);

/** @type {import('jest').Config} */
module.exports = {
  ...tc39,
  ...(only.length > 0 ? { testMatch: only } : {}),
  rootDir: __dirname,
  testPathIgnorePatterns: [
    "/node_modules/",
    "<rootDir>/test/package/",
    "<rootDir>/test/local/cli.test.ts",
    "<rootDir>/test/local/examples.test.ts",
  ],
};
