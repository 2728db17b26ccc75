import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ThumbnailCache } from './thumbnail-cache.js';

const key = (n: number): string => n.toString(16).padStart(40, '0');

describe('ThumbnailCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-thumb-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps at most maxBytes, evicting the least recently used first', async () => {
    const cache = new ThumbnailCache({ dir: join(dir, 'c'), maxBytes: 300 });
    await cache.put(key(1), new Uint8Array(100).fill(1));
    await cache.put(key(2), new Uint8Array(100).fill(2));
    await cache.put(key(3), new Uint8Array(100).fill(3));
    // Reading 1 makes 2 the least recently used.
    expect((await cache.get(key(1)))?.[0]).toBe(1);
    await cache.put(key(4), new Uint8Array(100).fill(4));
    expect(cache.totalBytes).toBe(300);
    expect(await cache.get(key(2))).toBeUndefined();
    expect((await cache.get(key(1)))?.[0]).toBe(1);
    expect((await cache.get(key(3)))?.[0]).toBe(3);
    expect((await readdir(join(dir, 'c'))).sort()).toEqual([key(1), key(3), key(4)].map((k) => `${k}.png`));
    // The folder and files are private: they hold images of patients.
    expect((await stat(join(dir, 'c'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'c', `${key(1)}.png`))).mode & 0o777).toBe(0o600);
  });

  it('indexes what an earlier run left, oldest first, and removes unfinished writes', async () => {
    const folder = join(dir, 'c');
    const first = new ThumbnailCache({ dir: folder, maxBytes: 1000 });
    await first.open();
    for (const [n, ageSeconds] of [
      [1, 30],
      [2, 10],
      [3, 20],
    ] as const) {
      const path = join(folder, `${key(n)}.png`);
      await writeFile(path, new Uint8Array(100));
      const at = Date.now() / 1000 - ageSeconds;
      await utimes(path, at, at);
    }
    await writeFile(join(folder, `${key(9)}.123.0.tmp`), 'half');
    await writeFile(join(folder, 'notes.txt'), 'not ours');
    const second = new ThumbnailCache({ dir: folder, maxBytes: 250 });
    await second.open();
    // 300 bytes over 250: the oldest (1) goes.
    expect(second.size).toBe(2);
    expect(await second.get(key(1))).toBeUndefined();
    expect(await second.get(key(2))).toBeDefined();
    expect((await readdir(folder)).sort()).toEqual([`${key(2)}.png`, `${key(3)}.png`, 'notes.txt']);
  });

  it('works without a usable folder: every get misses, nothing is stored, one warning', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a folder');
    const warnings: string[] = [];
    const cache = new ThumbnailCache({
      dir: join(blocker, 'cache'),
      maxBytes: 1000,
      log: (_level, msg) => warnings.push(msg),
    });
    await cache.put(key(1), new Uint8Array(10));
    expect(await cache.get(key(1))).toBeUndefined();
    expect(await cache.open()).toBe(false);
    expect(warnings).toEqual(['thumbnail cache unavailable: thumbnails are rendered every time']);
  });

  it('treats a file deleted behind its back as a miss', async () => {
    const cache = new ThumbnailCache({ dir, maxBytes: 1000 });
    await cache.put(key(5), new Uint8Array(10));
    await rm(join(dir, `${key(5)}.png`));
    expect(await cache.get(key(5))).toBeUndefined();
    expect(cache.totalBytes).toBe(0);
    await expect(cache.put('../../etc/passwd', new Uint8Array(1))).rejects.toThrow(/hex/);
  });
});
