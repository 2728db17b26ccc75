/**
 * A streaming multipart/related parser (RFC 2046 5.1, RFC 2387) for WADO-RS answers: chunks go
 * in as they arrive, part headers and body bytes come out, without ever holding the whole answer
 * or copying a chunk to search it. Pure.
 *
 * Tolerances, because PACS write multipart by hand: the first boundary may open the body or
 * follow a preamble; a delimiter line may end in LF instead of CRLF and carry trailing spaces;
 * headers may end lines in LF; the final `--` may be missing when the body ends right after a
 * delimiter. What cannot be read is a MultipartFormatError: `truncated` when the body ended
 * inside a part (a cut connection: worth another try), not when there was no part at all.
 *
 * A part that declares its Content-Length (Orthanc's do) is passed on for that many bytes without
 * searching them for the boundary (the search cost a third of a megabyte per millisecond); the
 * delimiter is then looked for as usual, so a part longer than it declared runs on as body bytes
 * (for the handler to refuse) and one shorter takes in the delimiter (and the body ends inside it).
 */

/** Why a multipart body cannot be read; `truncated`: it ended inside a part. */
export class MultipartFormatError extends Error {
  override readonly name = 'MultipartFormatError';
  constructor(
    message: string,
    readonly truncated: boolean,
  ) {
    super(message);
  }
}

/** What the parser reports, in order: begin, data..., end, per part. */
export interface MultipartHandler {
  /** A part starts; header names are lower case. */
  onPartBegin(headers: ReadonlyMap<string, string>): void;
  /** Body bytes of the current part: a view that is valid only during the call (copy to keep). */
  onPartData(bytes: Uint8Array): void;
  onPartEnd(): void;
}

/** A media type and its parameters (names lower case, quotes removed), e.g. from Content-Type. */
export interface MediaType {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Parses `type/subtype; name=value; name="quoted; value"` (RFC 9110 8.3.1); the type in lower case. */
export function parseMediaType(header: string): MediaType {
  const params = new Map<string, string>();
  const semicolon = header.indexOf(';');
  const type = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  const param = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const match of header.slice(Math.max(semicolon, 0)).matchAll(param)) {
    const name = match[1]?.toLowerCase();
    if (name === undefined || params.has(name)) continue;
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '').trim();
    params.set(name, value);
  }
  return { type, params };
}

/** Longest part header block accepted: real ones are a few hundred bytes. */
const MAX_HEADER_BYTES = 16 * 1024;
/** Longest delimiter line (boundary, `--`, transport padding) accepted. */
const MAX_DELIMITER_LINE = 1024;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

type State = 'preamble' | 'delimiter-line' | 'headers' | 'body' | 'epilogue';

/** Push parser: `write` every chunk, then `end`. Handler errors propagate out of `write`. */
export class MultipartParser {
  readonly #handler: MultipartHandler;
  /** `\n--boundary`: the CR before it is optional (see the file comment) and not part of the body. */
  readonly #delimiter: Buffer;
  #state: State = 'preamble';
  /** Bytes received but not consumed yet (a possible delimiter start, an unfinished header block). */
  #carry: Buffer;
  #parts = 0;
  /** Bytes of the current part still to pass on unsearched (its declared Content-Length). */
  #unsearched = 0;

  constructor(boundary: string, handler: MultipartHandler) {
    // RFC 2046: 1-70 characters; the parser relies only on it being non-empty and one line.
    if (boundary === '' || boundary.length > 200 || /[\r\n]/.test(boundary)) {
      throw new MultipartFormatError('invalid multipart boundary', false);
    }
    this.#handler = handler;
    this.#delimiter = Buffer.from(`\n--${boundary}`, 'latin1');
    // A virtual line break before the body: a first boundary at offset 0 is then found like any other.
    this.#carry = VIRTUAL_LINE_BREAK;
  }

  /** Parts begun so far. */
  get parts(): number {
    return this.#parts;
  }

  /** Whether the closing delimiter (`--boundary--`) was seen. */
  get closed(): boolean {
    return this.#state === 'epilogue';
  }

  write(chunk: Uint8Array): void {
    if (this.#state === 'epilogue' || chunk.byteLength === 0) return;
    const incoming = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let data: Buffer;
    if (this.#carry === VIRTUAL_LINE_BREAK && this.#opensWithBoundary(incoming)) {
      // The usual first chunk: the boundary at offset 0. Skipped here rather than found after the
      // virtual line break, which would copy the whole chunk (up to half a megabyte) to search it.
      this.#state = 'delimiter-line';
      data = incoming.subarray(this.#delimiter.length - 1);
    } else data = this.#carry.length === 0 ? incoming : Buffer.concat([this.#carry, incoming]);
    this.#carry = EMPTY;
    for (;;) {
      const rest = this.#step(data);
      if (rest === undefined) return;
      data = rest;
    }
  }

  /** Whether `data` starts with `--boundary` (the delimiter without its line break). */
  #opensWithBoundary(data: Buffer): boolean {
    const length = this.#delimiter.length - 1;
    return data.length >= length && data.compare(this.#delimiter, 1, this.#delimiter.length, 0, length) === 0;
  }

  /** Checks that the body ended where a multipart body may end. */
  end(): void {
    switch (this.#state) {
      case 'epilogue':
        return;
      case 'delimiter-line':
        // The body ended right after a delimiter without the final `--`: nothing is missing.
        if (this.#carry.every((byte) => byte === 0x20 || byte === 0x09 || byte === CR || byte === LF)) {
          this.#state = 'epilogue';
          return;
        }
        throw new MultipartFormatError('multipart body ended inside a delimiter line', true);
      case 'preamble':
        throw new MultipartFormatError(
          'multipart body holds no boundary (empty, or another boundary)',
          false,
        );
      case 'headers':
        // Nothing after the delimiter's line break: the same as a missing final `--`.
        if (this.#carry.length === 0) {
          this.#state = 'epilogue';
          return;
        }
        throw new MultipartFormatError('multipart body ended inside a part', true);
      case 'body':
        throw new MultipartFormatError('multipart body ended inside a part', true);
    }
  }

  /** Consumes what it can of `data`; returns the unconsumed rest to go on with, or undefined to wait. */
  #step(data: Buffer): Buffer | undefined {
    switch (this.#state) {
      case 'preamble': {
        const at = data.indexOf(this.#delimiter);
        if (at === -1) {
          // Discarded, except what may be the start of a delimiter.
          this.#carry = Buffer.from(data.subarray(Math.max(0, data.length - this.#delimiter.length + 1)));
          return undefined;
        }
        this.#state = 'delimiter-line';
        return data.subarray(at + this.#delimiter.length);
      }
      case 'delimiter-line':
        return this.#delimiterLine(data);
      case 'headers':
        return this.#headers(data);
      case 'body':
        return this.#body(data);
      case 'epilogue':
        return undefined;
    }
  }

  /** After `--boundary`: `--` closes the body; else optional padding and a line break open a part. */
  #delimiterLine(data: Buffer): Buffer | undefined {
    if (data.length >= 2 && data[0] === DASH && data[1] === DASH) {
      this.#state = 'epilogue';
      return undefined;
    }
    const eol = data.indexOf(LF);
    if (eol === -1) {
      const firstDash = data.length === 1 && data[0] === DASH;
      if (data.length > MAX_DELIMITER_LINE || (!firstDash && !isPadding(data, data.length))) {
        throw new MultipartFormatError('malformed multipart delimiter line', false);
      }
      this.#carry = Buffer.from(data);
      return undefined;
    }
    const lineEnd = eol > 0 && data[eol - 1] === CR ? eol - 1 : eol;
    if (!isPadding(data, lineEnd))
      throw new MultipartFormatError('malformed multipart delimiter line', false);
    this.#state = 'headers';
    return data.subarray(eol + 1);
  }

  /** The header block of a part, up to its empty line. */
  #headers(data: Buffer): Buffer | undefined {
    // The block ends at the first empty line; an empty block is an empty line right away.
    let end = -1;
    let bodyStart = -1;
    if (data[0] === LF) [end, bodyStart] = [0, 1];
    else if (data[0] === CR && data[1] === LF) [end, bodyStart] = [0, 2];
    else {
      for (let at = data.indexOf(LF); at !== -1; at = data.indexOf(LF, at + 1)) {
        if (data[at + 1] === LF) {
          [end, bodyStart] = [at + 1, at + 2];
          break;
        }
        if (data[at + 1] === CR && data[at + 2] === LF) {
          [end, bodyStart] = [at + 1, at + 3];
          break;
        }
      }
    }
    if (end === -1) {
      if (data.length > MAX_HEADER_BYTES)
        throw new MultipartFormatError('multipart part headers too long', false);
      // A CR or CR LF at the very end may be the start of the empty line: wait for more.
      this.#carry = Buffer.from(data);
      return undefined;
    }
    const headers = new Map<string, string>();
    const lines = data.subarray(0, end).toString('latin1').split(/\r?\n/);
    let last: string | undefined;
    for (const line of lines) {
      if (line === '') continue;
      if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
        headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) throw new MultipartFormatError('malformed multipart part header', false);
      last = line.slice(0, colon).trim().toLowerCase();
      headers.set(last, line.slice(colon + 1).trim());
    }
    this.#parts += 1;
    this.#state = 'body';
    const declared = headers.get('content-length');
    this.#unsearched = declared !== undefined && /^\d{1,15}$/.test(declared) ? Number(declared) : 0;
    this.#handler.onPartBegin(headers);
    return data.subarray(bodyStart);
  }

  /** Body bytes up to the next delimiter; holds back only what may start one. */
  #body(data: Buffer): Buffer | undefined {
    if (this.#unsearched > 0) {
      const take = Math.min(this.#unsearched, data.length);
      this.#unsearched -= take;
      this.#handler.onPartData(data.subarray(0, take));
      return take < data.length ? data.subarray(take) : undefined;
    }
    const at = data.indexOf(this.#delimiter);
    if (at !== -1) {
      const end = at > 0 && data[at - 1] === CR ? at - 1 : at;
      if (end > 0) this.#handler.onPartData(data.subarray(0, end));
      this.#handler.onPartEnd();
      this.#state = 'delimiter-line';
      return data.subarray(at + this.#delimiter.length);
    }
    const keep = this.#possibleDelimiterStart(data);
    if (keep > 0) this.#handler.onPartData(data.subarray(0, keep));
    if (keep < data.length) this.#carry = Buffer.from(data.subarray(keep));
    return undefined;
  }

  /**
   * Where a delimiter might begin in the last bytes of `data` (a suffix that is a prefix of
   * `\n--boundary`, with the CR before it), or `data.length` when none can: pixel data rarely
   * ends a chunk in a line break followed by dashes, so almost every chunk is passed on whole.
   */
  #possibleDelimiterStart(data: Buffer): number {
    const from = Math.max(0, data.length - this.#delimiter.length + 1);
    for (let at = data.indexOf(LF, from); at !== -1; at = data.indexOf(LF, at + 1)) {
      const tail = data.subarray(at);
      if (this.#delimiter.subarray(0, tail.length).equals(tail)) {
        return at > 0 && data[at - 1] === CR ? at - 1 : at;
      }
    }
    return data.length > 0 && data[data.length - 1] === CR ? data.length - 1 : data.length;
  }
}

const EMPTY = Buffer.alloc(0);
/** The carry a parser starts with (see the constructor); compared by identity. */
const VIRTUAL_LINE_BREAK = Buffer.from('\r\n', 'latin1');

/** Whether `data[0, end)` is transport padding (spaces and tabs) only. */
function isPadding(data: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const byte = data[i];
    if (byte !== 0x20 && byte !== 0x09 && !(byte === CR && i === end - 1)) return false;
  }
  return true;
}
