import { defineConfig } from 'vitest/config';

/**
 * The export condition under which every workspace package resolves to its TypeScript sources
 * (`src/*.ts`) instead of its compiled `dist/*.js` (see tsconfig.base.json `customConditions`):
 * the tests run the sources directly, and so do the processes and threads they start.
 */
const SOURCE_CONDITION = '@cxr/source';
const NODE_SOURCE_OPTION = `--conditions=${SOURCE_CONDITION}`;
/** Vite's default server conditions (DEFAULT_SERVER_CONDITIONS), which `conditions` replaces. */
const VITE_SERVER_CONDITIONS = ['node', 'development|production'];

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...VITE_SERVER_CONDITIONS] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...VITE_SERVER_CONDITIONS] } },
  // Vitest's own environment, which loads the global setup.
  environments: { __vitest__: { resolve: { conditions: [SOURCE_CONDITION, ...VITE_SERVER_CONDITIONS] } } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Fixture generation (dcmtk/gdcm transcoding) and the build of the compiled CLI and services
    // (which the tests of the shipped artifacts run) happen once per test run.
    globalSetup: ['packages/fixtures/src/global-setup.ts', 'test/build-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Two cores: the decode pool tests spawn their own threads.
    pool: 'forks',
    maxWorkers: 2,
    // Worker threads started by the tests (decode pool, runtime) resolve sources too...
    execArgv: [NODE_SOURCE_OPTION],
    // ...and so do the processes the tests spawn with the test's environment.
    env: { NODE_OPTIONS: NODE_SOURCE_OPTION },
  },
});
