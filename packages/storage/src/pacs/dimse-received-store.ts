/**
 * Where the C-STORE SCP writes what it receives (CXR_SCP_STORE_TO): `file:///dir` or
 * `s3://bucket/prefix`. An instance is written DURABLY before the SCP acknowledges it: for a
 * folder, to a temporary file that is renamed into place once written, then the file's data
 * (fdatasync) and its folder (fsync, for the name) are synced together, and put resolves only
 * when both are (so a power cut after the acknowledgement cannot leave an empty or missing file;
 * one before it can leave the name with partial content, which the sender, never acknowledged,
 * replaces by sending the instance again); for S3, a completed PUT. Names come from the SOP
 * Instance UID only (never a patient attribute), checked to be a UID so that a sender cannot
 * choose a path:
 * - `<location>/<SOP Instance UID>.dcm`: pushed instances, screened from this URI;
 * - `<location>/retrieved/<SOP Instance UID>.dcm`: instances a worker asked the PACS to C-MOVE
 *   here; the worker reads and deletes them (see dimse-source.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeError, isTransientError } from '../classify.js';
import { ObjectSourceConfigError, ObjectWriteError } from '../errors.js';
import { fetchFileObject, filePathFromUri } from '../file.js';
import type { ObjectSourceDeps } from '../open.js';
import {
  createS3Client,
  deleteS3Object,
  fetchS3Object,
  formatS3Uri,
  parseS3Uri,
  putS3Object,
  resolveS3Settings,
} from '../s3.js';
import type { FetchOptions } from '../types.js';

/** Which area of the store: pushed instances, or retrieves a worker waits for. */
export type ReceivedArea = 'received' | 'retrieved';

/** Subfolder (or key part) of the retrieved area. */
const RETRIEVED_DIR = 'retrieved';

/** A DICOM UID (PS3.5 9.1): the only thing that may name a stored file. */
const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** Temporary files older than this at start-up were left by a crash mid-write. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Port: the SCP's durable storage. */
export interface ReceivedInstanceStore {
  /** The location URI as configured. */
  readonly location: string;
  /** Start-up: creates the folders, fails now if they cannot be written, removes stale temporary files. */
  prepare(): Promise<void>;
  /**
   * Writes one instance durably under its SOP Instance UID; resolves with its URI once durable.
   * `whenInPlace` runs as soon as the instance is under its name with its whole content written
   * (what every process that opens it reads), beside the last step (the syncs of the file's data
   * and of its folder, which make content and name survive a power cut); put resolves once all
   * are done and rejects if any failed. The SCP enqueues the instance there: a process killed at
   * any point finds the whole file in place for the job it enqueued.
   */
  put(
    sopInstanceUid: string,
    bytes: Uint8Array,
    area: ReceivedArea,
    whenInPlace?: (uri: string) => Promise<void>,
  ): Promise<string>;
  /** The URI an instance has (or will have) in an area. */
  uriOf(sopInstanceUid: string, area: ReceivedArea): string;
  /** Reads a retrieved instance (with the fetch's limits) and deletes it. */
  takeRetrieved(sopInstanceUid: string, options?: FetchOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}

function writeError(uri: string, error: unknown): ObjectWriteError {
  return new ObjectWriteError('write', uri, isTransientError(error), describeError(error), { cause: error });
}

function checkUid(uid: string): string {
  if (uid.length > 64 || !UID.test(uid)) throw new ObjectSourceConfigError('not a valid SOP Instance UID');
  return uid;
}

/**
 * Instances up to this size are written to the page cache with synchronous calls (create, write,
 * rename: well under a millisecond together on a local disk for a few MB) instead of three
 * thread-pool round trips, which under a loaded CPU cost more than the work they carry: the
 * fixed cost of every instance on the path the sender waits for. Larger ones are written off the
 * event loop. The syncs (the slow part: the disk) are always off it.
 */
export const SYNC_WRITE_MAX_BYTES = 4 * 1024 * 1024;

/** A file written under its name, still open for the sync of its data. */
interface WrittenFile {
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** Creates `temporary`, writes `bytes`, renames it to `path`, with synchronous calls. */
function writeInPlaceSync(temporary: string, path: string, bytes: Uint8Array, uri: string): WrittenFile {
  let fd: number;
  try {
    // Created exclusively; kept open for its fdatasync.
    fd = fs.openSync(temporary, 'wx', 0o600);
  } catch (error) {
    throw writeError(uri, error);
  }
  try {
    fs.writeFileSync(fd, bytes);
    // Atomic: a reader sees the old file or the new one; the same instance sent again replaces it.
    fs.renameSync(temporary, path);
  } catch (error) {
    closeQuietly(fd);
    fs.rmSync(temporary, { force: true });
    throw writeError(uri, error);
  }
  return {
    datasync: () =>
      new Promise<void>((done, fail) => {
        fs.fdatasync(fd, (error) => {
          if (error === null) done();
          else fail(error);
        });
      }),
    close: () => {
      closeQuietly(fd);
      return Promise.resolve();
    },
  };
}

/** Closes a descriptor whose data is synced or abandoned: a failure to close loses nothing. */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Nothing left to write back.
  }
}

/** writeInPlaceSync off the event loop, for large instances. */
async function writeInPlace(
  temporary: string,
  path: string,
  bytes: Uint8Array,
  uri: string,
): Promise<WrittenFile> {
  let file: FileHandle;
  try {
    file = await open(temporary, 'wx', 0o600);
  } catch (error) {
    throw writeError(uri, error);
  }
  try {
    await file.writeFile(bytes);
    await rename(temporary, path);
    return file;
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw writeError(uri, error);
  }
}

/** Opens the store at a `file://` or `s3://` location; anything else is an ObjectSourceConfigError. */
export function openReceivedInstanceStore(location: string, deps: ObjectSourceDeps): ReceivedInstanceStore {
  if (location.startsWith('file://')) return new FileReceivedStore(location);
  if (location.startsWith('s3://')) {
    const settings = resolveS3Settings(deps.env, deps.s3);
    return new S3ReceivedStore(location, createS3Client(settings), settings.fetchTimeoutMs ?? 120_000);
  }
  throw new ObjectSourceConfigError('CXR_SCP_STORE_TO must be a file:// or s3:// URI');
}

/** Received instances as files; see the module comment for the durability steps. */
class FileReceivedStore implements ReceivedInstanceStore {
  readonly #root: string;
  /**
   * The two folders, opened once for their fsyncs (an open and a close per instance cost two
   * more thread-pool round trips on the path every acknowledgement waits for).
   */
  readonly #folders = new Map<ReceivedArea, Promise<FileHandle>>();

  constructor(readonly location: string) {
    this.#root = resolve(filePathFromUri(location));
  }

  async prepare(): Promise<void> {
    for (const dir of [this.#dirOf('received'), this.#dirOf('retrieved')]) {
      try {
        // 0700: patient data, for the service user only.
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await this.#removeStaleTemporaries(dir);
      } catch (error) {
        throw new ObjectWriteError(
          'write',
          this.location,
          false,
          `SCP storage unusable: ${describeError(error)}`,
          {
            cause: error,
          },
        );
      }
    }
  }

  #pathOf(uid: string, area: ReceivedArea): string {
    return join(this.#dirOf(area), `${checkUid(uid)}.dcm`);
  }

  uriOf(uid: string, area: ReceivedArea): string {
    return pathToFileURL(this.#pathOf(uid, area)).href;
  }

  async put(
    uid: string,
    bytes: Uint8Array,
    area: ReceivedArea,
    whenInPlace?: (uri: string) => Promise<void>,
  ): Promise<string> {
    const path = this.#pathOf(uid, area);
    const uri = pathToFileURL(path).href;
    const dir = this.#dirOf(area);
    // Hidden and random: a listing of the folder never sees a half-written instance.
    const temporary = join(dir, `.${uid}.${randomBytes(6).toString('hex')}.tmp`);
    const file =
      bytes.byteLength <= SYNC_WRITE_MAX_BYTES
        ? writeInPlaceSync(temporary, path, bytes, uri)
        : await writeInPlace(temporary, path, bytes, uri);
    try {
      // The whole content is under its name now (what any process reads); the content's and the
      // name's syncs run together (one journal commit where the file system batches them, as
      // ext4 does, instead of two in a row) and the hook beside them.
      const [dataSynced, nameSynced, hook] = await Promise.allSettled([
        file.datasync(),
        this.#folder(area).then((folder) => folder.sync()),
        whenInPlace?.(uri),
      ]);
      if (dataSynced.status === 'rejected') throw writeError(uri, dataSynced.reason);
      if (nameSynced.status === 'rejected') throw writeError(uri, nameSynced.reason);
      if (hook.status === 'rejected') throw hook.reason;
      return uri;
    } finally {
      // Synced (or failed): closing writes nothing back.
      await file.close().catch(() => undefined);
    }
  }

  async takeRetrieved(uid: string, options?: FetchOptions): Promise<Uint8Array> {
    const uri = this.uriOf(uid, 'retrieved');
    const bytes = await fetchFileObject(uri, options);
    await unlink(this.#pathOf(uid, 'retrieved')).catch(() => undefined);
    return bytes;
  }

  async close(): Promise<void> {
    const folders = [...this.#folders.values()];
    this.#folders.clear();
    for (const folder of folders) await (await folder.catch(() => undefined))?.close();
  }

  #dirOf(area: ReceivedArea): string {
    return area === 'received' ? this.#root : join(this.#root, RETRIEVED_DIR);
  }

  /** The folder's handle, opened at its first use (a failed open is retried at the next). */
  #folder(area: ReceivedArea): Promise<FileHandle> {
    let folder = this.#folders.get(area);
    if (folder === undefined) {
      folder = open(this.#dirOf(area), 'r');
      this.#folders.set(area, folder);
      void folder.catch(() => this.#folders.delete(area));
    }
    return folder;
  }

  async #removeStaleTemporaries(dir: string): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(dir)) {
      if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > STALE_TEMP_MS) await unlink(path).catch(() => undefined);
    }
  }
}

/** Received instances as S3 objects under one prefix; a completed PUT is the durability. */
class S3ReceivedStore implements ReceivedInstanceStore {
  readonly #bucket: string;
  /** Key prefix, '' or ending in '/'. */
  readonly #prefix: string;

  constructor(
    readonly location: string,
    private readonly client: S3Client,
    private readonly fetchTimeoutMs: number,
  ) {
    const { bucket, key } = parseS3Uri(location);
    this.#bucket = bucket;
    this.#prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  }

  prepare(): Promise<void> {
    // Permissions show at the first put, which answers the sender a failure status.
    return Promise.resolve();
  }

  uriOf(uid: string, area: ReceivedArea): string {
    const name = `${checkUid(uid)}.dcm`;
    return formatS3Uri(
      this.#bucket,
      `${this.#prefix}${area === 'received' ? '' : `${RETRIEVED_DIR}/`}${name}`,
    );
  }

  async put(
    uid: string,
    bytes: Uint8Array,
    area: ReceivedArea,
    whenInPlace?: (uri: string) => Promise<void>,
  ): Promise<string> {
    const uri = this.uriOf(uid, area);
    await putS3Object(this.client, uri, bytes, 'application/dicom');
    await whenInPlace?.(uri);
    return uri;
  }

  async takeRetrieved(uid: string, options?: FetchOptions): Promise<Uint8Array> {
    const uri = this.uriOf(uid, 'retrieved');
    const bytes = await fetchS3Object(this.client, uri, this.fetchTimeoutMs, options);
    await deleteS3Object(this.client, uri).catch(() => undefined);
    return bytes;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
