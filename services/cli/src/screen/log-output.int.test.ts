/**
 * What `cxr ingest` and `cxr screen` write on stderr, as real processes against Redis: off a
 * terminal every line is one log line of the one shape {time, level, service, msg, data}; on a
 * terminal (a pseudo terminal from util-linux `script`) a progress line is drawn below the log
 * lines and no log line is ever drawn onto it.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderTerminal } from '@cxr/config/testing';
import { initSeedModel } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { loadFixtureManifest, type DecodeFixture, type RejectFixture } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCxr, runCxrOnTerminal } from '../testing/run-cxr.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const LOG_KEYS = ['time', 'level', 'service', 'msg', 'data'];

/** Parses a log line and checks its shape; returns its message. */
function logMessage(line: string, service: string): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`not a JSON log line: ${JSON.stringify(line)}`);
  }
  expect(Object.keys(parsed), line).toEqual(LOG_KEYS);
  expect(Number.isNaN(Date.parse(String(parsed.time))), line).toBe(false);
  expect(parsed.service, line).toBe(service);
  expect(typeof parsed.data, line).toBe('object');
  return String(parsed.msg);
}

describe('cxr ingest and cxr screen on stderr (Redis, file:// folder)', () => {
  const prefix = `cxr-log-output-${randomBytes(4).toString('hex')}`;
  const prefixes: string[] = [];
  let dir: string;
  let source: string;
  let modelDir: string;
  let objects = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-log-output-'));
    const folder = join(dir, 'archive');
    await mkdir(folder);
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const good = set.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode').slice(0, 10);
    const bad = set.fixtures.filter((f): f is RejectFixture => f.kind === 'reject' && f.frame === undefined);
    for (const f of [...good, ...bad]) await copyFile(f.path, join(folder, `${f.name}.dcm`));
    objects = good.length + bad.length;
    source = pathToFileURL(folder).href;
    modelDir = (
      await initSeedModel({
        outDir: join(dir, 'model'),
        size: 32,
        blocks: [1, 2, 2, 1],
        format: 'onnx',
        seed: 2,
      })
    ).dir;
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    for (const queuePrefix of prefixes) {
      for (const queue of [
        new ScreenQueue({ connection, prefix: queuePrefix }),
        new ResultQueue({ connection, prefix: queuePrefix }),
      ]) {
        await queue.obliterate({ force: true });
        await queue.close();
      }
    }
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** Environment of one run: its own queue prefix and store, debug logs (many lines). */
  const envFor = (name: string): Record<string, string> => {
    const queuePrefix = `${prefix}-${name}`;
    prefixes.push(queuePrefix);
    return {
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: queuePrefix,
      CXR_STORE_URL: `sqlite:${join(dir, `${name}.sqlite`)}`,
      CXR_LOG_LEVEL: 'debug',
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_MAX_BATCH: '2',
    };
  };

  it('cxr ingest off a terminal: every stderr line is a log line of the one shape', async () => {
    const result = await runCxr({ env: envFor('ingest') }, 'ingest', source, '--model', modelDir);
    expect(result.code, result.stderr).toBe(0);
    const messages = result.stderr
      .trimEnd()
      .split('\n')
      .map((line) => logMessage(line, 'ingest'));
    expect(messages[0]).toBe('ingest started');
    expect(messages.at(-1)).toBe('ingest finished');
    expect(new Set(messages.slice(1, -1))).toEqual(new Set(['ingest progress']));
  });

  it('cxr screen off a terminal: every stderr line is a log line of the one shape', async () => {
    const result = await runCxr({ env: envFor('screen') }, 'screen', source, '--model', modelDir, '--json');
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const messages = result.stderr
      .trimEnd()
      .split('\n')
      // The seed bundle's provenance warning is the command's own one-line message, after the run.
      .filter((line) => !line.startsWith('cxr: warning: '))
      .map((line) => logMessage(line, 'screen'));
    expect(messages).toContain('worker started');
    expect(messages).toContain('screening finished');
    expect(JSON.parse(result.stdout)).toMatchObject({ outcomes: { ok: expect.any(Number) as unknown } });
  });

  it('cxr screen on a terminal: log lines above one progress line, none drawn onto it', async () => {
    const result = await runCxrOnTerminal({ env: envFor('tty') }, 'screen', source, '--model', modelDir);
    const shown = renderTerminal(result.stdout);
    expect(result.code, shown.slice(-40).join('\n')).toBe(0);
    const logLines = shown.filter((line) => line.includes('{"time"'));
    // Debug logging during the run: many log lines, each alone on its line.
    expect(logLines.length).toBeGreaterThan(objects);
    for (const line of logLines) logMessage(line, 'screen');
    // Redrawn in place: one progress line stays on screen, the last one, with every object done.
    const progress = shown.filter((line) => line.startsWith('screening '));
    expect(progress).toEqual([
      expect.stringMatching(new RegExp(`^screening ${objects}/${objects} {2}[\\d.]+ images/s {2}ETA 0s$`)),
    ]);
    expect(shown.some((line) => line.startsWith('run '))).toBe(true);
  });
});
