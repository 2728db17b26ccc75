/**
 * `cxr ingest` and `cxr screen` with Redis unreachable (a closed port), as real processes: stderr
 * holds log lines of the one shape (the outage logged once, not an error dump per reconnect
 * attempt) and, after CXR_REDIS_CONNECT_TIMEOUT_SECONDS, one line saying which Redis could not be
 * reached; the exit code is 1.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initSeedModel } from '@cxr/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCxr } from './testing/run-cxr.js';

const LOG_KEYS = ['time', 'level', 'service', 'msg', 'data'];

/** A TCP port nothing listens on (bound once by the OS, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

describe('cxr ingest and cxr screen while Redis is unreachable', () => {
  let dir: string;
  let modelDir: string;
  let source: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-redis-down-'));
    await mkdir(join(dir, 'archive'));
    source = pathToFileURL(join(dir, 'archive')).href;
    modelDir = (
      await initSeedModel({
        outDir: join(dir, 'model'),
        size: 32,
        blocks: [1, 2, 2, 1],
        format: 'onnx',
        seed: 4,
      })
    ).dir;
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['ingest', 'screen'])(
    'cxr %s: log lines only, the outage once, then one line naming the Redis and exit 1',
    async (command) => {
      const port = await closedPort();
      const result = await runCxr(
        {
          env: {
            CXR_REDIS_URL: `redis://127.0.0.1:${port}`,
            CXR_REDIS_CONNECT_TIMEOUT_SECONDS: '4',
            CXR_STORE_URL: `sqlite:${join(dir, `${command}.sqlite`)}`,
            CXR_LOG_LEVEL: 'debug',
          },
          // The command must give up by itself; a hang is a failure, not a test timeout.
          killAfterMs: 40_000,
        },
        command,
        source,
        '--model',
        modelDir,
      );
      expect(result.killed, result.stderr.slice(0, 2000)).toBe(false);
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(/Error:|^\s+at /m);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines.at(-1)).toBe(
        `cxr: cannot reach Redis at 127.0.0.1:${port} within 4 s (check CXR_REDIS_URL; the wait is CXR_REDIS_CONNECT_TIMEOUT_SECONDS)`,
      );
      const messages = lines.slice(0, -1).map((line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        expect(Object.keys(parsed), line).toEqual(LOG_KEYS);
        return String(parsed.msg);
      });
      expect(messages.filter((msg) => msg.startsWith('redis connection'))).toEqual([
        'redis connection failed',
      ]);
    },
    60_000,
  );
});
