import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { readdir as readdirNode } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@cxr/config';
import { ObjectFetchError, ObjectListError, ObjectSourceConfigError, ObjectTooLargeError } from './errors.js';
import { FileObjectSource, fetchFileObject, fileUriFromPath, type FileSystemPort } from './file.js';
import { openObjectSource } from './open.js';
import type { ObjectEntry, SkippedEntry } from './types.js';

// Names chosen so that naive per-directory name sorting ('a' < 'a-b') would disagree with
// full-path order ('a-b' < 'a/x' because '-' < '/'): resume compares full paths.
const FILES = ['a-b', 'a/x', 'a/y/z.dcm', 'a0', 'b.dcm', 'c/d/e/f.dcm', 'c/d/g.dcm', 'space name.dcm'];

let root: string;
let rootUri: string;

/** Bytes of a Latin-1 name ("café" with é as the single byte 0xE9): not UTF-8. */
const LATIN1_NAME = Buffer.from('caf\xe9.dcm', 'latin1');
const LATIN1_DIR = Buffer.from('\xc9tudes', 'latin1');

function bytesPath(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.flatMap((part, i) => [...(i === 0 ? [] : [Buffer.from('/')]), Buffer.from(part)]),
  );
}

async function collect(iterable: AsyncIterable<ObjectEntry>): Promise<ObjectEntry[]> {
  const out: ObjectEntry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cxr-file-source-'));
  for (const [index, rel] of FILES.entries()) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), 'x'.repeat(index + 1));
  }
  await mkdir(join(root, 'empty'));
  await symlink(join(root, 'b.dcm'), join(root, 'link.dcm')); // not a regular file: skipped
  await symlink(root, join(root, 'loop')); // a directory symlink would otherwise cycle
  rootUri = pathToFileURL(root).href;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FileObjectSource', () => {
  it('lists regular files recursively in full-path code-unit order', async () => {
    const entries = await collect(new FileObjectSource(rootUri).list());
    const sorted = [...FILES].sort();
    expect(entries.map((e) => e.cursor)).toEqual(sorted);
    expect(entries.map((e) => e.uri)).toEqual(sorted.map((rel) => pathToFileURL(join(root, rel)).href));
    expect(entries.find((e) => e.cursor === 'b.dcm')?.size).toBe(FILES.indexOf('b.dcm') + 1);
    expect(entries[0]!.lastModified).toBeInstanceOf(Date);
  });

  it('resumes after every possible cursor with exactly the remaining entries', async () => {
    const source = new FileObjectSource(rootUri);
    const all = await collect(source.list());
    for (let i = 0; i < all.length; i++) {
      const rest = await collect(source.list({ cursor: all[i]!.cursor }));
      expect(rest.map((e) => e.uri)).toEqual(all.slice(i + 1).map((e) => e.uri));
    }
  });

  it('fetches bytes of a listed file', async () => {
    const source = openObjectSource(rootUri, { env: {} });
    const entry = (await collect(source.list())).find((e) => e.cursor === 'space name.dcm')!;
    const bytes = await source.fetch(entry.uri);
    expect(new TextDecoder().decode(bytes)).toBe('x'.repeat(FILES.indexOf('space name.dcm') + 1));
  });

  it('a missing file is a permanent fetch error naming the URI', async () => {
    const uri = pathToFileURL(join(root, 'missing.dcm')).href;
    const error: unknown = await new FileObjectSource(rootUri).fetch(uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectFetchError);
    expect((error as ObjectFetchError).transient).toBe(false);
    expect((error as ObjectFetchError).message).toContain(uri);
    expect((error as ObjectFetchError).message).toContain('ENOENT');
  });

  it('a missing root is a usage error naming the folder (audit finding 15)', async () => {
    const missing = join(root, 'nope');
    const source = new FileObjectSource(pathToFileURL(missing).href);
    const error: unknown = await collect(source.list()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectSourceConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`source folder not found: ${missing}`);
    expect(() => openObjectSource('file:///nonexistent', { env: {} })).toThrow(
      'source path not found: /nonexistent',
    );
  });
});

describe('FileObjectSource: every entry is listed or reported (audit finding 2)', () => {
  let dir: string;
  let outside: string;
  const listed: ObjectEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const uriOf = (...parts: (string | Buffer)[]): string => fileUriFromPath(bytesPath(dir, ...parts));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-file-entries-'));
    outside = await mkdtemp(join(tmpdir(), 'cxr-file-outside-'));
    await writeFile(join(outside, 'elsewhere.dcm'), 'outside');
    await mkdir(join(dir, 'real', 'sub'), { recursive: true });
    await writeFile(join(dir, 'real', 'a.dcm'), 'a');
    await writeFile(join(dir, 'real', 'sub', 'b.dcm'), 'b');
    await writeFile(bytesPath(dir, LATIN1_NAME), 'latin-1 name');
    await mkdir(bytesPath(dir, LATIN1_DIR));
    await writeFile(bytesPath(dir, LATIN1_DIR, 'c.dcm'), 'in a latin-1 folder');
    await symlink(join(dir, 'real', 'a.dcm'), join(dir, 'inside.dcm'));
    await symlink('real/sub', join(dir, 'inside-dir'));
    await symlink('.', join(dir, 'loop'));
    await symlink('..', join(dir, 'real', 'sub', 'up'));
    await symlink(join(outside, 'elsewhere.dcm'), join(dir, 'outside.dcm'));
    await symlink(outside, join(dir, 'outside-dir'));
    await symlink(join(dir, 'missing.dcm'), join(dir, 'dangling.dcm'));
    await symlink('self.dcm', join(dir, 'self.dcm'));
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    for await (const entry of new FileObjectSource(pathToFileURL(dir).href).list({
      onSkip: (entry) => skipped.push(entry),
    })) {
      listed.push(entry);
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('lists files whose names are not UTF-8, under URIs that fetch reads back byte for byte', async () => {
    const latin1 = listed.find((entry) => entry.uri.endsWith('/caf%E9.dcm'));
    expect(latin1?.uri).toBe(`${pathToFileURL(dir).href}/caf%E9.dcm`);
    expect(new TextDecoder().decode(await fetchFileObject(latin1!.uri))).toBe('latin-1 name');
    const nested = listed.find((entry) => entry.uri.endsWith('/%C9tudes/c.dcm'));
    expect(new TextDecoder().decode(await fetchFileObject(nested!.uri))).toBe('in a latin-1 folder');
    // Every regular file, each once: the link targets under their own paths.
    expect(listed.map((entry) => entry.uri).sort()).toEqual(
      [
        uriOf(LATIN1_NAME),
        uriOf(LATIN1_DIR, 'c.dcm'),
        uriOf('real', 'a.dcm'),
        uriOf('real', 'sub', 'b.dcm'),
      ].sort(),
    );
  });

  it('reports each link, loop and special file with its reason', () => {
    const byUri = Object.fromEntries(skipped.map((entry) => [entry.uri, entry.reason]));
    expect(byUri).toEqual({
      [uriOf('dangling.dcm')]: 'broken_link',
      [uriOf('inside-dir')]: 'link_inside_root',
      [uriOf('inside.dcm')]: 'link_inside_root',
      [uriOf('loop')]: 'symlink_loop',
      [uriOf('outside-dir')]: 'link_outside_root',
      [uriOf('outside.dcm')]: 'link_outside_root',
      [uriOf('pipe')]: 'not_regular_file',
      [uriOf('real', 'sub', 'up')]: 'symlink_loop',
      [uriOf('self.dcm')]: 'symlink_loop',
    });
    expect(skipped).toHaveLength(9);
  });

  it('resumes after every cursor, names that are not UTF-8 included, with exactly the remaining entries', async () => {
    const source = new FileObjectSource(pathToFileURL(dir).href);
    for (let i = 0; i < listed.length; i++) {
      const rest = await collect(source.list({ cursor: listed[i]!.cursor }));
      expect(rest.map((e) => e.uri)).toEqual(listed.slice(i + 1).map((e) => e.uri));
    }
  });

  it('reports a folder it may not read as unreadable and lists the rest', async () => {
    // Root reads every folder, so permission denial is simulated at the node:fs boundary.
    const denied = Buffer.from(join(dir, 'real', 'sub'));
    const fs: FileSystemPort = {
      readdir: async (path) => {
        if (path.equals(denied)) throw Object.assign(new Error('denied'), { code: 'EACCES' });
        return readdirNode(path, { encoding: 'buffer', withFileTypes: true });
      },
      stat: (path) => import('node:fs/promises').then((fsp) => fsp.stat(path)),
      realpath: (path) =>
        import('node:fs/promises').then((fsp) => fsp.realpath(path, { encoding: 'buffer' })),
    };
    const seen: SkippedEntry[] = [];
    const entries = await collect(
      new FileObjectSource(pathToFileURL(dir).href, { fs }).list({ onSkip: (entry) => seen.push(entry) }),
    );
    expect(entries.map((e) => e.uri)).not.toContain(uriOf('real', 'sub', 'b.dcm'));
    expect(entries.map((e) => e.uri)).toContain(uriOf('real', 'a.dcm'));
    expect(seen.filter((entry) => entry.reason === 'unreadable')).toEqual([
      { reason: 'unreadable', uri: uriOf('real', 'sub') },
    ]);
    // A transient fault is not a skip: the listing fails, to be retried.
    const flaky: FileSystemPort = {
      ...fs,
      readdir: async (path) => {
        if (path.equals(denied)) throw Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });
        return fs.readdir(path);
      },
    };
    const error: unknown = await collect(
      new FileObjectSource(pathToFileURL(dir).href, { fs: flaky }).list(),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectListError);
    expect((error as ObjectListError).transient).toBe(true);
  });
});

describe('fetchFileObject limits (audit finding 3)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-file-fetch-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an object above maxBytes from its size, reading nothing', async () => {
    const path = join(dir, 'sparse-3g.bin');
    await writeFile(path, '');
    await truncate(path, 3 * 1024 ** 3); // sparse: no disk, and readFile would fail above 2 GiB
    const calls: string[] = [];
    const error: unknown = await fetchFileObject(pathToFileURL(path).href, {
      maxBytes: 256 * 1024 ** 2,
      head: { bytes: 132, check: () => calls.push('head') },
      beforeRead: () => {
        calls.push('beforeRead');
        return Promise.resolve();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect(error).toMatchObject({ size: 3 * 1024 ** 3, maxBytes: 256 * 1024 ** 2, transient: false });
    expect(calls).toEqual([]);
  });

  it('stops after the head when the head check throws, and rethrows what it threw', async () => {
    const path = join(dir, 'zeros.bin');
    await writeFile(path, '');
    await truncate(path, 64 * 1024 ** 2);
    const refusal = new Error('not DICOM');
    const heads: number[] = [];
    let readAll = false;
    const error: unknown = await fetchFileObject(pathToFileURL(path).href, {
      maxBytes: 256 * 1024 ** 2,
      head: {
        bytes: 132,
        check: (head) => {
          heads.push(head.length);
          throw refusal;
        },
      },
      beforeRead: () => {
        readAll = true;
        return Promise.resolve();
      },
    }).catch((e: unknown) => e);
    expect(error).toBe(refusal);
    expect(heads).toEqual([132]);
    expect(readAll).toBe(false);
  });

  it('reads a file whole after the checks, into one exact, transferable buffer', async () => {
    const path = join(dir, 'small.bin');
    await writeFile(path, Buffer.from('0123456789'));
    const sizes: number[] = [];
    const bytes = await fetchFileObject(pathToFileURL(path).href, {
      maxBytes: 10,
      head: {
        bytes: 4,
        check: (head) => {
          expect(new TextDecoder().decode(head)).toBe('0123');
        },
      },
      beforeRead: (size) => {
        sizes.push(size);
        return Promise.resolve();
      },
    });
    expect(new TextDecoder().decode(bytes)).toBe('0123456789');
    expect(bytes.buffer.byteLength).toBe(10);
    expect(sizes).toEqual([10]);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const path = join(dir, 'pipe');
    execFileSync('mkfifo', [path]);
    const error: unknown = await fetchFileObject(pathToFileURL(path).href).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectFetchError);
    expect((error as ObjectFetchError).message).toContain('not a regular file');
  });
});
