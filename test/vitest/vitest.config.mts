// Runs the vitest-side checks of decionis/testing; the rest of the suite is jest's.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { include: ["test/vitest/**/*.vitest.ts"], root: ".", pool: "threads", watch: false },
});
