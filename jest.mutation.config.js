/**
 * Jest as `npm run mutation` (StrykerJS) runs it: the TC39 project only (the
 * legacy-decorator project re-runs decorator suites that test no mutated
 * code differently) and without the package tests, which build and install a
 * tarball and so never see a mutant.
 */
const { projects } = require("./jest.config.js");

// eslint-disable-next-line no-unused-vars
const { displayName, ...tc39 } = projects.find((p) => p.displayName === "tc39");

/** @type {import('jest').Config} */
module.exports = {
  ...tc39,
  rootDir: __dirname,
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/package/"],
};
