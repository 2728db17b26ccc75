/**
 * The disk cache of rendered thumbnails: one PNG per key (a hash: no patient data in file names)
 * in a private folder (0700, files 0600: the images are of patients), bounded in total bytes, the
 * least recently used evicted first. Recency is kept in memory and in the files' mtimes, so a
 * restart keeps the order. Writes go to a temporary name and are renamed, so a reader never sees
 * half a file; a cache that fails to read or write is a miss, never an error for the page.
 */
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';

/** File name of a cached thumbnail: its key (hex) and `.png`. */
const ENTRY = /^([0-9a-f]{16,128})\.png$/;

interface Entry {
  bytes: number;
  usedAt: number;
}

export interface ThumbnailCacheOptions {
  readonly dir: string;
  /** Total bytes of cached files at most. */
  readonly maxBytes: number;
  readonly log?: Logger;
}

/** A size-bounded LRU cache of PNG files in one folder. */
export class ThumbnailCache {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #log: Logger;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  #totalBytes = 0;
  #opened: Promise<boolean> | undefined;
  #sequence = 0;

  constructor(options: ThumbnailCacheOptions) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#log = options.log ?? silentLogger;
  }

  /** Bytes of the cached files. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Cached entries. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Creates the folder and indexes what an earlier run left (oldest mtime = least recently used).
   * False when the folder cannot be used: the cache then misses and stores nothing (one warning).
   */
  open(): Promise<boolean> {
    this.#opened ??= this.#open().then(
      () => true,
      (error: unknown) => {
        this.#log(
          'warn',
          'thumbnail cache unavailable: thumbnails are rendered every time',
          errorSummary(error),
        );
        return false;
      },
    );
    return this.#opened;
  }

  async #open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const found: [string, Entry][] = [];
    for (const name of await readdir(this.#dir)) {
      const path = join(this.#dir, name);
      const match = ENTRY.exec(name);
      if (match?.[1] === undefined) {
        // A temporary file of a write that never finished.
        if (name.endsWith('.tmp')) await rm(path, { force: true });
        continue;
      }
      try {
        const info = await stat(path);
        if (info.isFile()) found.push([match[1], { bytes: info.size, usedAt: info.mtimeMs }]);
      } catch {
        // Removed meanwhile: nothing to index.
      }
    }
    found.sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [key, entry] of found) {
      this.#entries.set(key, entry);
      this.#totalBytes += entry.bytes;
    }
    await this.#evict();
  }

  /** The cached PNG of `key`, or undefined; a hit becomes the most recently used. */
  async get(key: string): Promise<Buffer | undefined> {
    if (!(await this.open())) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#path(key));
    } catch {
      this.#forget(key);
      return undefined;
    }
    const now = Date.now();
    this.#entries.delete(key);
    this.#entries.set(key, { ...entry, usedAt: now });
    // The mtime keeps the recency across restarts; a failure only costs that.
    utimes(this.#path(key), now / 1000, now / 1000).catch(() => undefined);
    return bytes;
  }

  /** Stores `bytes` under `key`, then evicts the least recently used entries over the bound. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    if (!/^[0-9a-f]{16,128}$/.test(key)) throw new Error('thumbnail cache keys are hex digests');
    if (!(await this.open())) return;
    if (bytes.byteLength > this.#maxBytes) return;
    const temporary = join(this.#dir, `${key}.${process.pid}.${this.#sequence++}.tmp`);
    try {
      await writeFile(temporary, bytes, { mode: 0o600 });
      await rename(temporary, this.#path(key));
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      this.#log('warn', 'thumbnail cache write failed', errorSummary(error));
      return;
    }
    this.#forget(key);
    this.#entries.set(key, { bytes: bytes.byteLength, usedAt: Date.now() });
    this.#totalBytes += bytes.byteLength;
    await this.#evict();
  }

  #path(key: string): string {
    return join(this.#dir, `${key}.png`);
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#totalBytes -= entry.bytes;
  }

  async #evict(): Promise<void> {
    while (this.#totalBytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) return;
      const key = oldest.value;
      this.#forget(key);
      await rm(this.#path(key), { force: true }).catch((error: unknown) => {
        this.#log('warn', 'thumbnail cache eviction failed', errorSummary(error));
      });
    }
  }
}
