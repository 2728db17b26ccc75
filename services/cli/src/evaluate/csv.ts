/**
 * A streaming RFC 4180 reader for the files `cxr evaluate` reads (export CSVs, label files): quoted
 * fields may hold commas, doubled quotes and line breaks; records end with CRLF or LF. Each record
 * carries the physical line it starts on, so errors can name a line without quoting its content.
 */
import { createReadStream } from 'node:fs';

export interface CsvRecord {
  /** 1-based physical line the record starts on (the header is line 1). */
  readonly line: number;
  readonly fields: readonly string[];
}

/** A CSV file that cannot be read as RFC 4180: names the file and the line, never the content. */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
  constructor(file: string, line: number, reason: string) {
    super(`${file}: line ${line}: ${reason}`);
  }
}

// Characters that end a run of plain text, outside and inside quotes.
const UNQUOTED_SPECIAL = /[",\r\n]/g;
const QUOTED_SPECIAL = /["\r\n]/g;

/** Index of the next special character at or after `from`, or the chunk length. */
function nextSpecial(pattern: RegExp, chunk: string, from: number): number {
  pattern.lastIndex = from;
  return pattern.exec(chunk)?.index ?? chunk.length;
}

/**
 * Parses CSV text arriving in chunks. Blank lines between records are skipped; a UTF-8 BOM at the
 * start is dropped (spreadsheet programs write one).
 */
export async function* parseCsv(chunks: AsyncIterable<string>, file: string): AsyncGenerator<CsvRecord> {
  let fields: string[] = [];
  let field = '';
  let quoted = false; // inside a quoted field
  let afterQuote = false; // a quoted field just closed: only a separator or a line end may follow
  let fieldStarted = false; // the record has content (so a blank line yields no record)
  let line = 1;
  let recordLine = 1;
  let pendingCr = false; // a record ended on CR: skip the LF of a CRLF
  let crInQuotes = false; // the last character of a quoted field was CR
  let first = true;

  const endRecord = (): CsvRecord | undefined => {
    fields.push(field);
    const record = fieldStarted || fields.length > 1 ? { line: recordLine, fields } : undefined;
    fields = [];
    field = '';
    afterQuote = false;
    fieldStarted = false;
    return record;
  };

  for await (let chunk of chunks) {
    if (first) {
      if (chunk.startsWith('\uFEFF')) chunk = chunk.slice(1);
      first = false;
    }
    const records: CsvRecord[] = [];
    for (let i = 0; i < chunk.length; i += 1) {
      const c = chunk.charAt(i);
      if (pendingCr) {
        pendingCr = false;
        if (c === '\n') continue;
      }
      if (quoted) {
        if (c === '"') {
          crInQuotes = false;
          if (i + 1 < chunk.length) {
            if (chunk[i + 1] === '"') {
              field += '"';
              i += 1;
            } else {
              quoted = false;
              afterQuote = true;
            }
          } else {
            // The chunk ends on a quote: decide with the next chunk's first character.
            quoted = false;
            afterQuote = true;
          }
        } else if (c === '\n' || c === '\r') {
          // A line break inside a field: CRLF counts one line, even when a chunk ends between them.
          if (!(c === '\n' && crInQuotes)) line += 1;
          crInQuotes = c === '\r';
          field += c;
        } else {
          crInQuotes = false;
          // A run of plain characters at once: slicing beats appending one character at a time.
          const end = nextSpecial(QUOTED_SPECIAL, chunk, i);
          field += chunk.slice(i, end);
          i = end - 1;
        }
        continue;
      }
      if (c === '"') {
        if (afterQuote) {
          // `""` split across chunks: an escaped quote inside the field.
          field += '"';
          quoted = true;
          afterQuote = false;
          continue;
        }
        if (field.length > 0) throw new CsvFormatError(file, line, 'quote inside an unquoted field');
        quoted = true;
        fieldStarted = true;
        continue;
      }
      if (c === ',') {
        fields.push(field);
        field = '';
        afterQuote = false;
        fieldStarted = true;
        continue;
      }
      if (c === '\n' || c === '\r') {
        const record = endRecord();
        if (record !== undefined) records.push(record);
        line += 1;
        recordLine = line;
        if (c === '\r') pendingCr = true;
        continue;
      }
      if (afterQuote) throw new CsvFormatError(file, line, 'text after a closing quote');
      const end = nextSpecial(UNQUOTED_SPECIAL, chunk, i);
      field += chunk.slice(i, end);
      i = end - 1;
      fieldStarted = true;
    }
    yield* records;
  }
  if (quoted) throw new CsvFormatError(file, recordLine, 'unterminated quoted field');
  const last = endRecord();
  if (last !== undefined) yield last;
}

/** Reads a CSV file record by record. */
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
