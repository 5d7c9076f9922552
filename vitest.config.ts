import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // End-to-end files each run their own nats-server, s3rver pair and Lambda
    // workers; two at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
  },
});
