/**
 * A real results service for the monitoring tests: in-process, on 127.0.0.1 and a free port, with
 * a SQLite store in a temp directory and a random BullMQ prefix on the test Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cxr/config';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { startResultsApp, type ResultsApp } from '@cxr/results';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A running results service and how to remove every trace of it. */
export interface TestResultsApp {
  readonly app: ResultsApp;
  readonly metricsUrl: string;
  /** Stops the service, removes its queues from Redis and its store from disk. */
  cleanup(): Promise<void>;
}

export async function startTestResultsApp(): Promise<TestResultsApp> {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-monitoring-'));
  const prefix = `cxr-monitoring-test-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
    CXR_REDIS_URL: REDIS_URL,
  });
  let app: ResultsApp;
  try {
    app = await startResultsApp({ config, port: 0, host: '127.0.0.1', queuePrefix: prefix });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    app,
    metricsUrl: `http://127.0.0.1:${app.port}/metrics`,
    cleanup: async () => {
      try {
        await app.stop();
      } finally {
        const connection = redisConnectionFromUrl(REDIS_URL);
        const queues = [new ScreenQueue({ connection, prefix }), new ResultQueue({ connection, prefix })];
        for (const queue of queues) {
          await queue.obliterate({ force: true });
          await queue.close();
        }
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
