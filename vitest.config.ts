import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The partition-search matrices are CPU-bound; use every core, not cores - 1.
    maxWorkers: availableParallelism(),
  },
});
