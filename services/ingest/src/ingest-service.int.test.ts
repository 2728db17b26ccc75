/**
 * The long-running ingest service against real Redis and a file:// folder: each pass enqueues
 * only what is new, a source that fails does not stop the others, and stop() ends the loop.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { createMetrics } from '@cxr/metrics';
import { ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { IngestService, type PassSummary } from './ingest-service.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('IngestService (Redis, file:// folder)', () => {
  const prefix = `cxr-ingest-service-${randomUUID().slice(0, 8)}`;
  let dir: string;
  let folder: string;
  let queue: ScreenQueue;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-ingest-service-'));
    folder = join(dir, 'archive');
    await mkdir(folder);
    for (let i = 0; i < 3; i++) await writeFile(join(folder, `${i}.dcm`), new Uint8Array(8 + i));
    queue = new ScreenQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
  });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('enqueues what is new on each pass, survives a failing source, and stops', async () => {
    const config = loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
    });
    const metrics = createMetrics();
    const logs: string[] = [];
    const service = new IngestService({
      config,
      // The missing folder fails every pass; the archive must still be ingested.
      sources: [pathToFileURL(join(dir, 'missing')).href, pathToFileURL(folder).href],
      modelId: 'seed',
      modelVersion: '1.0.0',
      intervalMs: 100,
      metrics,
      log: (level, message, data) => logs.push(JSON.stringify({ level, message, data })),
      now: () => Date.parse('2026-11-27T03:00:00Z'),
    });
    const passes: PassSummary[] = [];
    service.onPass((summary) => passes.push(summary));
    service.start();
    const waitForPasses = async (n: number): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (passes.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${passes.length} passes`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await waitForPasses(1);
    expect(passes[0]).toEqual({
      pass: 1,
      enqueued: 3,
      duplicates: 0,
      skipped: 0,
      sourceSkipped: 0,
      failedSources: 1,
    });
    // The store is only read (objects already screened are skipped): one that does not exist yet
    // holds no result and is not created by the ingest.
    expect(existsSync(join(dir, 'results.sqlite'))).toBe(false);

    await writeFile(join(folder, 'new.dcm'), new Uint8Array(20));
    const seen = passes.length;
    await waitForPasses(seen + 2);
    const later = passes.slice(seen);
    // The new object is enqueued exactly once; everything else is a duplicate of a queued job.
    expect(later.reduce((sum, p) => sum + p.enqueued, 0)).toBe(1);
    expect(later.at(-1)).toMatchObject({ enqueued: 0, duplicates: 4, failedSources: 1 });
    expect((await queue.counts()).waiting).toBe(4);

    const stopStarted = Date.now();
    await service.stop();
    expect(Date.now() - stopStarted).toBeLessThan(5000);
    const stoppedAt = passes.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(passes.length).toBe(stoppedAt);

    // The run id is the UTC day; logs name the source kind, never the folder.
    expect(logs.some((line) => line.includes('"runId":"ingest-2026-11-27"'))).toBe(true);
    expect(logs.some((line) => line.includes('source ingest failed'))).toBe(true);
    expect(logs.join('\n')).not.toContain(dir);
    expect(await metrics.registry.getSingleMetricAsString('cxr_ingest_enqueued_total')).toContain(
      'cxr_ingest_enqueued_total{source="file"} 4',
    );
  }, 60_000);
});
