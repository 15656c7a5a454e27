import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'bench/**/*.test.ts'],
    // Each test file gets its own process: Dawn instances are per process and lavapipe is CPU-bound.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
