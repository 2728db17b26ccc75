/**
 * How the service entry points start and refuse to start (audit findings 9, 11, 12), each as the
 * process a deployment runs, configured by the environment alone:
 * - the worker whose ops port is taken exits with code 1 and one log line, before taking a job
 *   (it used to log "worker failed to start" and screen on without /healthz or /metrics); the
 *   ingest service does the same;
 * - CXR_HTTP_HOST chooses the listen address (another address of the same port is free), and a
 *   client that never finishes its request head is cut off after CXR_HTTP_HEADERS_TIMEOUT_MS;
 * - the results service refuses a network address without CXR_API_TOKEN (one line, exit 1)
 *   unless CXR_ALLOW_NO_AUTH=1, and warns whenever it runs without a token.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, ProcessGroup, freePort, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  deleteKeysUnder,
  goodFixtures,
  randomName,
  seedModel,
  serviceEnv,
  type SeedModel,
} from './pipeline.js';

/** A TCP server holding `port` on `host` (what a second process on the same port meets). */
async function occupy(port: number, host: string): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

/** The JSON log lines of a process (non-JSON output fails the parse: there must be none). */
function logLines(process: ManagedProcess): { level: string; msg: string; data: Record<string, unknown> }[] {
  return process.lines.map(
    (line) => JSON.parse(line.text) as { level: string; msg: string; data: Record<string, unknown> },
  );
}

/** How long after connecting the server closed a client that sent half a request head. */
function slowHeaderClient(host: string, port: number, giveUpMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, host, () => {
      socket.write('GET /metrics HTTP/1.1\r\nHost: worker\r\n');
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Infinity);
    }, giveUpMs);
    socket.resume();
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe('service start-up: ops port, listen address, authentication', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-start');
  let dir: string;
  let model: SeedModel;
  let port: number;
  let blocker: Server;
  let env: Record<string, string>;
  const queue = new ScreenQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-start-'));
    model = await seedModel(join(dir, 'model'));
    port = await freePort();
    blocker = await occupy(port, '127.0.0.1');
    env = {
      ...serviceEnv({ prefix, storeUrl: `sqlite:${join(dir, 'results.sqlite')}`, httpPort: port }),
      CXR_UPLOAD_URL: pathToFileURL(join(dir, 'uploads')).href,
    };
    // A job the worker would take if it started consuming.
    const good = goodFixtures()[0];
    if (good === undefined) throw new Error('no fixtures');
    await queue.enqueueBulk([
      {
        uri: pathToFileURL(good.path).href,
        size: 1,
        runId: 'start-test',
        modelId: model.id,
        modelVersion: model.version,
        enqueuedAt: Date.now(),
      },
    ]);
  }, 120_000);

  afterAll(async () => {
    await group.stopAll();
    await new Promise((resolve) => blocker.close(resolve));
    await queue.close();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the worker exits with code 1 and one log line when its ops port is taken, and takes no job', async () => {
    const worker = group.spawnTsx('worker-port-taken', ENTRY.worker, ['--model', model.dir], {
      ...env,
      CXR_HTTP_HOST: '127.0.0.1',
    });
    const status = await worker.waitForExit(START_TIMEOUT_MS);
    expect(status, worker.text).toEqual({ code: 1, signal: null });
    expect(logLines(worker)).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'worker failed to start',
        data: { errorName: 'Error', errorCode: 'EADDRINUSE', host: '127.0.0.1', port },
      }),
    ]);
    const counts = await queue.counts();
    expect(counts.waiting + counts.prioritized).toBe(1);
    expect(counts.active + counts.completed + counts.failed).toBe(0);
  }, 60_000);

  it('the ingest service exits with code 1 and one log line when its ops port is taken', async () => {
    const ingest = group.spawnTsx('ingest-port-taken', ENTRY.ingest, [], {
      ...env,
      CXR_HTTP_HOST: '127.0.0.1',
      CXR_MODEL_DIR: model.dir,
      CXR_INGEST_SOURCES: pathToFileURL(join(dir, 'model')).href,
    });
    const status = await ingest.waitForExit(START_TIMEOUT_MS);
    expect(status, ingest.text).toEqual({ code: 1, signal: null });
    expect(logLines(ingest)).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'ingest service failed to start',
        data: { errorName: 'Error', errorCode: 'EADDRINUSE', host: '127.0.0.1', port },
      }),
    ]);
  }, 60_000);

  it('listens on CXR_HTTP_HOST (the same port on another address is free) with the configured header timeout', async () => {
    const worker = group.spawnTsx('worker-other-address', ENTRY.worker, ['--model', model.dir], {
      ...env,
      CXR_HTTP_HOST: '127.0.0.2',
      CXR_HTTP_HEADERS_TIMEOUT_MS: '500',
    });
    await worker.waitForLine(WORKER_READY, START_TIMEOUT_MS);
    expect((await fetch(`http://127.0.0.2:${port}/healthz`)).status).toBe(200);
    const closedAfterMs = await slowHeaderClient('127.0.0.2', port, 10_000);
    expect(closedAfterMs).toBeGreaterThanOrEqual(450);
    expect(closedAfterMs).toBeLessThan(3000);
    expect(await worker.stop(20_000)).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('the results service refuses a network address without CXR_API_TOKEN: one line, exit code 1', async () => {
    const results = group.startResults('results-no-token', {
      ...env,
      CXR_HTTP_HOST: '0.0.0.0',
      CXR_HTTP_PORT: String(await freePort()),
    });
    const status = await results.waitForExit(START_TIMEOUT_MS);
    expect(status, results.text).toEqual({ code: 1, signal: null });
    const lines = logLines(results);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', msg: 'results service failed to start' }),
    ]);
    expect(lines[0]?.data).toMatchObject({
      errorName: 'UnauthenticatedBindError',
      errorCode: 'CXR_NO_AUTH_ON_NETWORK',
      reason: expect.stringMatching(/CXR_API_TOKEN is not set .* CXR_ALLOW_NO_AUTH=1/) as unknown,
    });
  }, 60_000);

  it('runs without a token with a warning: on loopback, or on a network address with CXR_ALLOW_NO_AUTH=1', async () => {
    for (const [name, extra] of [
      ['results-loopback', { CXR_HTTP_HOST: '127.0.0.1' }],
      ['results-allowed', { CXR_HTTP_HOST: '0.0.0.0', CXR_ALLOW_NO_AUTH: '1' }],
    ] as const) {
      const resultsPort = await freePort();
      const results = group.startResults(name, { ...env, ...extra, CXR_HTTP_PORT: String(resultsPort) });
      await results.waitForLine(RESULTS_READY, START_TIMEOUT_MS);
      expect((await fetch(`http://127.0.0.1:${resultsPort}/healthz`)).status, name).toBe(200);
      expect(await results.stop(20_000), name).toEqual({ code: 0, signal: null });
      expect(
        logLines(results)
          .filter((line) => line.level === 'warn')
          .map((line) => line.msg),
        name,
      ).toEqual(['no API token: /v1/predict accepts unauthenticated requests']);
    }
  }, 90_000);
});
