/**
 * A streaming RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks;
 * records end with CRLF, LF or CR; a UTF-8 BOM at the start is dropped (spreadsheet programs
 * write one); blank lines between records are skipped. Each record carries the physical line it
 * starts on, so errors (and resumable cursors) can name a line without quoting its content.
 * Text arrives in chunks of any size: a record, a quote pair or a CRLF may straddle two chunks.
 */
import { createReadStream } from 'node:fs';

export interface CsvRecord {
  /** 1-based physical line the record starts on (the header is line 1). */
  readonly line: number;
  readonly fields: readonly string[];
}

/** CSV text that is not RFC 4180: names the file and the line, never the content. */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}: line ${line}: ${reason}`);
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** End of the run of plain characters starting at `from`: the next quote, LF or CR (and comma unless quoted). */
function plainRunEnd(chunk: string, from: number, quoted: boolean): number {
  // A charCodeAt loop: on fields this short it beats a sticky regex, and indexOf(char, position)
  // turned quadratic in optimised code here (V8 12).
  const n = chunk.length;
  let end = from;
  while (end < n) {
    const c = chunk.charCodeAt(end);
    if (c === QUOTE || c === LF || c === CR || (c === COMMA && !quoted)) break;
    end += 1;
  }
  return end;
}

/**
 * The parser's state machine: `push` each chunk of text and get the records it completed, then
 * `end` for the last record. Synchronous, so files, streams and strings share one implementation.
 */
export class CsvParser {
  readonly #file: string;
  #fields: string[] = [];
  #field = '';
  #quoted = false; // inside a quoted field
  #afterQuote = false; // a quoted field just closed: only a separator or a line end may follow
  #fieldStarted = false; // the record has content (so a blank line yields no record)
  #line = 1;
  #recordLine = 1;
  #pendingCr = false; // a record ended on CR: skip the LF of a CRLF
  #crInQuotes = false; // the last character of a quoted field was CR
  #first = true;

  /** `file` names the input in errors (a path, a URI, or a description). */
  constructor(file: string) {
    this.#file = file;
  }

  /** Parses one chunk; returns the records it completed. */
  push(text: string): CsvRecord[] {
    let chunk = text;
    if (this.#first && chunk.length > 0) {
      if (chunk.startsWith('\uFEFF')) chunk = chunk.slice(1);
      this.#first = false;
    }
    const records: CsvRecord[] = [];
    const n = chunk.length;
    for (let i = 0; i < n; i += 1) {
      const c = chunk.charCodeAt(i);
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (c === LF) continue;
      }
      if (this.#quoted) {
        if (c === QUOTE) {
          this.#crInQuotes = false;
          if (i + 1 < n && chunk.charCodeAt(i + 1) === QUOTE) {
            this.#field += '"';
            i += 1;
          } else {
            // A closing quote, or a chunk that ends on a quote: the next character decides
            // (another quote makes it an escaped one, see below).
            this.#quoted = false;
            this.#afterQuote = true;
          }
        } else if (c === LF || c === CR) {
          // A line break inside a field: CRLF counts one line, even when a chunk ends between them.
          if (!(c === LF && this.#crInQuotes)) this.#line += 1;
          this.#crInQuotes = c === CR;
          this.#field += c === LF ? '\n' : '\r';
        } else {
          this.#crInQuotes = false;
          // A run of plain characters at once: slicing beats appending one character at a time.
          const end = plainRunEnd(chunk, i, true);
          this.#field += chunk.slice(i, end);
          i = end - 1;
        }
        continue;
      }
      if (c === QUOTE) {
        if (this.#afterQuote) {
          // `""` split across chunks: an escaped quote inside the field.
          this.#field += '"';
          this.#quoted = true;
          this.#afterQuote = false;
          continue;
        }
        if (this.#field.length > 0) {
          throw new CsvFormatError(this.#file, this.#line, 'quote inside an unquoted field');
        }
        this.#quoted = true;
        this.#fieldStarted = true;
        continue;
      }
      if (c === COMMA) {
        this.#fields.push(this.#field);
        this.#field = '';
        this.#afterQuote = false;
        this.#fieldStarted = true;
        continue;
      }
      if (c === LF || c === CR) {
        const record = this.#endRecord();
        if (record !== undefined) records.push(record);
        this.#line += 1;
        this.#recordLine = this.#line;
        if (c === CR) this.#pendingCr = true;
        continue;
      }
      if (this.#afterQuote) throw new CsvFormatError(this.#file, this.#line, 'text after a closing quote');
      const end = plainRunEnd(chunk, i, false);
      this.#field += chunk.slice(i, end);
      i = end - 1;
      this.#fieldStarted = true;
    }
    return records;
  }

  /** Ends the input: the last record when the text does not end with a line break. */
  end(): CsvRecord[] {
    if (this.#quoted) throw new CsvFormatError(this.#file, this.#recordLine, 'unterminated quoted field');
    const last = this.#endRecord();
    return last === undefined ? [] : [last];
  }

  #endRecord(): CsvRecord | undefined {
    this.#fields.push(this.#field);
    const record =
      this.#fieldStarted || this.#fields.length > 1
        ? { line: this.#recordLine, fields: this.#fields }
        : undefined;
    this.#fields = [];
    this.#field = '';
    this.#afterQuote = false;
    this.#fieldStarted = false;
    return record;
  }
}

/** Parses CSV text arriving in chunks, record by record. */
export async function* parseCsv(chunks: AsyncIterable<string>, file: string): AsyncGenerator<CsvRecord> {
  const parser = new CsvParser(file);
  for await (const chunk of chunks) yield* parser.push(chunk);
  yield* parser.end();
}

/** Parses a whole CSV text at once. */
export function parseCsvText(text: string, file = 'CSV text'): CsvRecord[] {
  const parser = new CsvParser(file);
  return [...parser.push(text), ...parser.end()];
}

/** Reads a CSV file record by record (UTF-8; chunks of 1 MiB). */
export function readCsvFile(path: string): AsyncGenerator<CsvRecord> {
  return parseCsv(createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), path);
}

/** Header names compared loosely: case-insensitive, spaces, hyphens and underscores equal. */
export function normalizeName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, '_');
}
