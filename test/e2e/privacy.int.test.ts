/**
 * End to end, as separate processes, once per store (SQLite, PostgreSQL): a run over fixtures that
 * carry a canary patient name and ID, with ok, rejected and failed outcomes, at CXR_LOG_LEVEL=debug.
 * Everything the pipeline lets out is collected: every line every process wrote, the results
 * service's /metrics, every column of every row of every table of the store, the CSV and JSONL
 * exports, and every key and value under the run's Redis prefix (job data, results, failed
 * reasons, cursors). Neither the canary name nor the canary ID appears anywhere, in any obvious
 * spelling; the salted hash of the ID does appear in the store.
 *
 * A second canary is in object NAMES (`DOE^QUOKKA_MRN-998877.dcm`, as exported archives name
 * files): an ok object and the one that vanishes. It must appear in no log line (the logs name an
 * object by its URI hash) and in nothing the queue dashboard answers; it does appear, by design,
 * in the store and the exports (a study needs the URI) and in the Redis job payloads.
 */
import { copyFile, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { uriHash } from '@cxr/config/log';
import { hashPatientId, openStore, writeExport } from '@cxr/store';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil } from './processes.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  keysUnder,
  metricsText,
  randomName,
  readRun,
  rejectFixtures,
  seedModel,
  serviceEnv,
  stageGoodCopies,
} from './pipeline.js';

const SALT = 'e2e-privacy-salt-0123456789';
const TOKEN = 'e2e-privacy-dashboard-token';
const GOOD = 8;
/** A patient name and record number in object names, as exported archives have them. */
const NAME_CANARY = 'DOE^QUOKKA_MRN-998877';
/**
 * Spellings of the name canary (file:// URIs percent-encode `^`). The record number counts as a
 * leak only where it is not part of a longer number or hash: the dashboard lists scores and
 * timestamps, and a score such as 0.1299887731 holds its digits by chance (a CI run met one).
 */
const NAME_FORBIDDEN: readonly RegExp[] = [/QUOKKA/, /(?<![0-9a-f.])998877(?![0-9a-f])/i];
/** A good object named after the patient: an `ok` outcome. */
const NAMED = `${NAME_CANARY}.dcm`;
/** Listed by the ingest, deleted before the worker fetches it: a `failed` outcome. */
const VANISHED = `vanished-${NAME_CANARY}.dcm`;

/** Spellings of the canaries that must not appear (compared case-insensitively). */
const FORBIDDEN = [
  CANARY_PATIENT_NAME,
  CANARY_PATIENT_NAME.replaceAll('^', ' '),
  CANARY_PATIENT_NAME.replaceAll('^', ''),
  CANARY_PATIENT_NAME.replaceAll('^', ', '),
  CANARY_PATIENT_ID,
  CANARY_PATIENT_ID.replaceAll('-', ''),
  Buffer.from(CANARY_PATIENT_ID, 'latin1').toString('hex'),
  Buffer.from(CANARY_PATIENT_NAME, 'latin1').toString('hex'),
  'CANARY',
  'DO-NOT-LEAK',
];

/** Sources the test searches, by name. */
type Collected = Map<string, string>;

function cellText(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** Every table's every row, every column, of a SQLite file (raw SQL, not through the adapter). */
function dumpSqlite(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    const out: string[] = [];
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all() as Record<
        string,
        unknown
      >[];
      for (const row of rows) {
        out.push(
          `${name}: ${Object.entries(row)
            .map(([column, value]) => `${column}=${cellText(value)}`)
            .join(' | ')}`,
        );
      }
    }
    return out.join('\n');
  } finally {
    db.close();
  }
}

/** Every table's every row, every column, of a PostgreSQL schema. */
async function dumpPostgres(schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    const out: string[] = [];
    for (const { table_name: name } of tables.rows) {
      const rows = await client.query<Record<string, unknown>>(
        `SELECT * FROM ${schema}."${name.replaceAll('"', '""')}"`,
      );
      for (const row of rows.rows) {
        out.push(
          `${name}: ${Object.entries(row)
            .map(([column, value]) => `${column}=${cellText(value)}`)
            .join(' | ')}`,
        );
      }
    }
    return out.join('\n');
  } finally {
    await client.end();
  }
}

/** Every key under the prefix with its value, read with the command matching its type. */
async function dumpRedis(prefix: string): Promise<{ text: string; keys: number }> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await keysUnder(redis, prefix);
    const out: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      let value: unknown;
      switch (type) {
        case 'string':
          value = await redis.get(key);
          break;
        case 'hash':
          value = await redis.hgetall(key);
          break;
        case 'list':
          value = await redis.lrange(key, 0, -1);
          break;
        case 'set':
          value = await redis.smembers(key);
          break;
        case 'zset':
          value = await redis.zrange(key, 0, -1, 'WITHSCORES');
          break;
        case 'stream':
          value = await redis.xrange(key, '-', '+');
          break;
        case 'none':
          continue;
        default:
          throw new Error(`key ${key} has type ${type}, which this dump does not read`);
      }
      out.push(`${key} (${type}): ${JSON.stringify(value)}`);
    }
    return { text: out.join('\n'), keys: keys.length };
  } finally {
    redis.disconnect();
  }
}

async function exportRun(
  storeUrl: string,
  runId: string,
  labels: readonly string[],
  format: 'csv' | 'jsonl',
): Promise<string> {
  const store = await openStore(storeUrl);
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  try {
    const { rows } = await writeExport(store.iterateRun(runId), { format, labels }, sink);
    expect(rows).toBeGreaterThan(0);
    return chunks.join('');
  } finally {
    await store.close();
  }
}

describe.each(['sqlite', 'postgres'] as const)(
  'no patient name or ID leaves the pipeline (%s store)',
  (dialect) => {
    const group = new ProcessGroup();
    const prefix = randomName(`cxr-e2e-privacy-${dialect}`);
    const runId = randomName('run-privacy');
    const schema = `cxr_e2e_${randomName('privacy').replace('-', '_')}`;
    const collected: Collected = new Map();
    const outcomes = new Map<string, number>();
    let storeText = '';
    let redisKeys = 0;
    let okHashes: (string | null)[] = [];
    let namedUris: string[] = [];
    /** Everything the queue dashboard's API answered, both queues, every state. */
    let dashboardText = '';
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-privacy-'));
      const objects = join(dir, 'objects');
      const model = await seedModel(join(dir, 'model'));
      await stageGoodCopies(objects, GOOD);
      for (const fixture of rejectFixtures())
        await copyFile(fixture.path, join(objects, `bad-${fixture.name}.dcm`));
      const first = (await stageGoodCopies(join(dir, 'spare'), 1))[0] ?? '';
      await copyFile(join(dir, 'spare', first), join(objects, VANISHED));
      await copyFile(join(dir, 'spare', first), join(objects, NAMED));
      namedUris = [NAMED, VANISHED].map((name) => pathToFileURL(join(objects, name)).href);

      let storeUrl: string;
      if (dialect === 'sqlite') {
        storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
      } else {
        const admin = new pg.Client({ connectionString: POSTGRES_URL });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        // Every process reads only CXR_STORE_URL: the schema travels as a libpq `options` parameter.
        storeUrl = `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      }
      const httpPort = await freePort();
      const env = serviceEnv({
        prefix,
        storeUrl,
        httpPort,
        logLevel: 'debug',
        extra: {
          CXR_PATIENT_ID_SALT: SALT,
          CXR_SCREEN_ATTEMPTS: '2',
          CXR_SCREEN_BACKOFF_MS: '100',
          CXR_API_TOKEN: TOKEN,
        },
      });
      const results = group.startResults('results', env);
      await results.waitForLine(RESULTS_READY, START_TIMEOUT_MS);
      const ingest = group.startIngest('ingest', pathToFileURL(objects).href, model.dir, runId, env);
      expect(await ingest.waitForExit(START_TIMEOUT_MS), ingest.text).toEqual({ code: 0, signal: null });
      await unlink(join(objects, VANISHED));
      const worker = group.startWorker('worker', model.dir, env);
      await worker.waitForLine(WORKER_READY, START_TIMEOUT_MS);
      const total = GOOD + 1 + rejectFixtures().length + 1;
      await waitUntil(
        'every object stored',
        async () => (await countRun(storeUrl, runId)) >= total,
        60_000,
        250,
      );

      for (const row of await readRun(storeUrl, runId))
        outcomes.set(row.outcome, (outcomes.get(row.outcome) ?? 0) + 1);
      okHashes = (await readRun(storeUrl, runId))
        .filter((row) => row.outcome === 'ok')
        .map((row) => row.patientIdHash);
      collected.set('metrics', await metricsText(httpPort));
      dashboardText = await dashboardAnswers(httpPort);
      // Graceful stops: the shutdown lines are part of what is searched.
      await group.stopAll();
      for (const managed of group.all) collected.set(`output of ${managed.name}`, managed.text);
      storeText = dialect === 'sqlite' ? dumpSqlite(join(dir, 'results.sqlite')) : await dumpPostgres(schema);
      collected.set('store', storeText);
      collected.set('csv export', await exportRun(storeUrl, runId, model.labels, 'csv'));
      collected.set('jsonl export', await exportRun(storeUrl, runId, model.labels, 'jsonl'));
      const redis = await dumpRedis(prefix);
      redisKeys = redis.keys;
      collected.set('redis', redis.text);
    }, 120_000);

    afterAll(async () => {
      await group.stopAll();
      await deleteKeysUnder(REDIS_URL, prefix);
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: POSTGRES_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
      await rm(dir, { recursive: true, force: true });
    }, 30_000);

    it('ran with ok, rejected and failed outcomes and collected every output', () => {
      expect(outcomes.get('ok')).toBe(GOOD + 1);
      expect(outcomes.get('rejected')).toBe(rejectFixtures().length);
      expect(outcomes.get('failed')).toBe(1);
      // Debug logging was on, and every source holds real content.
      expect(collected.get('output of worker')).toMatch(/"level":"debug"/);
      expect(collected.get('metrics')).toMatch(/cxr_/);
      expect(redisKeys).toBeGreaterThan(GOOD);
      for (const [source, text] of collected) expect(text.length, source).toBeGreaterThan(0);
      expect(storeText).toMatch(/outcome=rejected/);
    });

    it('no source contains the canary patient name or ID in any obvious spelling', () => {
      const leaks: string[] = [];
      for (const [source, text] of collected) {
        const haystack = text.toLowerCase();
        for (const needle of FORBIDDEN) {
          if (haystack.includes(needle.toLowerCase())) leaks.push(`${source} contains "${needle}"`);
        }
      }
      expect(leaks).toEqual([]);
    });

    it('the salted hash of the Patient ID is what the store keeps', () => {
      const hash = hashPatientId(CANARY_PATIENT_ID, SALT);
      expect(okHashes).toEqual(Array.from({ length: GOOD + 1 }, () => hash));
      expect(storeText).toContain(hash);
      expect(collected.get('csv export')).toContain(hash);
    });

    it('a patient name in an object name reaches no log line and nothing the dashboard shows', () => {
      const leaks: string[] = [];
      const outputs = [...collected].filter(
        ([source]) => source.startsWith('output of ') || source === 'metrics',
      );
      for (const [source, text] of [...outputs, ['queue dashboard', dashboardText] as const]) {
        for (const needle of NAME_FORBIDDEN) {
          const found = needle.exec(text);
          if (found !== null)
            leaks.push(
              `${source} contains ${String(needle)}: "${text.slice(Math.max(0, found.index - 40), found.index + 46)}"`,
            );
        }
      }
      expect(leaks).toEqual([]);
      // The logs name the object by its hash instead (the vanished one: `job failed`)...
      const vanished = namedUris[1] ?? '';
      expect(collected.get('output of worker')).toContain(`"uriHash":"${uriHash(vanished)}"`);
      // ...and so does the dashboard, which did list the jobs.
      expect(dashboardText).toContain(uriHash(namedUris[0] ?? ''));
    });

    it('the object names are kept where the study needs them: the store and the exports', () => {
      for (const source of ['store', 'csv export', 'jsonl export']) {
        expect(collected.get(source), source).toContain('QUOKKA_MRN-998877');
      }
    });
  },
);

/** Every job listing of the results service's queue dashboard: both queues, every state. */
async function dashboardAnswers(httpPort: number): Promise<string> {
  const answers: string[] = [];
  for (const queue of ['cxr-screen', 'cxr-results']) {
    for (const status of ['latest', 'completed', 'failed']) {
      const response = await fetch(
        `http://127.0.0.1:${httpPort}/admin/queues/api/queues?activeQueue=${queue}&status=${status}&jobsPerPage=100`,
        { headers: { authorization: `Bearer ${TOKEN}` } },
      );
      expect(response.status, `${queue} ${status}`).toBe(200);
      answers.push(await response.text());
    }
  }
  return answers.join('\n');
}
