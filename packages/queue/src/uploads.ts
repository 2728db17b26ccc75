/**
 * Uploaded objects of the synchronous `/v1/predict` path. Job payloads carry URIs only (never
 * pixel data, see payloads.ts), so the results service parks the uploaded bytes in Redis under a
 * `cxr-upload:<uuid>` URI with a TTL, enqueues a job naming that URI, and the worker reads the
 * bytes back through its fetcher. The TTL bounds how long an upload (a whole DICOM file, patient
 * data included) can outlive its request even if nobody deletes it.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createRedisClient } from './connection.js';
import type { QueueLocation } from './screen-queue.js';

/** URI scheme of uploaded objects: `cxr-upload:<uuid>`. */
export const UPLOAD_URI_SCHEME = 'cxr-upload:';

/** BullMQ's default key prefix, used when the location names none (keys sit beside the queues'). */
const DEFAULT_PREFIX = 'bull';

const UPLOAD_URI = /^cxr-upload:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Seconds an upload outlives its request's timeout at most (normally it is deleted at once). */
export const UPLOAD_TTL_MARGIN_SECONDS = 60;

/**
 * TTL of uploads for a given `/v1/predict` timeout: the timeout plus a minute, so an upload
 * outlives its request by at most that even when nobody deletes it (a worker crash).
 */
export function uploadTtlSeconds(predictTimeoutMs: number): number {
  return Math.ceil(predictTimeoutMs / 1000) + UPLOAD_TTL_MARGIN_SECONDS;
}

/** True for a `cxr-upload:` URI (the worker routes those to the UploadStore). */
export function isUploadUri(uri: string): boolean {
  return uri.startsWith(UPLOAD_URI_SCHEME);
}

/** The upload is gone (expired, deleted or never stored) or the URI is malformed: permanent. */
export class UploadNotFoundError extends Error {
  override readonly name = 'UploadNotFoundError';
  readonly code = 'CXR_UPLOAD_NOT_FOUND';

  constructor(readonly uri: string) {
    super(`upload ${uri} not found (expired, deleted or never stored)`);
  }
}

/** Options of `UploadStore`. */
export interface UploadStoreOptions extends QueueLocation {
  /** Seconds an upload lives at most (see `uploadTtlSeconds`). */
  readonly ttlSeconds: number;
}

/** Uploaded bytes in Redis under `<prefix>:cxr-upload:<uuid>`, each with a TTL. */
export class UploadStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;

  constructor(options: UploadStoreOptions) {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new RangeError(`upload TTL must be a positive integer of seconds, got ${options.ttlSeconds}`);
    }
    this.#redis = createRedisClient(options.connection);
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#ttlSeconds = options.ttlSeconds;
  }

  /** Stores the bytes with the TTL and returns their `cxr-upload:<uuid>` URI. */
  async put(bytes: Uint8Array): Promise<string> {
    const uri = `${UPLOAD_URI_SCHEME}${randomUUID()}`;
    try {
      await this.#redis.set(
        this.#key(uri),
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        'EX',
        this.#ttlSeconds,
      );
    } catch (cause) {
      throw new Error(`store of upload ${uri} (${bytes.byteLength} bytes) failed`, { cause });
    }
    return uri;
  }

  /** The bytes of an upload; `UploadNotFoundError` when it expired, was deleted or never existed. */
  async get(uri: string): Promise<Buffer> {
    const bytes = await this.#redis.getBuffer(this.#key(uri));
    if (bytes === null) throw new UploadNotFoundError(uri);
    return bytes;
  }

  /** Deletes an upload; true when it still existed. */
  async delete(uri: string): Promise<boolean> {
    return (await this.#redis.del(this.#key(uri))) > 0;
  }

  /** Seconds an upload has left (-2 when it does not exist); for tests and diagnostics. */
  async ttl(uri: string): Promise<number> {
    return this.#redis.ttl(this.#key(uri));
  }

  /** Uploads currently stored under this prefix (SCAN: for tests and diagnostics, not hot paths). */
  async count(): Promise<number> {
    let cursor = '0';
    let total = 0;
    do {
      const [next, keys] = await this.#redis.scan(
        cursor,
        'MATCH',
        `${this.#prefix}:cxr-upload:*`,
        'COUNT',
        1000,
      );
      cursor = next;
      total += keys.length;
    } while (cursor !== '0');
    return total;
  }

  /** Closes the Redis connection. */
  async close(): Promise<void> {
    await this.#redis.quit();
  }

  #key(uri: string): string {
    const id = UPLOAD_URI.exec(uri)?.[1];
    if (id === undefined) throw new UploadNotFoundError(uri);
    return `${this.#prefix}:cxr-upload:${id}`;
  }
}
