import { defineConfig } from 'vitest/config';

/**
 * The crash test (test/crash): several app processes on one infrastructure, one of them killed;
 * minutes long, so outside `npm test` and run on its own by `npm run test:crash` (and `.ci/run`).
 */
export default defineConfig({
  test: {
    include: ['test/crash/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
