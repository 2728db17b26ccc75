/**
 * Shared set-up of the end-to-end tests: the environment the three production processes read
 * (@cxr/config), a small seeded ONNX model, staging of fixture DICOMs, reading the store, the
 * results service's /metrics, a dedicated redis-server and clean-up of a test's Redis keys.
 */
import { randomBytes } from 'node:crypto';
import { chown, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { initSeedModel } from '@cxr/model';
import { openStore, type StoredResult } from '@cxr/store';
import {
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
  type FixtureSet,
  type RejectFixture,
} from '@cxr/fixtures';
import type { ManagedProcess, ProcessGroup } from './processes.js';

/** The shared test Redis and PostgreSQL (README: Development). */
export const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Log lines the services write once they are up (jsonLineLogger `msg`). */
export const WORKER_READY = /"msg":"worker started"/;
export const RESULTS_READY = /"msg":"results http listening"/;
/** How long a service process may take to start (tsx transpile, model load) on a loaded 2-core box. */
export const START_TIMEOUT_MS = 30_000;

/** A random name part: queue prefixes, schemas and run ids of one test file never collide. */
export function randomName(label: string): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

export interface SeedModel {
  readonly dir: string;
  readonly id: string;
  readonly version: string;
  readonly labels: readonly string[];
}

/** A tiny seeded DenseNet (32 x 32 input, ONNX): fast on two cores, real inference. */
export async function seedModel(outDir: string): Promise<SeedModel> {
  const bundle = await initSeedModel({ outDir, size: 32, blocks: [1, 2, 2, 1], format: 'onnx', seed: 1 });
  return {
    dir: bundle.dir,
    id: bundle.manifest.id,
    version: bundle.manifest.version,
    labels: bundle.manifest.output.labels,
  };
}

export interface ServiceEnvOptions {
  readonly prefix: string;
  readonly storeUrl: string;
  readonly redisUrl?: string;
  readonly httpPort?: number;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Anything else (CXR_PATIENT_ID_SALT, AWS_*, CXR_LOCK_DURATION_MS, ...). */
  readonly extra?: Readonly<Record<string, string>>;
}

/**
 * CXR_TEST_OBJECTS_PER_JOB=N runs every end-to-end test with N objects per screen job
 * (CXR_OBJECTS_PER_JOB): the same guarantees, checked on multi-object jobs.
 */
const OBJECTS_PER_JOB = process.env.CXR_TEST_OBJECTS_PER_JOB;

/** Screen jobs an ingest of `objects` objects (one listing chunk) makes under CXR_TEST_OBJECTS_PER_JOB. */
export function screenJobsFor(objects: number): number {
  const perJob = Number(OBJECTS_PER_JOB ?? '1') || 1;
  return Math.ceil(objects / perJob);
}

/** A screen job's key: one object (`scr_`) or several (`grp_`, CXR_TEST_OBJECTS_PER_JOB). */
export const SCREEN_JOB_KEY = /:(scr|grp)_[0-9a-f]{40}$/;

/** The environment of a service process: small, single-threaded, on the test's own queue prefix. */
export function serviceEnv(options: ServiceEnvOptions): Record<string, string> {
  return {
    ...(OBJECTS_PER_JOB !== undefined && OBJECTS_PER_JOB !== ''
      ? { CXR_OBJECTS_PER_JOB: OBJECTS_PER_JOB }
      : {}),
    CXR_REDIS_URL: options.redisUrl ?? REDIS_URL,
    CXR_QUEUE_PREFIX: options.prefix,
    CXR_STORE_URL: options.storeUrl,
    CXR_DECODE_THREADS: '1',
    CXR_RUNTIME: 'onnx',
    CXR_RUNTIME_THREADS: '1',
    CXR_MAX_BATCH: '4',
    CXR_MAX_DELAY_MS: '50',
    CXR_LOG_LEVEL: options.logLevel ?? 'info',
    ...(options.httpPort !== undefined ? { CXR_HTTP_PORT: String(options.httpPort) } : {}),
    ...options.extra,
  };
}

let fixtureSet: FixtureSet | undefined;

/** The generated fixture set (vitest's globalSetup provides its manifest path). */
export function fixtures(): FixtureSet {
  fixtureSet ??= loadFixtureManifest(inject('fixtureManifestPath'));
  return fixtureSet;
}

/**
 * Fixtures that decode and that the seed model applies to, so they end `ok` (each carries the
 * canary patient name and ID). The Secondary Capture fixtures decode too but are `not_applicable`.
 */
export function goodFixtures(): DecodeFixture[] {
  return fixtures().fixtures.filter(
    (f): f is DecodeFixture => f.kind === 'decode' && isChestRadiographFixture(f),
  );
}

/** Rejection fixtures the worker meets (frame-out-of-range needs a frame request; the worker reads frame 0). */
export function rejectFixtures(): RejectFixture[] {
  return fixtures().fixtures.filter((f): f is RejectFixture => f.kind === 'reject' && f.frame === undefined);
}

/**
 * Copies `count` good fixtures (cycling through all transfer syntaxes) into `dir` as
 * `good-NNN-<name>.dcm`; returns the file names.
 */
export async function stageGoodCopies(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const good = goodFixtures();
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const fixture = good[i % good.length];
    if (fixture === undefined) throw new Error('no decodable fixtures');
    const name = `good-${String(i).padStart(3, '0')}-${fixture.name}.dcm`;
    await copyFile(fixture.path, join(dir, name));
    names.push(name);
  }
  return names;
}

/** Writes a file (zero-byte objects and the like). */
export async function writeObject(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, name), bytes);
}

/** Every row of a run, read through a fresh store connection. */
export async function readRun(storeUrl: string, runId: string): Promise<StoredResult[]> {
  const store = await openStore(storeUrl);
  try {
    const rows: StoredResult[] = [];
    for await (const row of store.iterateRun(runId)) rows.push(row);
    return rows;
  } finally {
    await store.close();
  }
}

/** Rows of a run (cheap polling while a run is in progress). */
export async function countRun(storeUrl: string, runId: string): Promise<number> {
  const store = await openStore(storeUrl);
  try {
    const counts = await store.countByOutcome(runId);
    return counts.ok + counts.rejected + counts.failed;
  } finally {
    await store.close();
  }
}

/** Number of rows per URI. */
export function rowsPerUri(rows: readonly StoredResult[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.uri, (counts.get(row.uri) ?? 0) + 1);
  return counts;
}

/** The text of the results service's GET /metrics. */
export async function metricsText(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

/** All keys under a queue prefix (SCAN, never KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under a queue prefix on `redisUrl` (afterAll); never throws. */
export async function deleteKeysUnder(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    const keys = await keysUnder(redis, prefix);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  } catch {
    // A Redis the test already stopped holds nothing to clean.
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts a dedicated redis-server on `port` keeping its data in `dir`, with every write fsynced
 * to the append-only file (a restart then loses nothing) and no RDB snapshots.
 */
export async function startRedisServer(
  group: ProcessGroup,
  name: string,
  options: { readonly port: number; readonly dir: string },
): Promise<ManagedProcess> {
  const server = group.spawn(
    name,
    'redis-server',
    [
      '--port',
      String(options.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    {},
  );
  await server.waitForLine(/Ready to accept connections/, 15_000);
  return server;
}

/** Where Debian keeps the PostgreSQL server binaries (the newest installed major version). */
async function postgresBinDir(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) throw new Error('no PostgreSQL server in /usr/lib/postgresql');
  return join('/usr/lib/postgresql', newest, 'bin');
}

/**
 * Starts a PostgreSQL server of the test's own on `port` with its data in `dir` (initialised on
 * first use; trust auth, user `postgres`), run as the `postgres` system user through setpriv (which
 * execs, so a signal to the managed process reaches the server: SIGTERM is a smart shutdown,
 * SIGINT a fast one). Tests that stop the database use this one, never the shared server.
 */
export async function startPostgresServer(
  group: ProcessGroup,
  name: string,
  options: { readonly port: number; readonly dir: string },
): Promise<ManagedProcess> {
  const bin = await postgresBinDir();
  const asPostgres = ['--reuid=postgres', '--regid=postgres', '--init-groups'];
  if (!(await stat(join(options.dir, 'PG_VERSION')).catch(() => undefined))) {
    await mkdir(options.dir, { recursive: true });
    await chown(options.dir, ...(await postgresIds()));
    const init = group.spawn(
      `${name}-initdb`,
      'setpriv',
      [...asPostgres, join(bin, 'initdb'), '-D', options.dir, '-U', 'postgres', '-A', 'trust', '--no-sync'],
      { LC_ALL: 'C.UTF-8' },
    );
    const status = await init.waitForExit(60_000);
    if (status.code !== 0) throw new Error(`initdb failed: ${init.text.slice(-1000)}`);
  }
  const server = group.spawn(
    name,
    'setpriv',
    [
      ...asPostgres,
      join(bin, 'postgres'),
      '-D',
      options.dir,
      '-p',
      String(options.port),
      '-k',
      options.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ],
    { LC_ALL: 'C.UTF-8' },
  );
  await server.waitForLine(/database system is ready to accept connections/, 30_000);
  return server;
}

/** Uid and gid of the `postgres` system user (Debian's PostgreSQL packages create it). */
async function postgresIds(): Promise<[number, number]> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .find((line) => line.startsWith('postgres:'))
    ?.split(':');
  if (fields?.[2] === undefined || fields[3] === undefined) throw new Error('no postgres system user');
  return [Number(fields[2]), Number(fields[3])];
}
