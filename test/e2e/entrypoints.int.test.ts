/**
 * The three long-running services as the deployment starts them (compose, Kubernetes): compiled
 * JavaScript (`node services/<svc>/dist/main.js`, no TypeScript loader), the ingest service
 * watching a folder, the worker and the results service, each its own process configured by the
 * environment alone. Each serves /healthz, /readyz and /metrics; together they
 * screen the folder into the store; SIGTERM ends each with exit code 0.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  START_TIMEOUT_MS,
  countRun,
  deleteKeysUnder,
  metricsText,
  randomName,
  seedModel,
  serviceEnv,
  stageGoodCopies,
  REDIS_URL,
  type SeedModel,
} from './pipeline.js';
import { COMPILED_ENTRY, ProcessGroup, freePort, waitUntil, type ManagedProcess } from './processes.js';

const IMAGES = 4;
const RUN_ID = 'watch-run';

describe('service entry points (ingest service, worker, results)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-entry');
  let dir: string;
  let model: SeedModel;
  let storeUrl: string;
  const ports = { results: 0, worker: 0, ingest: 0 };
  const processes: Record<string, ManagedProcess> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-entry-'));
    model = await seedModel(join(dir, 'model'));
    const archive = join(dir, 'archive');
    await stageGoodCopies(archive, IMAGES);
    storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    ports.results = await freePort();
    ports.ingest = await freePort();
    const env = serviceEnv({ prefix, storeUrl, httpPort: ports.results });
    processes.results = group.spawnCompiled('results', COMPILED_ENTRY.results, [], env);
    processes.worker = group.spawnCompiled('worker', COMPILED_ENTRY.worker, ['--model', model.dir], {
      ...env,
      CXR_HTTP_PORT: '0',
    });
    processes.ingest = group.spawnCompiled('ingest', COMPILED_ENTRY.ingest, [], {
      ...env,
      CXR_HTTP_PORT: String(ports.ingest),
      CXR_MODEL_DIR: model.dir,
      CXR_INGEST_SOURCES: pathToFileURL(archive).href,
      CXR_INGEST_INTERVAL_SECONDS: '1',
      CXR_INGEST_RUN_ID: RUN_ID,
    });
    const workerLine = await processes.worker.waitForLine(/"msg":"worker http listening"/, START_TIMEOUT_MS);
    ports.worker = Number(/"port":(\d+)/.exec(workerLine)?.[1]);
    await processes.ingest.waitForLine(/"msg":"ingest service started"/, START_TIMEOUT_MS);
  }, 120_000);

  afterAll(async () => {
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('screens the watched folder into the store', async () => {
    await waitUntil('every image stored', async () => (await countRun(storeUrl, RUN_ID)) === IMAGES, 60_000);
    expect(await countRun(storeUrl, RUN_ID)).toBe(IMAGES);
  }, 90_000);

  it('each service answers its probes and exports its own metrics', async () => {
    for (const [name, port] of Object.entries(ports)) {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status, name).toBe(200);
      expect((await fetch(`${base}/readyz`)).status, name).toBe(200);
    }
    expect(await metricsText(ports.ingest)).toContain(`cxr_ingest_enqueued_total{source="file"} ${IMAGES}`);
    const worker = await metricsText(ports.worker);
    expect(worker).toMatch(new RegExp(`cxr_batch_size_sum ${IMAGES}\\b`));
    expect(worker).toContain(`cxr_model_info{model="${model.id}"`);
    expect(await metricsText(ports.results)).toMatch(
      new RegExp(`cxr_items_total\\{outcome="ok"\\} ${IMAGES}\\b`),
    );
  });

  it('ends each service with exit code 0 on SIGTERM', async () => {
    for (const name of ['ingest', 'worker', 'results']) {
      const status = await processes[name]?.stop(20_000);
      expect(status, name).toEqual({ code: 0, signal: null });
    }
  }, 90_000);
});
