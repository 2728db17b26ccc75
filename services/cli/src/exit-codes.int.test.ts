/**
 * Exit codes as the README's "Command line" section documents them: bad usage or configuration
 * exits 2, whoever detects it (commander itself, an option parser, the source). Real processes;
 * Redis (own queue prefix) for the commands that reach it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSeedModel } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCxr, type RunResult } from './testing/run-cxr.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('cxr exit codes for bad usage and configuration', () => {
  const prefix = `cxr-exit-codes-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let modelDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-exit-codes-'));
    modelDir = (
      await initSeedModel({
        outDir: join(dir, 'model'),
        size: 32,
        blocks: [1, 2, 2, 1],
        format: 'onnx',
        seed: 1,
      })
    ).dir;
    env = {
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
    };
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    for (const queue of [new ScreenQueue({ connection, prefix }), new ResultQueue({ connection, prefix })]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const run = (...args: string[]): Promise<RunResult> => runCxr({ env, cwd: dir }, ...args);

  /** The last stderr line: commander prints the usage after its error, the CLI one line. */
  const errorLine = (result: RunResult): string =>
    result.stderr.split('\n').find((line) => line.startsWith('error:') || line.startsWith('cxr:')) ?? '';

  it('exits 2 for an unknown command', async () => {
    const result = await run('frobnicate');
    expect(result.code).toBe(2);
    expect(errorLine(result)).toBe("error: unknown command 'frobnicate'");
  });

  it('exits 2 for a missing --model, of screen and of ingest', async () => {
    for (const command of ['screen', 'ingest']) {
      const result = await run(command, 'file:///tmp');
      expect(result.code, command).toBe(2);
      expect(errorLine(result), command).toBe("error: required option '--model <dir>' not specified");
    }
  });

  it('exits 2 for an unknown option of a nested command and a bad option value', async () => {
    const unknown = await run('results', 'runs', '--bogus');
    expect(unknown.code).toBe(2);
    expect(errorLine(unknown)).toBe("error: unknown option '--bogus'");
    const badValue = await run('screen', 'file:///tmp', '--model', modelDir, '--http-port', 'abc');
    expect(badValue.code).toBe(2);
    expect(errorLine(badValue)).toBe('cxr: --http-port must be an integer between 0 and 65535, got "abc"');
  });

  it('exits 2 with one line naming it for a plain path that is no source', async () => {
    const result = await run('ingest', '/nonexistent/plain/dir', '--model', modelDir);
    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(/^cxr: .*\/nonexistent\/plain\/dir/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits 2 with one line naming it for a directory that does not exist (ingest and screen)', async () => {
    for (const command of ['ingest', 'screen']) {
      const result = await run(command, 'file:///nonexistent/dir', '--model', modelDir);
      expect(result.code, `${command}: ${result.stderr.slice(-1000)}`).toBe(2);
      // Named as given or as its path, depending on where the source is found missing.
      expect(errorLine(result), command).toMatch(/^cxr: .*\/nonexistent\/dir\b/);
      expect(result.stderr, command).not.toMatch(/^\s+at /m);
    }
  });
});
