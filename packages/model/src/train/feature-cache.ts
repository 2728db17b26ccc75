import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface FeatureCacheStats {
  hits: number;
  misses: number;
  writes: number;
}

// One path segment: the key names a folder and must not climb out of the cache directory.
const BASE_MODEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isMissing(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * On-disk cache of base-model feature vectors: one little-endian float32 file per image at
 * `dir/<baseModelKey>/<sha256(objectKey)>.f32`. The caller builds objectKey from the object's URI
 * and its version (ETag or size), and baseModelKey from the base model's weights, so a changed
 * image or base model misses instead of returning stale features. Writes go to a temporary file
 * in the same folder and are renamed into place, so a reader (or a second run after a crash)
 * sees either no file or a complete one. Entries whose size is not a multiple of 4 bytes count
 * as misses and are overwritten by the next put.
 */
export class FeatureCache {
  readonly stats: FeatureCacheStats = { hits: 0, misses: 0, writes: 0 };
  private readonly folder: string;

  constructor(dir: string, baseModelKey: string) {
    if (!BASE_MODEL_KEY.test(baseModelKey)) {
      throw new RangeError(
        `FeatureCache: base model key "${baseModelKey}" must be one path segment of [A-Za-z0-9._-]`,
      );
    }
    this.folder = path.join(dir, baseModelKey);
  }

  /** The file holding objectKey's features (whether or not it exists). */
  fileFor(objectKey: string): string {
    return path.join(this.folder, `${createHash('sha256').update(objectKey).digest('hex')}.f32`);
  }

  async get(objectKey: string): Promise<Float32Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.fileFor(objectKey));
    } catch (error) {
      if (!isMissing(error)) throw error;
      this.stats.misses++;
      return undefined;
    }
    if (bytes.byteLength % 4 !== 0) {
      this.stats.misses++;
      return undefined;
    }
    // Copy into an exact-size, aligned buffer: a Buffer may be a view at any byte offset.
    const features = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(features.buffer).set(bytes);
    this.stats.hits++;
    return features;
  }

  async put(objectKey: string, features: Float32Array): Promise<void> {
    const file = this.fileFor(objectKey);
    await mkdir(this.folder, { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temp, new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw new Error(`FeatureCache: cannot write ${file}: ${(error as Error).message}`, { cause: error });
    }
    this.stats.writes++;
  }
}
