import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectFetchError, ObjectListError } from './errors.js';
import { FileObjectSource } from './file.js';
import { openObjectSource } from './open.js';
import type { ObjectEntry } from './types.js';

// Names chosen so that naive per-directory name sorting ('a' < 'a-b') would disagree with
// full-path order ('a-b' < 'a/x' because '-' < '/'): resume compares full paths.
const FILES = ['a-b', 'a/x', 'a/y/z.dcm', 'a0', 'b.dcm', 'c/d/e/f.dcm', 'c/d/g.dcm', 'space name.dcm'];

let root: string;
let rootUri: string;

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

  it('a missing root is a permanent list error', async () => {
    const source = new FileObjectSource(pathToFileURL(join(root, 'nope')).href);
    const error: unknown = await collect(source.list()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectListError);
    expect((error as ObjectListError).transient).toBe(false);
  });
});
