/**
 * Integration tests against the real Redis at 127.0.0.1:6379 (random key prefix per test,
 * obliterated afterwards), real file:// and manifest sources in a temp dir, and s3rver.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import { ScreenQueue, ScreenWorker, redisConnectionFromUrl } from '@cxr/queue';
import { uriHash } from '@cxr/config/log';
import { openObjectSource, type ObjectSource } from '@cxr/storage';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from '@cxr/storage/testing';
import { openStore } from '@cxr/store';
import { RedisCursorStore } from './cursor-store.js';
import { enqueueSource, type EnqueueSourceOptions } from './enqueue-source.js';

const connection = redisConnectionFromUrl('redis://127.0.0.1:6379/0');
const N = 50;

let dir: string;
let folderUri: string;
let manifestPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-ingest-'));
  const folder = join(dir, 'archive');
  await mkdir(join(folder, 'nested'), { recursive: true });
  const lines = ['uri,etag,size'];
  for (let i = 0; i < N; i += 1) {
    const name = `${String(i).padStart(3, '0')}.dcm`;
    await writeFile(join(folder, i % 2 === 0 ? name : join('nested', name)), new Uint8Array(10 + i));
    lines.push(`s3://archive/cr/${name},etag-${i},${100 + i}`);
  }
  folderUri = pathToFileURL(folder).href;
  manifestPath = join(dir, 'keys.csv');
  await writeFile(manifestPath, `${lines.join('\n')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function setup(): { queue: ScreenQueue; prefix: string; cursors: RedisCursorStore } {
  const prefix = `cxrtest-${randomUUID().slice(0, 8)}`;
  const queue = new ScreenQueue({ connection, prefix });
  const cursors = new RedisCursorStore(connection, { prefix });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });
  cleanups.push(() => cursors.close());
  return { queue, prefix, cursors };
}

function open(uri: string): ObjectSource {
  const source = openObjectSource(uri, { env: {} });
  cleanups.push(() => source.close());
  return source;
}

function base(source: ObjectSource, queue: ScreenQueue): EnqueueSourceOptions {
  return {
    source,
    queue,
    runId: 'run-1',
    modelId: 'densenet121-cxr3',
    modelVersion: '1.0.0',
    highWater: 10_000,
  };
}

describe('enqueueSource', () => {
  it('counts and logs every entry the source does not list, by reason and URI hash, never by name (audit finding 2)', async () => {
    const folder = join(dir, 'with-links');
    const outside = join(dir, 'outside DOE^JOHN.dcm');
    await mkdir(folder);
    await writeFile(join(folder, 'DOE^JANE_MRN-998877.dcm'), new Uint8Array(12));
    await writeFile(outside, new Uint8Array(12));
    await symlink(outside, join(folder, 'link-out DOE^JOHN.dcm'));
    await symlink('.', join(folder, 'loop'));
    await symlink('DOE^JANE_MRN-998877.dcm', join(folder, 'link-in.dcm'));
    const { queue } = setup();
    const lines: { level: string; msg: string; data: Record<string, unknown> }[] = [];
    const progress: number[] = [];
    const result = await enqueueSource({
      ...base(open(pathToFileURL(folder).href), queue),
      log: (level, msg, data = {}) => lines.push({ level, msg, data: { ...data } }),
      onProgress: (p) => progress.push(p.sourceSkipped),
    });
    expect(result).toMatchObject({
      listed: 1,
      enqueued: 1,
      skipped: 0,
      sourceSkipped: 3,
      sourceSkipReasons: { link_outside_root: 1, symlink_loop: 1, link_inside_root: 1 },
      complete: true,
    });
    expect(progress.at(-1)).toBe(3);
    const uriOf = (name: string): string => pathToFileURL(join(folder, name)).href;
    expect(lines).toEqual(
      [
        ['link-in.dcm', 'link_inside_root'],
        ['link-out DOE^JOHN.dcm', 'link_outside_root'],
        ['loop', 'symlink_loop'],
      ].map(([name, reason]) => ({
        level: 'warn',
        msg: 'source entry skipped',
        data: { source: 'file', reason, uriHash: uriHash(uriOf(name!)) },
      })),
    );
    expect(JSON.stringify(lines)).not.toMatch(/DOE|JANE|JOHN|MRN|with-links|\.dcm/);
  });

  it('enqueues a folder once, dedupes a re-run, re-screens for a new model version, counts metrics', async () => {
    const { queue, cursors } = setup();
    const source = open(folderUri);
    const metrics = createMetrics();
    const first = await enqueueSource({
      ...base(source, queue),
      cursorStore: cursors,
      metrics,
      chunkSize: 16,
    });
    expect(first).toMatchObject({ listed: N, enqueued: N, duplicates: 0, skipped: 0, complete: true });
    expect((await queue.counts()).waiting).toBe(N);
    // Completed listing clears the cursor, so the same run lists again and dedupes by job id.
    expect(await cursors.load(source.uri, 'run-1')).toBeUndefined();

    const again = await enqueueSource({ ...base(source, queue), cursorStore: cursors, metrics });
    expect(again).toMatchObject({ listed: N, enqueued: 0, duplicates: N });
    expect((await queue.counts()).waiting).toBe(N);

    const upgraded = await enqueueSource({ ...base(source, queue), modelVersion: '1.1.0', metrics });
    expect(upgraded).toMatchObject({ enqueued: N, duplicates: 0 });
    const forced = await enqueueSource({ ...base(source, queue), runId: 'run-2', force: true, metrics });
    expect(forced).toMatchObject({ enqueued: N, duplicates: 0 });
    expect((await queue.counts()).waiting).toBe(4 * N - N);

    const text = await metrics.registry.metrics();
    expect(text).toContain(`cxr_ingest_enqueued_total{source="file"} ${3 * N}`);
    expect(text).toContain(`cxr_ingest_duplicates_total{source="file"} ${N}`);
    expect(text).not.toContain(dir);
  });

  it('with several objects per job: jobs of up to N objects of a chunk, dedupe per object whatever N', async () => {
    const { queue } = setup();
    const source = open(folderUri);
    const first = await enqueueSource({ ...base(source, queue), objectsPerJob: 8, chunkSize: 16 });
    expect(first).toMatchObject({ listed: N, enqueued: N, duplicates: 0, complete: true });
    // 50 objects in chunks of 16, 16, 16 and 2: two jobs per full chunk, one for the last.
    expect((await queue.counts()).waiting).toBe(7);
    expect(await enqueueSource({ ...base(source, queue), objectsPerJob: 8 })).toMatchObject({
      enqueued: 0,
      duplicates: N,
    });
    // An ingest with one job per object sees the same objects as queued.
    expect(await enqueueSource({ ...base(source, queue) })).toMatchObject({ enqueued: 0, duplicates: N });
    expect((await queue.counts()).waiting).toBe(7);
  });

  it('with several objects per job, the high-water mark counts objects (waiting jobs x N)', async () => {
    const { queue, prefix } = setup();
    const source = open(manifestPath);
    let settled = false;
    const ingest = enqueueSource({
      ...base(source, queue),
      highWater: 20,
      objectsPerJob: 5,
      chunkSize: 10,
      pollMs: 50,
    }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(settled).toBe(false);
    // Paused at 20 objects (4 jobs), at most the two chunks in flight (4 jobs) above it.
    const waiting = (await queue.counts()).waiting;
    expect(waiting).toBeGreaterThanOrEqual(4);
    expect(waiting).toBeLessThanOrEqual(8);
    const screened: string[] = [];
    const worker = new ScreenWorker({
      connection,
      prefix,
      maxBatch: 4,
      process: () => Promise.resolve(),
      processGroup: (payload) => {
        screened.push(...payload.objects.map((o) => o.uri));
        return Promise.resolve({});
      },
    });
    cleanups.push(() => worker.close());
    const result = await ingest;
    expect(result).toMatchObject({ listed: N, enqueued: N, duplicates: 0, complete: true });
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const poll = (): void => {
        if (screened.length >= N) resolve();
        else if (Date.now() > deadline) reject(new Error(`screened ${screened.length} of ${N}`));
        else setTimeout(poll, 25);
      };
      poll();
    });
    expect(new Set(screened).size).toBe(N);
    expect(screened).toHaveLength(N);
  });

  it('resumes an interrupted manifest ingest from the stored cursor: every object exactly once', async () => {
    const { queue, cursors } = setup();
    const source = open(manifestPath);
    const controller = new AbortController();
    const interrupted = await enqueueSource({
      ...base(source, queue),
      cursorStore: cursors,
      chunkSize: 10,
      signal: controller.signal,
      onProgress: (progress) => {
        if (!progress.paused && progress.enqueued >= 10) controller.abort();
      },
    });
    // The abort lands after the first commit; a second chunk may already have been in flight
    // (two chunks are enqueued at once) and is committed before the call returns.
    expect(interrupted.complete).toBe(false);
    expect([10, 20]).toContain(interrupted.enqueued);
    // Line 1 is the CSV header, so after k objects the cursor is line k + 1.
    expect(interrupted.cursor).toBe(String(interrupted.enqueued + 1));
    expect(await cursors.load(source.uri, 'run-1')).toBe(interrupted.cursor);
    expect((await queue.counts()).waiting).toBe(interrupted.enqueued);

    const resumed = await enqueueSource({ ...base(source, queue), cursorStore: cursors, chunkSize: 10 });
    expect(resumed).toMatchObject({
      listed: N - interrupted.enqueued,
      enqueued: N - interrupted.enqueued,
      duplicates: 0,
      complete: true,
    });
    expect((await queue.counts()).waiting).toBe(N);
    expect(await cursors.load(source.uri, 'run-1')).toBeUndefined();
  });

  it('two ingests of the same manifest racing on one queue: each object enqueued once in total', async () => {
    const { queue, prefix } = setup();
    // A second adapter, so the two ingests' enqueue calls really interleave on two connections.
    const other = new ScreenQueue({ connection, prefix });
    cleanups.push(() => other.close());
    for (const modelVersion of ['2.0.0', '2.1.0', '2.2.0']) {
      const [a, b] = await Promise.all([
        enqueueSource({ ...base(open(manifestPath), queue), modelVersion, chunkSize: 5 }),
        enqueueSource({ ...base(open(manifestPath), other), runId: 'run-2', modelVersion, chunkSize: 7 }),
      ]);
      expect(a.listed).toBe(N);
      expect(b.listed).toBe(N);
      expect(a.enqueued + a.duplicates).toBe(N);
      expect(b.enqueued + b.duplicates).toBe(N);
      expect(a.enqueued + b.enqueued).toBe(N);
    }
    expect((await queue.counts()).waiting).toBe(3 * N);
  });

  it('pauses listing above the high-water mark until a worker drains the queue', async () => {
    const { queue, prefix } = setup();
    const source = open(manifestPath);
    let pausedReports = 0;
    let settled = false;
    const ingest = enqueueSource({
      ...base(source, queue),
      highWater: 10,
      chunkSize: 10,
      pollMs: 50,
      onProgress: (progress) => {
        if (progress.paused) pausedReports += 1;
      },
    }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(settled).toBe(false);
    // Paused: at least one chunk waits, at most the two chunks in flight overshoot high water.
    const waiting = (await queue.counts()).waiting;
    expect(waiting).toBeGreaterThanOrEqual(10);
    expect(waiting).toBeLessThanOrEqual(30);
    expect(pausedReports).toBeGreaterThan(0);

    const worker = new ScreenWorker({ connection, prefix, maxBatch: 4, process: () => Promise.resolve() });
    cleanups.push(() => worker.close());
    const result = await ingest;
    expect(result).toMatchObject({ listed: N, enqueued: N, duplicates: 0, complete: true });
  });

  it('skips objects whose result in the store is final, unless forced', async () => {
    const { queue } = setup();
    const source = open(manifestPath);
    const done = new Set(['s3://archive/cr/003.dcm', 's3://archive/cr/004.dcm']);
    const store = {
      existingKeys: (keys: readonly { uri: string; modelId: string; modelVersion: string }[]) =>
        Promise.resolve(
          keys
            .filter((key) => done.has(key.uri) || key.uri.endsWith('005.dcm'))
            .map((key) => ({ ...key, outcome: done.has(key.uri) ? ('ok' as const) : ('failed' as const) })),
        ),
    };
    const result = await enqueueSource({ ...base(source, queue), store });
    // 'failed' is not final: that object is screened again.
    expect(result).toMatchObject({ listed: N, enqueued: N - 2, skipped: 2 });
    const forced = await enqueueSource({ ...base(source, queue), runId: 'run-2', force: true, store });
    expect(forced).toMatchObject({ enqueued: N, skipped: 0 });
  });

  it('accepts a real store as the skip oracle (SQLite, empty)', async () => {
    const { queue } = setup();
    const store = await openStore(`sqlite:${join(dir, `store-${randomUUID()}.db`)}`);
    cleanups.push(() => store.close());
    const result = await enqueueSource({ ...base(open(manifestPath), queue), store });
    expect(result).toMatchObject({ enqueued: N, skipped: 0 });
  });

  describe('over S3 (s3rver)', () => {
    let s3: RunningS3rver;
    beforeAll(async () => {
      s3 = await startS3rver();
      const client = createTestS3Client(s3.endpoint);
      await seedBucket(
        client,
        'archive',
        Array.from(
          { length: N },
          (_, i) => [`cr/${String(i).padStart(3, '0')}.dcm`, new Uint8Array(5 + i)] as const,
        ),
      );
      client.destroy();
    }, 60_000);
    afterAll(async () => {
      await s3.stop();
    });

    it('enqueues every key once with its ETag; a re-run adds nothing', async () => {
      const { queue } = setup();
      const source = openObjectSource('s3://archive/cr/', { env: s3.env });
      cleanups.push(() => source.close());
      const metrics = createMetrics();
      const first = await enqueueSource({ ...base(source, queue), metrics, chunkSize: 20 });
      expect(first).toMatchObject({ listed: N, enqueued: N, duplicates: 0, complete: true });
      expect((await queue.counts()).waiting).toBe(N);
      const again = await enqueueSource({ ...base(source, queue), metrics });
      expect(again).toMatchObject({ enqueued: 0, duplicates: N });
      expect(await metrics.registry.metrics()).toContain(`cxr_ingest_enqueued_total{source="s3"} ${N}`);
    });
  });
});
