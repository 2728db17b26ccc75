/**
 * Worklist thumbnails, rendered on request from the stored object: fetched by URI (file://,
 * s3://), decoded and rendered to display values on a decode pool thread (off the event loop),
 * reduced to at most N pixels a side, PNG-encoded, cached on disk (thumbnail-cache.ts). Nothing
 * is drawn on them: they hold what the image holds. Rendering is bounded: at most `concurrency`
 * at once and `maxQueue` waiting, so a page of 50 thumbnails, or many readers, cannot take the
 * API's event loop or the machine's cores; beyond that a request is told to come back later.
 * A thumbnail that cannot be made is a placeholder with the reason (a fixed phrase), logged with
 * the row key and the URI's hash, never the URI.
 */
import { createHash } from 'node:crypto';
import { isDicomRejectedError } from '@cxr/dicom';
import { errorSummary, silentLogger, uriHash, type Logger } from '@cxr/config/log';
import { DecodePool, encodeThumbnailPng } from '@cxr/imaging';
import { ObjectTooLargeError, type ObjectFetcher } from '@cxr/storage';
import type { ThumbnailCache } from './thumbnail-cache.js';

/** Bump when the rendering changes: it is part of every cache key (and HTTP ETag). */
const RENDER_VERSION = 1;

/** URI schemes thumbnails are fetched from (the object fetcher of @cxr/storage). */
export const FETCHABLE_SCHEMES: ReadonlySet<string> = new Set(['file', 's3']);

/** The stored row a thumbnail is of. */
export interface ThumbnailSource {
  readonly rowKey: string;
  readonly uri: string;
  readonly etag: string | null;
  /** When the row was last written: a re-screened object gets a new thumbnail. */
  readonly updatedAt: string;
}

export type ThumbnailResult =
  | { readonly kind: 'png'; readonly bytes: Buffer; readonly etag: string }
  /** `reason`: a stable code; `message`: a short phrase for people (no data of the object). */
  | { readonly kind: 'unavailable'; readonly reason: string; readonly message: string }
  /** Too many renders waiting: come back later (503). */
  | { readonly kind: 'busy' };

/** Decoded display values of a thumbnail (the `thumbnail` output of @cxr/imaging's decode). */
export interface DecodedThumbnail {
  readonly pixels: Float32Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

/** Renders display values at most `size` a side from an object's bytes (throws DicomRejectedError for bad input). */
export type ThumbnailDecoder = (bytes: Uint8Array, size: number) => Promise<DecodedThumbnail>;

/** A decoder on its own DecodePool, started on first use (a results service whose worklist nobody opens starts no thread). */
export function poolThumbnailDecoder(options: {
  readonly threads: number;
  readonly maxImagePixels: number;
}): { readonly decode: ThumbnailDecoder; close(): Promise<void> } {
  let pool: DecodePool | undefined;
  return {
    decode: async (bytes, size) => {
      // One libvips thread per pool thread: thumbnails must not compete with the API for cores.
      pool ??= new DecodePool({ threads: options.threads, vipsConcurrency: 1, transferInput: true });
      const result = await pool.decode(bytes, {
        output: { thumbnail: { size } },
        maxImagePixels: options.maxImagePixels,
      });
      return { pixels: result.pixels, width: result.width, height: result.height, channels: result.channels };
    },
    close: async () => {
      await pool?.close({ drain: false });
    },
  };
}

export interface ThumbnailServiceOptions {
  readonly fetcher: Pick<ObjectFetcher, 'fetch'>;
  readonly decode: ThumbnailDecoder;
  readonly cache: ThumbnailCache;
  /** Longest side in pixels. */
  readonly size: number;
  /** Renders (fetch, decode, encode) at once at most. */
  readonly concurrency: number;
  /** Renders waiting at most; more are refused as busy. */
  readonly maxQueue: number;
  /** Larger objects are not fetched (CXR_MAX_OBJECT_BYTES). */
  readonly maxObjectBytes: number;
  readonly log?: Logger;
}

/** Why no thumbnail, as a phrase for the page and the placeholder. */
export function unavailableMessage(reason: string): string {
  switch (reason) {
    case 'unsupported_scheme':
      return 'objects of this kind are not fetched here yet';
    case 'object_too_large':
      return 'the object is larger than the size limit';
    case 'fetch_failed':
      return 'the object could not be read';
    case 'render_failed':
      return 'the image could not be rendered';
    default:
      return `the image could not be decoded (${reason})`;
  }
}

/** Thumbnails of stored rows: cached, rendered on demand within a concurrency bound. */
export class ThumbnailService {
  readonly #options: ThumbnailServiceOptions;
  readonly #log: Logger;
  readonly #inflight = new Map<string, Promise<ThumbnailResult>>();
  readonly #waiting: (() => void)[] = [];
  #active = 0;

  constructor(options: ThumbnailServiceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** Renders running now (tests, metrics). */
  get activeCount(): number {
    return this.#active;
  }

  /** The thumbnail's identity: cache file name and HTTP ETag. */
  keyOf(source: ThumbnailSource): string {
    return createHash('sha256')
      .update(
        JSON.stringify([RENDER_VERSION, this.#options.size, source.rowKey, source.etag, source.updatedAt]),
      )
      .digest('hex')
      .slice(0, 40);
  }

  /** The thumbnail of a row: from the cache, else rendered (one render per key at a time). */
  async thumbnail(source: ThumbnailSource): Promise<ThumbnailResult> {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source.uri)?.[1]?.toLowerCase();
    if (scheme === undefined || !FETCHABLE_SCHEMES.has(scheme)) {
      return this.#unavailable(source, 'unsupported_scheme');
    }
    const key = this.keyOf(source);
    const cached = await this.#options.cache.get(key);
    if (cached !== undefined) return { kind: 'png', bytes: cached, etag: key };
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    if (this.#active >= this.#options.concurrency && this.#waiting.length >= this.#options.maxQueue) {
      return { kind: 'busy' };
    }
    const render = this.#whenFree(() => this.#render(source, key)).finally(() => {
      this.#inflight.delete(key);
    });
    this.#inflight.set(key, render);
    return render;
  }

  async #whenFree<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#options.concurrency) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await task();
    } finally {
      // Hand the slot to the next waiter, or free it.
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#active -= 1;
    }
  }

  async #render(source: ThumbnailSource, key: string): Promise<ThumbnailResult> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#options.fetcher.fetch(source.uri, { maxBytes: this.#options.maxObjectBytes });
    } catch (error) {
      return this.#unavailable(
        source,
        error instanceof ObjectTooLargeError ? 'object_too_large' : 'fetch_failed',
        error,
      );
    }
    try {
      const decoded = await this.#options.decode(bytes, this.#options.size);
      const png = await encodeThumbnailPng(decoded.pixels, {
        width: decoded.width,
        height: decoded.height,
        channels: decoded.channels,
      });
      await this.#options.cache.put(key, png);
      return { kind: 'png', bytes: png, etag: key };
    } catch (error) {
      return this.#unavailable(source, isDicomRejectedError(error) ? error.reason : 'render_failed', error);
    }
  }

  #unavailable(source: ThumbnailSource, reason: string, error?: unknown): ThumbnailResult {
    // The error's message may quote the URI: only its class and code are logged.
    this.#log('info', 'thumbnail unavailable', {
      rowKey: source.rowKey,
      uriHash: uriHash(source.uri),
      reason,
      ...(error === undefined ? {} : errorSummary(error)),
    });
    return { kind: 'unavailable', reason, message: unavailableMessage(reason) };
  }
}

/** The placeholder image of a thumbnail that cannot be made: a grey box and the reason phrase. */
export function placeholderSvg(message: string, size: number): string {
  const escaped = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">` +
    `<rect width="100%" height="100%" fill="#d9dde3"/>` +
    `<foreignObject x="8" y="8" width="${size - 16}" height="${size - 16}">` +
    `<p xmlns="http://www.w3.org/1999/xhtml" style="margin:0;font:13px sans-serif;color:#3a4350">No thumbnail: ${escaped}</p>` +
    `</foreignObject></svg>`
  );
}
