/**
 * `cxr model reference DIR --from-source file:///dir` as a process: the folder is screened with
 * the bundle (real Redis, a throwaway store and queue prefix) and the reference comes from it.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { initSeedModel } from '@cxr/model';
import { parseManifest } from '@cxr/model/manifest';
import { createRedisClient, redisConnectionFromUrl } from '@cxr/queue';
import { isChestRadiographFixture, loadFixtureManifest, type DecodeFixture } from '@cxr/fixtures';
import { cxrWithEnv } from '../testing/run-cxr.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('cxr model reference --from-source', () => {
  let dir: string;
  let modelDir: string;
  let good: DecodeFixture[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-reference-source-'));
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    good = set.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode');
    await mkdir(join(dir, 'validation'));
    for (const f of good) await copyFile(f.path, join(dir, 'validation', `${f.name}.dcm`));
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 5,
    });
    modelDir = bundle.dir;
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('screens the folder and writes a reference of every good image, leaving no queue behind', async () => {
    const redis = createRedisClient(redisConnectionFromUrl(REDIS_URL));
    const before = await redis.keys('cxr-reference-*');
    const run = await cxrWithEnv(
      { CXR_REDIS_URL: REDIS_URL, CXR_DECODE_THREADS: '1', CXR_RUNTIME: 'onnx', CXR_RUNTIME_THREADS: '1' },
      'model',
      'reference',
      modelDir,
      '--from-source',
      pathToFileURL(join(dir, 'validation')).href,
    );
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'manifest.json'), 'utf8')));
    // Only the images the model applies to are scored, so only they are in the reference.
    expect(manifest.reference?.n).toBe(good.filter(isChestRadiographFixture).length);
    expect(Object.keys(manifest.reference?.scores ?? {})).toEqual(manifest.output.labels);
    expect(manifest.reference?.source.runId).toMatch(/^reference-/);
    expect(await redis.keys('cxr-reference-*')).toEqual(before);
    await redis.quit();
  }, 120_000);

  it('needs exactly one of --from and --from-source', async () => {
    const run = await cxrWithEnv({}, 'model', 'reference', modelDir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('exactly one of --from RUN_ID and --from-source URI');
  });
});
