import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@cxr/config';
import { ObjectSourceConfigError } from './errors.js';
import { FileObjectSource } from './file.js';
import { ManifestObjectSource } from './manifest.js';
import { openObjectSource } from './open.js';
import type { ObjectEntry, ObjectSource } from './types.js';

let dir: string;

async function uris(source: ObjectSource): Promise<string[]> {
  const out: ObjectEntry[] = [];
  for await (const entry of source.list()) out.push(entry);
  return out.map((entry) => entry.uri);
}

function configError(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ObjectSourceConfigError);
    // A ConfigError: the CLI reports it as bad usage (exit code 2), not as a crash.
    expect(error).toBeInstanceOf(ConfigError);
    return error as Error;
  }
  throw new Error('expected an ObjectSourceConfigError');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-open-'));
  await mkdir(join(dir, 'archive', 'day 1'), { recursive: true });
  await writeFile(join(dir, 'archive', 'day 1', 'a.dcm'), 'a');
  const a = pathToFileURL(join(dir, 'archive', 'day 1', 'a.dcm')).href;
  await writeFile(join(dir, 'list.csv'), `uri\n${a}\n`);
  await writeFile(join(dir, 'list.jsonl'), `${JSON.stringify({ uri: a })}\n`);
  await writeFile(join(dir, 'notes.txt'), 'not a manifest');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openObjectSource: plain paths (audit finding 15)', () => {
  const a = (): string => pathToFileURL(join(dir, 'archive', 'day 1', 'a.dcm')).href;

  it('opens a folder given as a plain path, absolute or relative, like its file:// URI', async () => {
    const absolute = openObjectSource(join(dir, 'archive'), { env: {} });
    expect(absolute).toBeInstanceOf(FileObjectSource);
    expect(absolute.uri).toBe(pathToFileURL(join(dir, 'archive')).href);
    expect(await uris(absolute)).toEqual([a()]);
    const fromCwd = openObjectSource(relative(process.cwd(), join(dir, 'archive')), { env: {} });
    expect(await uris(fromCwd)).toEqual([a()]);
  });

  it('opens a file given as a plain path as a CSV or JSONL manifest', async () => {
    for (const name of ['list.csv', 'list.jsonl']) {
      const source = openObjectSource(join(dir, name), { env: {} });
      expect(source).toBeInstanceOf(ManifestObjectSource);
      expect(await uris(source)).toEqual([a()]);
      await source.close();
    }
  });

  it('names a missing path, a file that is no manifest and an unknown scheme', () => {
    const missing = join(dir, 'nowhere');
    expect(configError(() => openObjectSource(missing, { env: {} })).message).toBe(
      `source path not found: ${missing}`,
    );
    expect(configError(() => openObjectSource(`file://${missing}`, { env: {} })).message).toBe(
      `source path not found: ${missing}`,
    );
    expect(configError(() => openObjectSource(`manifest:${missing}.csv`, { env: {} })).message).toBe(
      `source path not found: ${missing}.csv`,
    );
    expect(configError(() => openObjectSource(join(dir, 'notes.txt'), { env: {} })).message).toMatch(
      /^manifest must end in \.csv or \.jsonl .*notes\.txt$/,
    );
    expect(configError(() => openObjectSource('gs://bucket/prefix', { env: {} })).message).toBe(
      'unsupported source URI scheme "gs:" (use s3://, file://, manifest:, dicomweb+http(s)://, dimse:// or a local path): gs://bucket/prefix',
    );
    // A mistyped PACS scheme: its query (a Patient ID filter) is not repeated.
    expect(
      configError(() => openObjectSource('dicomweb://pacs/dicom-web?PatientID=CANARY', { env: {} })).message,
    ).toBe(
      'unsupported source URI scheme "dicomweb:" (use s3://, file://, manifest:, dicomweb+http(s)://, dimse:// or a local path): dicomweb://pacs/dicom-web',
    );
  });

  it('refuses PACS filter flags on a dimse:// source, whose filters are query parameters', () => {
    expect(
      configError(() =>
        openObjectSource('dimse://PACS@127.0.0.1:104', {
          env: {},
          pacsFilters: { modality: 'CR' },
          dimse: { callingAeTitle: 'CXR', timeoutMs: 1000, retrieve: 'get' },
        }),
      ).message,
    ).toMatch(/^dimse:\/\/ sources take their filters as query parameters/);
  });

  it('refuses PACS filters on a source that is no PACS', () => {
    expect(
      configError(() => openObjectSource(dir, { env: {}, pacsFilters: { modality: 'CR' } })).message,
    ).toMatch(
      /^PACS filters \(--study-date, --modality, .*\) apply to dicomweb\+http\(s\):\/\/ and dimse:\/\/ sources only$/,
    );
  });
});
