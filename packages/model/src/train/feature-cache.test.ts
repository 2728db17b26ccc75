import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FeatureCache } from './feature-cache.js';

describe('FeatureCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-feature-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips features under dir/<baseModelKey>/<sha256(objectKey)>.f32 and counts hits, misses, writes', async () => {
    const cache = new FeatureCache(dir, 'base-3f2a');
    const key = 's3://bucket/a.dcm#etag-1';
    expect(await cache.get(key)).toBeUndefined();
    const features = new Float32Array([0.5, -1.25, 3e-8, 1024, -0]);
    await cache.put(key, features);
    const back = await cache.get(key);
    expect(back).toEqual(features);
    expect(back).not.toBe(features);
    expect(cache.stats).toEqual({ hits: 1, misses: 1, writes: 1 });
    const sha = createHash('sha256').update(key).digest('hex');
    expect(await readdir(path.join(dir, 'base-3f2a'))).toEqual([`${sha}.f32`]);
    expect(cache.fileFor(key)).toBe(path.join(dir, 'base-3f2a', `${sha}.f32`));
  });

  it('keys by base model and object version: another base or ETag misses', async () => {
    await new FeatureCache(dir, 'base-a').put('file:///x.dcm#size=10', new Float32Array([1, 2]));
    const other = new FeatureCache(dir, 'base-b');
    expect(await other.get('file:///x.dcm#size=10')).toBeUndefined();
    const same = new FeatureCache(dir, 'base-a');
    expect(await same.get('file:///x.dcm#size=11')).toBeUndefined();
    expect(await same.get('file:///x.dcm#size=10')).toEqual(new Float32Array([1, 2]));
    expect(same.stats).toEqual({ hits: 1, misses: 1, writes: 0 });
  });

  it('writes atomically: a reader holding the old file keeps reading complete old contents', async () => {
    const cache = new FeatureCache(dir, 'base');
    const old = new Float32Array(4096).fill(1);
    await cache.put('k', old);
    const handle = await open(cache.fileFor('k'), 'r');
    try {
      // An in-place rewrite would truncate the file under the open handle; rename swaps inodes.
      await cache.put('k', new Float32Array(8).fill(2));
      const { buffer } = await handle.read({ buffer: Buffer.alloc(old.byteLength + 4), position: 0 });
      const stale = (await handle.stat()).size;
      expect(stale).toBe(old.byteLength);
      expect(new Float32Array(buffer.buffer, buffer.byteOffset, 4096)).toEqual(old);
    } finally {
      await handle.close();
    }
    expect(await cache.get('k')).toEqual(new Float32Array(8).fill(2));
    // No temporary file is left behind.
    expect((await readdir(path.join(dir, 'base'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(cache.stats.writes).toBe(2);
  });

  it('treats a file of the wrong size as a miss and rejects unsafe base model keys', async () => {
    const cache = new FeatureCache(dir, 'base');
    await cache.put('k', new Float32Array([1]));
    await writeFile(cache.fileFor('k'), Buffer.from([1, 2, 3]));
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.stats.misses).toBe(1);
    for (const bad of ['', '..', '../x', 'a/b', '.hidden']) {
      expect(() => new FeatureCache(dir, bad)).toThrow(/one path segment/);
    }
  });
});
