import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    // One Ceph RADOS Gateway (real S3) for the whole run; see test/helpers/rgw-global.ts.
    globalSetup: ['test/helpers/rgw-global.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // End-to-end files each run their own nats-server and Lambda workers
    // (buckets on the shared gateway); two at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
  },
});
