/** Runs the ResultStore contract against SQLite (temp file) and a real PostgreSQL server. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from './open-store.js';
import { describeStoreContract } from './testing/store-contract.js';

// Trust auth on the test server; CXR_TEST_POSTGRES_URL overrides it for CI (tests are not app
// code, so reading the environment here bypasses @cxr/config on purpose).
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describeStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-store-'));
  const url = `sqlite:${join(dir, 'results.sqlite')}`;
  return {
    open: () => openStore(url, { migrate: false }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeStoreContract('postgres', async () => {
  // Each test gets its own schema, created and dropped here; no other schema is touched.
  const schema = `cxr_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  return {
    open: () => openStore(POSTGRES_URL, { migrate: false, schema }),
    cleanup: async () => {
      try {
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
});
