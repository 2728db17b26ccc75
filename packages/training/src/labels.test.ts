import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelsFileError, readLabelsFile } from './labels.js';

describe('readLabelsFile (cxr train --data)', () => {
  let dir: string;
  const write = async (name: string, text: string): Promise<string> => {
    const file = join(dir, name);
    await writeFile(file, text);
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-train-labels-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the preferred key column, every other column as a label, and keeps the group column out', async () => {
    const file = await write(
      'a.csv',
      'File,URI,Pneumonia,Effusion,Site\r\na.dcm,s3://b/a.dcm,1,0,north\nb.dcm,s3://b/b.dcm,0,0,south\n',
    );
    const labels = await readLabelsFile(file, { groupBy: 'site' });
    expect(labels.keyColumn).toBe('uri');
    expect(labels.labels).toEqual(['Pneumonia', 'Effusion']);
    expect(labels.rows).toEqual([
      { line: 2, key: 's3://b/a.dcm', values: [1, 0], group: 'north' },
      { line: 3, key: 's3://b/b.dcm', values: [0, 0], group: 'south' },
    ]);
    const subset = await readLabelsFile(file, { groupBy: 'Site', labels: ['effusion'] });
    expect(subset.labels).toEqual(['Effusion']);
    expect(subset.rows.map((r) => r.values)).toEqual([[0], [0]]);
  });

  it('refuses values other than 0/1, naming the file, line and column but not the value', async () => {
    const file = await write('bad.csv', 'file,opacity\na.dcm,1\nPATIENT-SECRET.dcm,yes\n');
    const error = await readLabelsFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LabelsFileError);
    expect((error as Error).message).toBe(`${file}: line 3: column "opacity": expected 0 or 1`);
    expect((error as Error).message).not.toContain('yes');
    expect((error as Error).message).not.toContain('PATIENT-SECRET');
  });

  it.each([
    [
      'no key column',
      'name,opacity\na,1\n',
      'line 1: no key column (expected one of sop_instance_uid, uri, file)',
    ],
    ['a duplicate key', 'file,opacity\na.dcm,1\na.dcm,0\n', 'line 3: same file as line 2'],
    ['a short row', 'file,opacity\na.dcm\n', 'line 2: 1 fields, the header has 2'],
    ['no label column', 'file\na.dcm\n', 'line 1: no label column'],
    ['no rows', 'file,opacity\n', 'no rows'],
  ])('refuses %s', async (_name, text, message) => {
    const file = await write(`${_name.replaceAll(' ', '-')}.csv`, text);
    await expect(readLabelsFile(file)).rejects.toThrow(`${file}: ${message}`);
  });

  it('refuses a --group-by or --labels column the file does not have', async () => {
    const file = await write('g.csv', 'file,opacity\na.dcm,1\n');
    await expect(readLabelsFile(file, { groupBy: 'site' })).rejects.toThrow('no column "site" (--group-by)');
    await expect(readLabelsFile(file, { labels: ['effusion'] })).rejects.toThrow(
      'no label column "effusion" (--labels)',
    );
  });
});
