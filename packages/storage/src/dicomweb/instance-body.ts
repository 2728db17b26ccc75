/**
 * One DICOM instance out of a WADO-RS answer body: a multipart/related part (streamed through
 * MultipartParser), or a bare application/dicom or application/octet-stream body from a PACS that
 * answers that way. Size limits apply before the bytes are read (the answer's or the part's
 * Content-Length) and while they arrive; the head check sees the first bytes as soon as they are
 * in. Pure apart from the chunks it is given.
 */
import { ObjectFetchError, ObjectTooLargeError } from '../errors.js';
import { uninitializedBytes } from '../file.js';
import type { FetchOptions } from '../types.js';
import { MultipartFormatError, MultipartParser, parseMediaType, type MultipartHandler } from './multipart.js';

/** What WADO-RS asks for: the instance as stored, never transcoded (PS3.18 8.7.3.5.2). */
export const WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

/**
 * Room the multipart envelope (boundaries, part headers) may take beyond the instance itself when
 * an answer's size is checked against `maxBytes` before reading.
 */
const ENVELOPE_BYTES = 64 * 1024;

/** Part types that carry the instance; others (an HTML error page, JSON) are refused. */
const INSTANCE_TYPES = new Set(['application/dicom', 'application/octet-stream', '']);

/** Carries what `options.head.check` threw, so that it is rethrown unchanged by the fetch. */
export class HeadCheckFailure extends Error {
  override readonly name = 'HeadCheckFailure';
}

/** A media type as a server sent it, reduced to what may appear in a message. */
export function printableType(type: string): string {
  return type.replace(/[^a-z0-9/+.-]/gi, '').slice(0, 60) || 'no Content-Type';
}

/** Collects the first part's bytes under the fetch's limits; later parts are ignored. */
class FirstPartCollector implements MultipartHandler {
  #bytes: Uint8Array = new Uint8Array(0);
  #read = 0;
  #expected: number | undefined;
  #inFirst = false;
  #done = false;
  #headChecked: boolean;
  /** The size to hand to `beforeRead`, once the first part began and until it has been awaited. */
  sizeToReserve: number | undefined;

  constructor(
    private readonly uri: string,
    private readonly options: FetchOptions,
    private readonly answerLength: number | undefined,
  ) {
    this.#headChecked = options.head === undefined;
  }

  get complete(): boolean {
    return this.#done;
  }

  onPartBegin(headers: ReadonlyMap<string, string>): void {
    if (this.#done || this.#inFirst) return;
    const type = parseMediaType(headers.get('content-type') ?? '').type;
    if (!INSTANCE_TYPES.has(type)) {
      throw new ObjectFetchError(
        this.uri,
        false,
        `WADO-RS part is ${printableType(type)}, not application/dicom`,
      );
    }
    const declared = headers.get('content-length');
    if (declared !== undefined) {
      if (!/^\d+$/.test(declared.trim())) {
        throw new ObjectFetchError(this.uri, false, 'WADO-RS part has an invalid Content-Length');
      }
      this.#expected = Number(declared);
    }
    const { maxBytes } = this.options;
    if (maxBytes !== undefined && this.#expected !== undefined && this.#expected > maxBytes) {
      throw new ObjectTooLargeError(this.uri, this.#expected, maxBytes);
    }
    // One allocation in the usual case: the part's own size, else the whole answer's (an upper bound).
    const capacity =
      this.#expected ?? Math.min(this.answerLength ?? 64 * 1024, maxBytes ?? Number.MAX_SAFE_INTEGER);
    this.#bytes = uninitializedBytes(capacity);
    this.#inFirst = true;
    this.sizeToReserve = this.#expected ?? this.answerLength ?? maxBytes ?? 0;
  }

  onPartData(bytes: Uint8Array): void {
    if (!this.#inFirst) return;
    const needed = this.#read + bytes.byteLength;
    if (needed > this.#bytes.length) {
      if (this.#expected !== undefined) {
        throw new ObjectFetchError(this.uri, false, 'WADO-RS part is longer than its Content-Length');
      }
      const limit = this.options.maxBytes ?? Number.MAX_SAFE_INTEGER;
      if (needed > limit) throw new ObjectTooLargeError(this.uri, needed, limit);
      const grown = uninitializedBytes(Math.min(limit, Math.max(needed, this.#bytes.length * 2)));
      grown.set(this.#bytes.subarray(0, this.#read));
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, this.#read);
    this.#read = needed;
    this.#checkHead(false);
  }

  onPartEnd(): void {
    if (!this.#inFirst) return;
    this.#inFirst = false;
    this.#done = true;
    if (this.#expected !== undefined && this.#read !== this.#expected) {
      throw new ObjectFetchError(
        this.uri,
        true,
        `WADO-RS part truncated: ${this.#read} of ${this.#expected} bytes`,
      );
    }
    this.#checkHead(true);
  }

  /** The instance, once its part ended. */
  result(): Uint8Array {
    return this.#read === this.#bytes.length ? this.#bytes : this.#bytes.subarray(0, this.#read);
  }

  #checkHead(final: boolean): void {
    const head = this.options.head;
    if (this.#headChecked || head === undefined) return;
    if (!final && this.#read < head.bytes) return;
    this.#headChecked = true;
    try {
      head.check(this.#bytes.subarray(0, Math.min(this.#read, head.bytes)));
    } catch (error) {
      throw new HeadCheckFailure('head check failed', { cause: error });
    }
  }
}

/**
 * A body whose bytes are pushed to a sink as views valid only during the call; a promise the sink
 * returns holds the next bytes back until it settles (client.ts's `consume`).
 */
export interface PushedBody {
  consume(sink: (bytes: Uint8Array) => void | Promise<void>): Promise<void>;
}

/** Thrown by a sink to stop reading a pushed body early (the rest is not wanted). */
class StopReading extends Error {}

/**
 * Feeds every chunk of `body` to `onChunk` until it returns `'stop'`; a promise it returns is
 * awaited before the next chunk. Pushed bodies are read without copying them.
 */
async function feed(
  body: AsyncIterable<Uint8Array> | PushedBody,
  onChunk: (chunk: Uint8Array) => 'stop' | Promise<void> | undefined,
): Promise<void> {
  if ('consume' in body) {
    try {
      await body.consume((chunk) => {
        const next = onChunk(chunk);
        if (next === 'stop') throw new StopReading();
        return next;
      });
    } catch (error) {
      if (!(error instanceof StopReading)) throw error;
    }
    return;
  }
  for await (const chunk of body) {
    const next = onChunk(chunk);
    if (next === 'stop') return;
    if (next !== undefined) await next;
  }
}

/**
 * Reads the instance from an answer with the given Content-Type and Content-Length. Throws
 * ObjectFetchError (transient when the body was cut short), ObjectTooLargeError, or
 * HeadCheckFailure wrapping what the head check threw.
 */
export async function readInstanceBody(
  uri: string,
  contentType: string | undefined,
  contentLength: number | undefined,
  body: AsyncIterable<Uint8Array> | PushedBody,
  options: FetchOptions = {},
): Promise<Uint8Array> {
  const media = parseMediaType(contentType ?? '');
  const { maxBytes } = options;
  const collector = new FirstPartCollector(uri, options, contentLength);
  if (media.type === 'multipart/related') {
    const boundary = media.params.get('boundary');
    if (boundary === undefined || boundary === '') {
      throw new ObjectFetchError(uri, false, 'WADO-RS multipart answer without a boundary');
    }
    if (maxBytes !== undefined && contentLength !== undefined && contentLength > maxBytes + ENVELOPE_BYTES) {
      throw new ObjectTooLargeError(uri, contentLength, maxBytes);
    }
    let parser: MultipartParser;
    try {
      parser = new MultipartParser(boundary, collector);
    } catch (error) {
      throw new ObjectFetchError(uri, false, `WADO-RS answer: ${(error as Error).message}`, { cause: error });
    }
    try {
      let after = 0;
      await feed(body, (chunk) => {
        if (collector.complete) {
          // Read on to the closing delimiter, so that the connection can serve the next request,
          // but not through more parts than asked for.
          after += chunk.byteLength;
          return after > ENVELOPE_BYTES ? 'stop' : undefined;
        }
        parser.write(chunk);
        return collector.sizeToReserve === undefined ? undefined : reserve(collector, options);
      });
      if (!collector.complete) parser.end();
    } catch (error) {
      if (error instanceof MultipartFormatError) {
        throw new ObjectFetchError(uri, error.truncated, `WADO-RS answer: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    if (parser.parts === 0)
      throw new ObjectFetchError(uri, false, 'WADO-RS answer holds no instance (empty multipart)');
    if (!collector.complete) throw new ObjectFetchError(uri, true, 'WADO-RS answer ended inside its part');
    return collector.result();
  }
  if (media.type === 'application/dicom' || media.type === 'application/octet-stream') {
    // A PACS that answers with the bare instance: the whole body is the part.
    if (maxBytes !== undefined && contentLength !== undefined && contentLength > maxBytes) {
      throw new ObjectTooLargeError(uri, contentLength, maxBytes);
    }
    const headers = new Map([['content-type', media.type]]);
    if (contentLength !== undefined) headers.set('content-length', String(contentLength));
    collector.onPartBegin(headers);
    await reserve(collector, options);
    await feed(body, (chunk) => {
      collector.onPartData(chunk);
      return undefined;
    });
    collector.onPartEnd();
    if (collector.result().byteLength === 0)
      throw new ObjectFetchError(uri, false, 'WADO-RS answer is empty');
    return collector.result();
  }
  throw new ObjectFetchError(
    uri,
    false,
    `WADO-RS answered ${printableType(media.type)}, not multipart/related or application/dicom`,
  );
}

/** Awaits the caller's `beforeRead` once, as soon as the instance's size is known. */
async function reserve(collector: FirstPartCollector, options: FetchOptions): Promise<void> {
  const size = collector.sizeToReserve;
  if (size === undefined) return;
  collector.sizeToReserve = undefined;
  await options.beforeRead?.(size);
}
