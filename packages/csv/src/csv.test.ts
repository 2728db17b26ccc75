import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CsvFormatError,
  csvField,
  csvRecord,
  normalizeName,
  parseCsv,
  parseCsvText,
  readCsvFile,
  type CsvRecord,
} from './index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-csv-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function* chunks(...parts: string[]): AsyncGenerator<string> {
  for (const part of parts) {
    await Promise.resolve();
    yield part;
  }
}

async function records(...parts: string[]): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const record of parseCsv(chunks(...parts), 'test.csv')) out.push(record);
  return out;
}

describe('parseCsv', () => {
  it('reads RFC 4180 quoting, CRLF and LF, a BOM, and gives the line each record starts on', async () => {
    const text = '\uFEFFa,b\r\n"x,1","say ""hi"""\r\n"multi\nline",2\n\nlast,\n';
    expect(await records(text)).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x,1', 'say "hi"'] },
      { line: 3, fields: ['multi\nline', '2'] },
      { line: 6, fields: ['last', ''] },
    ]);
  });

  it('gives the same records whatever the chunk boundaries (quotes and CRLF split across chunks)', async () => {
    const text = '\uFEFFa,b\r\n"x ""q""",y\r\n"p\r\nq",z\r\n"",""""\rlast,1';
    const whole = await records(text);
    for (let cut = 1; cut < text.length; cut += 1) {
      expect(await records(text.slice(0, cut), text.slice(cut))).toEqual(whole);
    }
    // One UTF-16 unit per chunk: every boundary at once.
    const units = Array.from({ length: text.length }, (_, i) => text.charAt(i));
    expect(await records(...units)).toEqual(whole);
    expect(whole).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x "q"', 'y'] },
      { line: 3, fields: ['p\r\nq', 'z'] },
      { line: 5, fields: ['', '"'] },
      { line: 6, fields: ['last', '1'] },
    ]);
  });

  it('ends records on a lone CR, counts lines inside quoted fields, keeps a last record without a line end', () => {
    expect(parseCsvText('a\rb\r\n"1\r2\n3",x\n\r\nend')).toEqual([
      { line: 1, fields: ['a'] },
      { line: 2, fields: ['b'] },
      { line: 3, fields: ['1\r2\n3', 'x'] },
      { line: 7, fields: ['end'] },
    ]);
    expect(parseCsvText('')).toEqual([]);
    expect(parseCsvText('\uFEFF')).toEqual([]);
    // A line of separators is a record of empty fields, not a blank line.
    expect(parseCsvText(',\n')).toEqual([{ line: 1, fields: ['', ''] }]);
  });

  it('refuses malformed quoting, naming the file and the line but not the content', async () => {
    await expect(records('a,b\n"open,1\n')).rejects.toThrow(/test\.csv: line 2: unterminated quoted field/);
    await expect(records('a,b\nx"y,1\n')).rejects.toThrow(/line 2: quote inside an unquoted field/);
    await expect(records('a\n"x"y\n')).rejects.toThrow(/line 2: text after a closing quote/);
    const error = (() => {
      try {
        parseCsvText('uri\n"SECRET^NAME"x\n', 'list.csv');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CsvFormatError);
    expect(error).toMatchObject({ file: 'list.csv', line: 2, reason: 'text after a closing quote' });
    expect((error as Error).message).not.toContain('SECRET');
  });
});

describe('readCsvFile', () => {
  it('reads a file larger than one read chunk, with a multi-byte character and a quoted line break across the boundary', async () => {
    const path = join(dir, 'big.csv');
    const filler = 'x'.repeat((1 << 20) - 8);
    // The quoted field starts before the 1 MiB chunk boundary and ends after it.
    const text = `k,v\r\n${filler},"é\r\nü"\r\nlast,1\r\n`;
    await writeFile(path, text, 'utf8');
    const out: CsvRecord[] = [];
    for await (const record of readCsvFile(path)) out.push(record);
    expect(out.map((r) => r.line)).toEqual([1, 2, 4]);
    expect(out[1]?.fields).toEqual([filler, 'é\r\nü']);
    expect(out[2]?.fields).toEqual(['last', '1']);
  });
});

describe('csvField / csvRecord', () => {
  it('quotes only what needs quoting, doubles quotes, writes null as an empty field', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line1\nline2')).toBe('"line1\nline2"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField(null)).toBe('');
    expect(csvField(0.25)).toBe('0.25');
    expect(csvRecord(['a', null, 1])).toBe('a,,1\r\n');
  });

  it('what the writer writes the reader reads back, field for field', () => {
    const rows = [
      ['uri', 'name', 'note'],
      ['s3://b/DOE^JOHN, "x".dcm', '', 'two\r\nlines'],
      ['"', ',', '\n'],
      ['é', 'ü', ' padded '],
    ];
    const text = rows.map((row) => csvRecord(row)).join('');
    expect(parseCsvText(text).map((r) => r.fields)).toEqual(rows);
  });
});

describe('normalizeName', () => {
  it('compares header names case-insensitively with spaces, hyphens and underscores equal', () => {
    expect(normalizeName(' SOP Instance-UID ')).toBe('sop_instance_uid');
    expect(normalizeName('Finding__Labels')).toBe(normalizeName('finding labels'));
  });
});
