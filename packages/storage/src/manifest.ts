/**
 * Manifest adapter: a local CSV (header with a `uri` column, optional `etag`, `size`) or JSONL
 * (one object per line with `uri`, optional `etag`, `size`) file listing s3:// or file:// URIs.
 * Read line by line; the cursor is the 1-based line number of the entry.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { describeError, isTransientError } from './classify.js';
import { ManifestFormatError, ObjectListError, ObjectSourceConfigError } from './errors.js';
import type { FetchOptions, ListOptions, ObjectEntry, ObjectFetcher, ObjectSource } from './types.js';

export type ManifestFormat = 'csv' | 'jsonl';

/** Splits one CSV line (RFC 4180 quoting, no newlines inside fields); undefined if malformed. */
export function parseCsvLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote === -1) return undefined; // unterminated quoted field
        value += line.slice(i, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === line.length) return fields;
      if (line[i] !== ',') return undefined; // text after a closing quote
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      const value = line.slice(i, end);
      if (value.includes('"')) return undefined;
      fields.push(value);
      if (comma === -1) return fields;
      i = comma + 1;
    }
  }
}

function checkObjectUri(manifestUri: string, line: number, uri: string): string {
  if (!uri.startsWith('s3://') && !uri.startsWith('file://')) {
    throw new ManifestFormatError(manifestUri, line, 'uri must start with s3:// or file://');
  }
  return uri;
}

function parseSize(manifestUri: string, line: number, raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ManifestFormatError(manifestUri, line, 'size must be a non-negative integer');
  }
  return value;
}

function parseEtag(manifestUri: string, line: number, raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') throw new ManifestFormatError(manifestUri, line, 'etag must be a string');
  return raw.replace(/^"(.*)"$/, '$1');
}

/** Lists the URIs of a manifest file; fetches through the given scheme router. */
export class ManifestObjectSource implements ObjectSource {
  constructor(
    readonly uri: string,
    private readonly path: string,
    private readonly format: ManifestFormat,
    private readonly fetcher: ObjectFetcher,
  ) {}

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    const skipThrough = this.parseCursor(options.cursor);
    const stream = createReadStream(this.path, { encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let lineNumber = 0;
    let columns: { uri: number; etag: number; size: number } | undefined;
    try {
      for await (const rawLine of lines) {
        lineNumber++;
        // A UTF-8 byte order mark on line 1 would otherwise hide the `uri` header.
        const text = (lineNumber === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine).trim();
        if (this.format === 'csv' && columns === undefined) {
          if (text === '') continue;
          columns = this.parseHeader(text, lineNumber);
          continue;
        }
        if (text === '' || lineNumber <= skipThrough) continue;
        const entry =
          this.format === 'csv' && columns !== undefined
            ? this.parseCsvEntry(text, lineNumber, columns)
            : this.parseJsonEntry(text, lineNumber);
        yield entry;
      }
    } catch (error) {
      if (error instanceof ObjectListError) throw error;
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOENT')
        throw new ObjectSourceConfigError(`manifest not found: ${this.path}`, { cause: error });
      if (code === 'EISDIR')
        throw new ObjectSourceConfigError(`manifest is a folder: ${this.path}`, { cause: error });
      throw new ObjectListError(this.uri, isTransientError(error), describeError(error), { cause: error });
    } finally {
      lines.close();
      stream.destroy();
    }
  }

  private parseCursor(cursor: string | undefined): number {
    if (cursor === undefined) return 0;
    const value = Number(cursor);
    if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(value)) {
      throw new ObjectSourceConfigError(`manifest cursor must be a line number, got "${cursor}"`);
    }
    return value;
  }

  private parseHeader(text: string, line: number): { uri: number; etag: number; size: number } {
    const names = parseCsvLine(text)?.map((name) => name.trim().toLowerCase());
    if (names === undefined) throw new ManifestFormatError(this.uri, line, 'malformed CSV header');
    const uri = names.indexOf('uri');
    if (uri === -1) throw new ManifestFormatError(this.uri, line, 'CSV header has no "uri" column');
    return { uri, etag: names.indexOf('etag'), size: names.indexOf('size') };
  }

  private parseCsvEntry(
    text: string,
    line: number,
    columns: { uri: number; etag: number; size: number },
  ): ObjectEntry {
    const fields = parseCsvLine(text);
    if (fields === undefined) throw new ManifestFormatError(this.uri, line, 'malformed CSV quoting');
    const uri = fields[columns.uri]?.trim();
    if (uri === undefined || uri === '') throw new ManifestFormatError(this.uri, line, 'missing uri');
    return {
      uri: checkObjectUri(this.uri, line, uri),
      etag: columns.etag === -1 ? undefined : parseEtag(this.uri, line, fields[columns.etag]?.trim()),
      size: columns.size === -1 ? undefined : parseSize(this.uri, line, fields[columns.size]),
      cursor: String(line),
    };
  }

  private parseJsonEntry(text: string, line: number): ObjectEntry {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // The parser's message may quote the line; keep only the line number.
      throw new ManifestFormatError(this.uri, line, 'invalid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ManifestFormatError(this.uri, line, 'expected a JSON object');
    }
    const record = value as Record<string, unknown>;
    if (typeof record.uri !== 'string' || record.uri === '') {
      throw new ManifestFormatError(this.uri, line, 'missing string "uri"');
    }
    return {
      uri: checkObjectUri(this.uri, line, record.uri),
      etag: parseEtag(this.uri, line, record.etag),
      size: parseSize(this.uri, line, record.size),
      cursor: String(line),
    };
  }

  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
    return this.fetcher.fetch(uri, options);
  }

  close(): Promise<void> {
    return this.fetcher.close();
  }
}
