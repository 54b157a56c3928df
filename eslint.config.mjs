// typescript-eslint strict, type-checked, over the library; tests, examples and
// scripts get the same rules with the few relaxations test code needs.
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "coverage/", ".tmp/", "node_modules/", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  // StrykerJS sandboxes and reports (npm run mutation).
  { ignores: [".stryker-tmp/", "reports/"] },
  // Nest 12 has its own install and copies of src (test/integrations/nestjs/nest12.test.ts).
  { ignores: ["test/integrations/nestjs/v12/"] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Public generic defaults use `any` on purpose (GateOptions<any[], any>).
      "@typescript-eslint/no-explicit-any": "off",
      // noUncheckedIndexedAccess makes `!` the honest way to say "checked above".
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "@typescript-eslint/no-unnecessary-type-parameters": "off",
      "@typescript-eslint/unified-signatures": "off",
      // Runtime guards for JavaScript callers look "unnecessary" to the type checker; they are not.
      "@typescript-eslint/no-unnecessary-condition": "off",
    },
  },
  {
    files: ["test/**/*.ts", "examples/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-extraneous-class": "off",
      "@typescript-eslint/class-methods-use-this": "off",
      "@typescript-eslint/no-empty-function": "off",
      // Tests read methods off prototypes to inspect their metadata.
      "@typescript-eslint/unbound-method": "off",
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
