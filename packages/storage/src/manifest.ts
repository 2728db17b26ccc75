/**
 * Manifest adapter: a local CSV (header with a `uri` column, optional `etag`, `size`; RFC 4180,
 * so a quoted field may hold a line break) or JSONL (one object per line with `uri`, optional
 * `etag`, `size`) file listing s3:// or file:// URIs. Streamed; the cursor is the 1-based line
 * number on which the entry starts, so a resumed listing starts exactly after it.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CsvFormatError, CsvParser, type CsvRecord } from '@cxr/csv';
import { describeError, isTransientError } from './classify.js';
import { ManifestFormatError, ObjectListError, ObjectSourceConfigError } from './errors.js';
import type { FetchOptions, ListOptions, ObjectEntry, ObjectFetcher, ObjectSource } from './types.js';

export type ManifestFormat = 'csv' | 'jsonl';

interface CsvColumns {
  readonly uri: number;
  readonly etag: number;
  readonly size: number;
}

/** A record that is one field of blanks: an empty (or spaces-only) line, skipped like JSONL's. */
function isBlankRecord(record: CsvRecord): boolean {
  return record.fields.length === 1 && (record.fields[0] ?? '').trim() === '';
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
    try {
      yield* this.format === 'csv'
        ? this.csvEntries(stream, skipThrough)
        : this.jsonEntries(stream, skipThrough);
    } catch (error) {
      if (error instanceof ObjectListError) throw error;
      if (error instanceof CsvFormatError) {
        throw new ManifestFormatError(this.uri, error.line, `malformed CSV quoting (${error.reason})`);
      }
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOENT')
        throw new ObjectSourceConfigError(`manifest not found: ${this.path}`, { cause: error });
      if (code === 'EISDIR')
        throw new ObjectSourceConfigError(`manifest is a folder: ${this.path}`, { cause: error });
      throw new ObjectListError(this.uri, isTransientError(error), describeError(error), { cause: error });
    } finally {
      stream.destroy();
    }
  }

  /** CSV records after the header; those starting on or before line `skipThrough` are passed over. */
  private async *csvEntries(chunks: AsyncIterable<string>, skipThrough: number): AsyncIterable<ObjectEntry> {
    // The parser directly rather than its async generator: one await per chunk, not per record.
    const parser = new CsvParser(this.uri);
    let columns: CsvColumns | undefined;
    const entry = (record: CsvRecord): ObjectEntry | undefined => {
      if (isBlankRecord(record)) return undefined;
      if (columns === undefined) {
        columns = this.parseHeader(record.fields, record.line);
        return undefined;
      }
      if (record.line <= skipThrough) return undefined;
      return this.parseCsvEntry(record.fields, record.line, columns);
    };
    for await (const chunk of chunks) {
      for (const record of parser.push(chunk)) {
        const next = entry(record);
        if (next !== undefined) yield next;
      }
    }
    for (const record of parser.end()) {
      const next = entry(record);
      if (next !== undefined) yield next;
    }
  }

  /** JSONL lines; lines up to `skipThrough` are passed over unread. */
  private async *jsonEntries(stream: Readable, skipThrough: number): AsyncIterable<ObjectEntry> {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let lineNumber = 0;
    try {
      for await (const rawLine of lines) {
        lineNumber++;
        // A UTF-8 byte order mark on line 1 would otherwise hide the first `uri`.
        const line = (lineNumber === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine).trim();
        if (line === '' || lineNumber <= skipThrough) continue;
        yield this.parseJsonEntry(line, lineNumber);
      }
    } finally {
      lines.close();
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

  private parseHeader(fields: readonly string[], line: number): CsvColumns {
    const names = fields.map((name) => name.trim().toLowerCase());
    const uri = names.indexOf('uri');
    if (uri === -1) throw new ManifestFormatError(this.uri, line, 'CSV header has no "uri" column');
    return { uri, etag: names.indexOf('etag'), size: names.indexOf('size') };
  }

  private parseCsvEntry(fields: readonly string[], line: number, columns: CsvColumns): ObjectEntry {
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
