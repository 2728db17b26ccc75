/**
 * The upload area of `POST /v1/predict`: where the results service parks an uploaded DICOM file
 * until the worker has screened it. A location URI chosen by configuration (CXR_UPLOAD_URL):
 * `file:///dir` (a folder both processes reach: one machine, or a volume the pods share) or
 * `s3://bucket/prefix`. The job carries the object's URI and the worker fetches it like any
 * archive object. Not Redis: its append-only file and snapshots kept every upload, patient name
 * included, long after the key was deleted.
 *
 * Object names are random (`<uuid>.dcm`, no patient data), and `delete` and `sweep` touch only
 * names of that shape inside the area, so a location shared with other files loses nothing else.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeError, isTransientError } from './classify.js';
import { ObjectSourceConfigError, ObjectWriteError } from './errors.js';
import { filePathFromUri } from './file.js';
import type { ObjectSourceDeps } from './open.js';
import {
  S3ObjectSource,
  createS3Client,
  deleteS3Object,
  formatS3Uri,
  parseS3Uri,
  putS3Object,
  resolveS3Settings,
} from './s3.js';

/** Name of one upload: a random UUID, so nothing about the file or the patient. */
const UPLOAD_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.dcm$/;

/** Port: the upload area, whatever the location. */
export interface UploadArea {
  /** The location URI as configured. */
  readonly location: string;
  /** Start-up check: creates a missing folder and fails now, not at the first upload, if it cannot be written. */
  prepare(): Promise<void>;
  /** Stores the bytes under a new random name; returns the object's URI (what the job carries). */
  put(bytes: Uint8Array): Promise<string>;
  /** Deletes one upload; a missing one is no error. Throws ObjectSourceConfigError for a URI outside the area. */
  delete(uri: string): Promise<void>;
  /** Deletes the uploads last modified before `olderThan` (left behind by a crash); returns how many. */
  sweep(olderThan: Date): Promise<number>;
  /** URIs of the uploads present (tests, diagnostics). */
  list(): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens the upload area at a `file://` or `s3://` location; throws ObjectSourceConfigError for any other. */
export function openUploadArea(location: string, deps: ObjectSourceDeps): UploadArea {
  if (location.startsWith('file://')) return new FileUploadArea(location);
  if (location.startsWith('s3://')) {
    const settings = resolveS3Settings(deps.env, deps.s3);
    return new S3UploadArea(location, createS3Client(settings));
  }
  throw new ObjectSourceConfigError('upload location must be a file:// or s3:// URI');
}

function uploadName(): string {
  return `${randomUUID()}.dcm`;
}

/** Uploads as files in one folder, readable by their owner only. */
class FileUploadArea implements UploadArea {
  readonly #dir: string;

  constructor(readonly location: string) {
    this.#dir = resolve(filePathFromUri(location));
  }

  async prepare(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await access(this.#dir, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw new ObjectWriteError(
        'write',
        this.location,
        false,
        `upload folder unusable: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  async put(bytes: Uint8Array): Promise<string> {
    const path = join(this.#dir, uploadName());
    const uri = pathToFileURL(path).href;
    try {
      // `wx`: never overwrite; 0600: patient data, for the service user only.
      await writeFile(path, bytes, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      // A partly written file would otherwise wait for the sweep (EEXIST: not ours to remove).
      if ((error as { code?: unknown }).code !== 'EEXIST') await unlink(path).catch(() => undefined);
      throw new ObjectWriteError('write', uri, isTransientError(error), describeError(error), {
        cause: error,
      });
    }
    return uri;
  }

  async delete(uri: string): Promise<void> {
    const path = this.#pathOf(uri);
    try {
      await unlink(path);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return;
      throw new ObjectWriteError('delete', uri, isTransientError(error), describeError(error), {
        cause: error,
      });
    }
  }

  async sweep(olderThan: Date): Promise<number> {
    let deleted = 0;
    for (const name of await this.#names()) {
      const path = join(this.#dir, name);
      try {
        if ((await stat(path)).mtime >= olderThan) continue;
        await unlink(path);
        deleted += 1;
      } catch (error) {
        // Deleted meanwhile by its request (or another replica's sweep).
        if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
      }
    }
    return deleted;
  }

  async list(): Promise<string[]> {
    return (await this.#names()).map((name) => pathToFileURL(join(this.#dir, name)).href);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #names(): Promise<string[]> {
    const entries = await readdir(this.#dir, { withFileTypes: true });
    return entries.filter((entry) => entry.isFile() && UPLOAD_NAME.test(entry.name)).map((e) => e.name);
  }

  #pathOf(uri: string): string {
    let path: string;
    try {
      path = filePathFromUri(uri);
    } catch {
      throw new ObjectSourceConfigError(`not an upload of ${this.location}: ${uri}`);
    }
    if (dirname(path) !== this.#dir || !UPLOAD_NAME.test(basename(path))) {
      throw new ObjectSourceConfigError(`not an upload of ${this.location}: ${uri}`);
    }
    return path;
  }
}

/**
 * Uploads as objects under one S3 prefix. Pair the prefix with a lifecycle rule that expires
 * objects after a day: the sweep runs only while a results service does.
 */
class S3UploadArea implements UploadArea {
  readonly #bucket: string;
  /** Key prefix, '' or ending in '/'. */
  readonly #prefix: string;

  constructor(
    readonly location: string,
    private readonly client: S3Client,
  ) {
    const { bucket, key } = parseS3Uri(location);
    this.#bucket = bucket;
    this.#prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  }

  prepare(): Promise<void> {
    // Permissions show at the first put; a probe object would need a delete permission check too.
    return Promise.resolve();
  }

  async put(bytes: Uint8Array): Promise<string> {
    const uri = formatS3Uri(this.#bucket, `${this.#prefix}${uploadName()}`);
    await putS3Object(this.client, uri, bytes, 'application/dicom');
    return uri;
  }

  async delete(uri: string): Promise<void> {
    if (!this.#owns(uri)) throw new ObjectSourceConfigError(`not an upload of ${this.location}: ${uri}`);
    await deleteS3Object(this.client, uri);
  }

  async sweep(olderThan: Date): Promise<number> {
    let deleted = 0;
    for await (const entry of this.#source().list()) {
      if (!this.#owns(entry.uri) || entry.lastModified === undefined || entry.lastModified >= olderThan)
        continue;
      await deleteS3Object(this.client, entry.uri);
      deleted += 1;
    }
    return deleted;
  }

  async list(): Promise<string[]> {
    const uris: string[] = [];
    for await (const entry of this.#source().list()) if (this.#owns(entry.uri)) uris.push(entry.uri);
    return uris;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  #source(): S3ObjectSource {
    return new S3ObjectSource(formatS3Uri(this.#bucket, this.#prefix), this.client);
  }

  /** Directly under the prefix, with an upload's name. */
  #owns(uri: string): boolean {
    const prefix = formatS3Uri(this.#bucket, this.#prefix);
    return uri.startsWith(prefix) && UPLOAD_NAME.test(uri.slice(prefix.length));
  }
}
