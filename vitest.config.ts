import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: end-to-end files start real processes; keep parallelism modest.
    maxWorkers: 2,
    // One PostgreSQL server for the run (an env URL, the local one, or an embedded one).
    globalSetup: ["test/helpers/postgres-global-setup.ts"],
  },
});
