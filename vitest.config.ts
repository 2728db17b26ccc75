import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Fixture generation (dcmtk/gdcm transcoding) runs once per test run.
    globalSetup: ['packages/fixtures/src/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Two cores: the decode pool tests spawn their own threads.
    pool: 'forks',
    maxWorkers: 2,
  },
});
