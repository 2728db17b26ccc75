import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestFormatError, ObjectSourceConfigError } from './errors.js';
import { ManifestObjectSource } from './manifest.js';
import { openObjectSource } from './open.js';
import type { ObjectEntry, ObjectSource } from './types.js';

let dir: string;
let dataUri: string;

async function collect(iterable: AsyncIterable<ObjectEntry>): Promise<ObjectEntry[]> {
  const out: ObjectEntry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

async function manifest(name: string, text: string): Promise<ObjectSource> {
  const path = join(dir, name);
  await writeFile(path, text);
  return openObjectSource(`manifest:${path}`, { env: {} });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-manifest-'));
  await writeFile(join(dir, 'data.dcm'), 'DICM-bytes');
  dataUri = pathToFileURL(join(dir, 'data.dcm')).href;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ManifestObjectSource (CSV)', () => {
  it('reads uri, etag and size columns in any order, skipping blank lines', async () => {
    const source = await manifest(
      'list.csv',
      `\uFEFFsize,URI,etag\r\n10,${dataUri},"""abc"""\r\n\r\n,s3://bucket/k 1.dcm,\n`,
    );
    const entries = await collect(source.list());
    expect(entries).toEqual([
      { uri: dataUri, etag: 'abc', size: 10, cursor: '2' },
      { uri: 's3://bucket/k 1.dcm', etag: undefined, size: undefined, cursor: '4' },
    ]);
    expect(new TextDecoder().decode(await source.fetch(entries[0]!.uri))).toBe('DICM-bytes');
    await source.close();
  });

  it('resumes after a line-number cursor', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `s3://b/${i}`);
    const source = await manifest('many.csv', `uri\n${lines.join('\n')}\n`);
    const all = await collect(source.list());
    const rest = await collect(source.list({ cursor: all[6]!.cursor }));
    expect(rest.map((e) => e.uri)).toEqual(lines.slice(7));
    await expect(collect(source.list({ cursor: 'x' }))).rejects.toThrow(ObjectSourceConfigError);
  });

  it('a malformed line fails with its line number after the good lines were listed', async () => {
    const source = await manifest('bad.csv', `uri,size\ns3://b/1,5\ns3://b/2,-3\ns3://b/3,1\n`);
    const seen: string[] = [];
    const error: unknown = await (async () => {
      for await (const entry of source.list()) seen.push(entry.uri);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['s3://b/1']);
    expect(error).toBeInstanceOf(ManifestFormatError);
    expect((error as ManifestFormatError).line).toBe(3);
    expect((error as ManifestFormatError).message).toMatch(/line 3: size must be a non-negative integer/);
    expect((error as ManifestFormatError).transient).toBe(false);
  });

  it('reads a quoted field holding a line break (a spreadsheet note column); the cursor is the line the entry starts on', async () => {
    const source = await manifest(
      'notes.csv',
      'uri,note,size\r\ns3://b/1,"seen twice,\r\nsee ""ticket 7""",5\r\ns3://b/2,,6\r\n"s3://b/3","a\nb\nc",\r\ns3://b/4,,8\r\n',
    );
    const entries = await collect(source.list());
    expect(entries.map((e) => [e.uri, e.size, e.cursor])).toEqual([
      ['s3://b/1', 5, '2'],
      ['s3://b/2', 6, '4'],
      ['s3://b/3', undefined, '5'],
      ['s3://b/4', 8, '8'],
    ]);
    // Resuming after each entry lists exactly the entries after it.
    for (const [i, entry] of entries.entries()) {
      const rest = await collect(source.list({ cursor: entry.cursor }));
      expect(rest.map((e) => e.uri)).toEqual(entries.slice(i + 1).map((e) => e.uri));
    }
  });

  it('a quoted field that is never closed fails naming the line it starts on', async () => {
    const source = await manifest('open.csv', 'uri,note\ns3://b/1,ok\ns3://b/2,"SECRET^NAME\ns3://b/3,x\n');
    const seen: string[] = [];
    const error: unknown = await (async () => {
      for await (const entry of source.list()) seen.push(entry.uri);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['s3://b/1']);
    expect(error).toBeInstanceOf(ManifestFormatError);
    expect((error as ManifestFormatError).line).toBe(3);
    expect((error as Error).message).toMatch(/line 3: malformed CSV quoting \(unterminated quoted field\)/);
    expect((error as Error).message).not.toContain('SECRET');
  });

  it('a header without a uri column is rejected at line 1', async () => {
    const source = await manifest('nouri.csv', 'path,size\n/x,1\n');
    await expect(collect(source.list())).rejects.toThrow(/line 1: CSV header has no "uri" column/);
  });

  it('rejects URIs that are neither s3:// nor file://', async () => {
    const source = await manifest('scheme.csv', 'uri\nhttp://example.org/a.dcm\n');
    await expect(collect(source.list())).rejects.toThrow(/line 2: uri must start with s3:\/\/ or file:\/\//);
  });
});

describe('ManifestObjectSource (JSONL)', () => {
  it('is detected by extension from a file:// URI and reads objects with uri', async () => {
    const path = join(dir, 'list.jsonl');
    await writeFile(path, `{"uri":"${dataUri}","size":10,"etag":"e1"}\n\n{"uri":"s3://b/k"}\n`);
    const source = openObjectSource(pathToFileURL(path).href, { env: {} });
    expect(source).toBeInstanceOf(ManifestObjectSource);
    const entries = await collect(source.list());
    expect(entries.map((e) => [e.uri, e.size, e.etag, e.cursor])).toEqual([
      [dataUri, 10, 'e1', '1'],
      ['s3://b/k', undefined, undefined, '3'],
    ]);
    expect(await collect(source.list({ cursor: '1' }))).toHaveLength(1);
  });

  it('invalid JSON names the line and not its content', async () => {
    const source = await manifest('bad.jsonl', `{"uri":"s3://b/1"}\n{"uri": "s3://b/SECRET-NAME\n`);
    const error: unknown = await collect(source.list()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestFormatError);
    expect((error as ManifestFormatError).line).toBe(2);
    expect((error as Error).message).toContain('line 2: invalid JSON');
    expect((error as Error).message).not.toContain('SECRET');
  });

  it('a line without a string uri is rejected', async () => {
    const source = await manifest('nouri.jsonl', `{"path":"s3://b/1"}\n`);
    await expect(collect(source.list())).rejects.toThrow(/line 1: missing string "uri"/);
  });
});

describe('openObjectSource', () => {
  it('rejects unknown schemes and non-manifest extensions', () => {
    expect(() => openObjectSource('gs://bucket/x', { env: {} })).toThrow(ObjectSourceConfigError);
    expect(() => openObjectSource('manifest:/x/list.txt', { env: {} })).toThrow(/\.csv or \.jsonl/);
  });
});
