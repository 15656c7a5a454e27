import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (no build needed to test). Vite 7 applies
  // `resolve.conditions` to client code only; tests run server-side, hence the ssr entry too.
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'bench/**/*.test.ts'],
    // Each test file gets its own process: Dawn instances are per process and lavapipe is CPU-bound.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
