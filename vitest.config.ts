import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Minutes long: run on its own (vitest.crash.config.ts, `npm run test:crash`).
    exclude: [...configDefaults.exclude, 'test/crash/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites share one Azurite; each test uses its own tables/containers/queues.
    pool: 'forks',
  },
});
