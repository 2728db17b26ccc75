import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectSourceConfigError } from './errors.js';
import { createObjectFetcher } from './open.js';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from './testing/index.js';
import { openUploadArea } from './uploads.js';

const BYTES = new Uint8Array(randomBytes(5000));
const HOUR_MS = 3600_000;

describe('upload area in a folder (file://)', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cxr-uploads-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the folder, stores uploads under random names for the owner only, and deletes them', async () => {
    const dir = join(root, 'created', 'uploads');
    const area = openUploadArea(pathToFileURL(dir).href, { env: {} });
    await area.prepare();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const uri = await area.put(BYTES);
    expect(uri).toMatch(/^file:\/\/\/.*\/[0-9a-f-]{36}\.dcm$/);
    expect(uri.startsWith(pathToFileURL(dir).href)).toBe(true);
    const path = new URL(uri).pathname;
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // The worker reads it like any other object.
    const fetcher = createObjectFetcher({ env: {} });
    expect(await fetcher.fetch(uri)).toEqual(BYTES);
    expect(await area.list()).toEqual([uri]);
    expect(await area.put(BYTES)).not.toBe(uri);
    await area.delete(uri);
    await area.delete(uri); // already gone: no error
    expect(await area.list()).toHaveLength(1);
    await area.close();
  });

  it('refuses to delete anything that is not one of its uploads', async () => {
    const dir = join(root, 'guarded');
    const area = openUploadArea(pathToFileURL(dir).href, { env: {} });
    await area.prepare();
    const uri = await area.put(BYTES);
    const name = uri.slice(uri.lastIndexOf('/') + 1);
    await writeFile(join(root, name), 'outside');
    await writeFile(join(dir, 'results.sqlite'), 'not an upload');
    for (const other of [
      pathToFileURL(join(root, name)).href,
      pathToFileURL(join(dir, 'results.sqlite')).href,
      pathToFileURL(join(dir, 'sub', name)).href,
      `${pathToFileURL(dir).href}/../${name}`,
      `s3://bucket/${name}`,
    ]) {
      await expect(area.delete(other), other).rejects.toBeInstanceOf(ObjectSourceConfigError);
    }
    expect((await readdir(root)).sort()).toContain(name);
    expect((await readdir(dir)).sort()).toEqual([name, 'results.sqlite'].sort());
  });

  it('sweeps uploads older than the cut-off only, and never other files', async () => {
    const dir = join(root, 'sweep');
    const area = openUploadArea(pathToFileURL(dir).href, { env: {} });
    await area.prepare();
    const old = await area.put(BYTES);
    const fresh = await area.put(BYTES);
    const twoHoursAgo = new Date(Date.now() - 2 * HOUR_MS);
    await utimes(new URL(old).pathname, twoHoursAgo, twoHoursAgo);
    await writeFile(join(dir, 'keep.dcm'), 'x');
    await utimes(join(dir, 'keep.dcm'), twoHoursAgo, twoHoursAgo);
    expect(await area.sweep(new Date(Date.now() - HOUR_MS))).toBe(1);
    expect(await area.list()).toEqual([fresh]);
    expect(await readdir(dir)).toContain('keep.dcm');
  });

  it('fails at prepare when the folder cannot be created', async () => {
    const blocker = join(root, 'a-file');
    await writeFile(blocker, 'x');
    const area = openUploadArea(pathToFileURL(join(blocker, 'uploads')).href, { env: {} });
    await expect(area.prepare()).rejects.toThrow(/upload folder unusable/);
    expect(() => openUploadArea('redis://redis:6379', { env: {} })).toThrow(ObjectSourceConfigError);
  });
});

describe('upload area under an S3 prefix (s3rver)', () => {
  const bucket = 'cxr-uploads';
  let server: RunningS3rver;
  let seed: S3Client;

  beforeAll(async () => {
    server = await startS3rver();
    seed = createTestS3Client(server.endpoint);
    await seedBucket(seed, bucket, [['predict/not-an-upload.txt', new Uint8Array([1])]]);
  });
  afterAll(async () => {
    seed.destroy();
    await server.stop();
  });

  it('stores, lists, fetches, sweeps and deletes uploads under the prefix only', async () => {
    const deps = { env: { ...server.env, AWS_S3_FORCE_PATH_STYLE: 'true' } };
    const area = openUploadArea(`s3://${bucket}/predict`, deps);
    await area.prepare();
    const first = await area.put(BYTES);
    const second = await area.put(BYTES);
    expect(first).toMatch(/^s3:\/\/cxr-uploads\/predict\/[0-9a-f-]{36}\.dcm$/);
    expect((await area.list()).sort()).toEqual([first, second].sort());
    const fetcher = createObjectFetcher(deps);
    expect(await fetcher.fetch(first)).toEqual(BYTES);
    await fetcher.close();
    await area.delete(first);
    expect(await area.list()).toEqual([second]);
    await expect(area.delete(`s3://${bucket}/predict/not-an-upload.txt`)).rejects.toBeInstanceOf(
      ObjectSourceConfigError,
    );
    expect(await area.sweep(new Date(Date.now() - HOUR_MS))).toBe(0);
    expect(await area.sweep(new Date(Date.now() + HOUR_MS))).toBe(1);
    expect(await area.list()).toEqual([]);
    // The other object under the prefix is still there.
    const source = createObjectFetcher(deps);
    expect(await source.fetch(`s3://${bucket}/predict/not-an-upload.txt`)).toEqual(new Uint8Array([1]));
    await source.close();
    await area.close();
  });
});
