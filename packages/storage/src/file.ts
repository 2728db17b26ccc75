/**
 * Local directory adapter: `file:///abs/dir`, walked recursively one directory at a time.
 * Order is plain code-unit order of the path relative to the root, so a cursor (the last
 * relative path) resumes by skipping every path <= it, pruning whole directories on the way.
 *
 * Every entry under the root is either listed or reported to `onSkip` with a reason:
 * - regular files are listed whatever bytes their names hold: a path that is not UTF-8 gets a URI
 *   with its bytes percent-encoded, which `fetchFileObject` reads back exactly;
 * - symbolic links are not listed. One that stays inside the root leads to an object the walk
 *   lists under its own path (so it is reached once, not twice); one that leaves the root would
 *   screen what the operator did not ask for; one to an enclosing folder is a loop;
 * - FIFOs, sockets and devices are `not_regular_file`; folders and files that cannot be read for
 *   a permanent reason (permissions) are `unreadable`, and the walk goes on without them.
 * Transient faults (EIO-like network file system errors) still fail the listing, to be retried.
 */
import { constants, type Dirent, type Stats } from 'node:fs';
import { open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants as bufferConstants, isUtf8 } from 'node:buffer';
import { describeError, isTransientError } from './classify.js';
import { ObjectFetchError, ObjectListError, ObjectSourceConfigError, ObjectTooLargeError } from './errors.js';
import type {
  FetchOptions,
  ListOptions,
  ObjectEntry,
  ObjectSource,
  SkippedEntry,
  SourceSkipReason,
} from './types.js';

/** Converts a `file://` URI to an absolute path; throws ObjectSourceConfigError otherwise. */
export function filePathFromUri(uri: string): string {
  if (!uri.startsWith('file://')) throw new ObjectSourceConfigError(`not a file:// URI: ${uri}`);
  try {
    return fileURLToPath(uri);
  } catch (error) {
    throw new ObjectSourceConfigError(`invalid file:// URI: ${uri}`, { cause: error });
  }
}

/**
 * The path a `file://` URI names, as node:fs takes it: a string, or the exact bytes when the
 * percent-encoded path is not UTF-8 (which fileURLToPath refuses as a malformed URI).
 */
export function fileSystemPathFromUri(uri: string): string | Buffer {
  if (!uri.startsWith('file://')) throw new ObjectSourceConfigError(`not a file:// URI: ${uri}`);
  try {
    return fileURLToPath(uri);
  } catch (error) {
    if (!(error instanceof URIError)) {
      throw new ObjectSourceConfigError(`invalid file:// URI: ${uri}`, { cause: error });
    }
  }
  // The same rules fileURLToPath applies on POSIX: no host but localhost, no encoded slash.
  const url = new URL(uri);
  if ((url.hostname !== '' && url.hostname !== 'localhost') || /%2f/i.test(url.pathname)) {
    throw new ObjectSourceConfigError(`invalid file:// URI: ${uri}`);
  }
  const { pathname } = url;
  const bytes: number[] = [];
  for (let i = 0; i < pathname.length; i++) {
    const escape = pathname.slice(i + 1, i + 3);
    if (pathname[i] === '%' && /^[0-9a-fA-F]{2}$/.test(escape)) {
      bytes.push(Number.parseInt(escape, 16));
      i += 2;
    } else {
      bytes.push(pathname.charCodeAt(i)); // a serialised URL path is ASCII
    }
  }
  return Buffer.from(bytes);
}

/** Bytes a URI path carries as they are (RFC 3986 unreserved, plus the path separator). */
function isUriSafeByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e || // ~
    byte === 0x2f // /
  );
}

/**
 * The `file://` URI of an absolute path given as bytes: pathToFileURL's for UTF-8 paths (so URIs,
 * job ids and stored rows stay what they always were), else every other byte percent-encoded.
 */
export function fileUriFromPath(path: Buffer): string {
  if (isUtf8(path)) return pathToFileURL(path.toString('utf8')).href;
  let uri = 'file://';
  for (const byte of path) {
    uri += isUriSafeByte(byte)
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return uri;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The largest buffer node can allocate: a larger file cannot be read whole at all. */
const MAX_BUFFER_BYTES = bufferConstants.MAX_LENGTH;

/** Bytes per read call: well under the 2 GiB - 1 a single node:fs read accepts. */
const READ_CHUNK_BYTES = 1024 * 1024 * 1024;

/**
 * A buffer of exactly `size` bytes that owns its whole ArrayBuffer (so it can be transferred to a
 * decode thread), not zero-filled: fresh zeroed pages cost a page fault each where reused heap
 * memory does not. Measured on a 12 MB object from s3rver: zero-filled, the fetch took about 25%
 * longer than the SDK's own transformToByteArray; unfilled, the two are level (32 against 31 ms,
 * median of 40). Callers return only the bytes they wrote.
 */
export function uninitializedBytes(size: number): Uint8Array {
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Reads a local file whole, classifying failures (ENOENT, EACCES, EISDIR are permanent). With
 * `options`, the size is checked from fstat before anything is read, and the head check sees the
 * first bytes before the rest is read.
 */
export async function fetchFileObject(uri: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const path = fileSystemPathFromUri(uri);
  const failed = (error: unknown): ObjectFetchError =>
    new ObjectFetchError(uri, isTransientError(error), describeError(error), { cause: error });
  let handle: FileHandle | undefined;
  try {
    try {
      // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever.
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      throw failed(error);
    }
    let size: number;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ObjectFetchError(uri, false, 'not a regular file');
      size = info.size;
    } catch (error) {
      throw error instanceof ObjectFetchError ? error : failed(error);
    }
    if (options.maxBytes !== undefined && size > options.maxBytes) {
      throw new ObjectTooLargeError(uri, size, options.maxBytes);
    }
    if (size > MAX_BUFFER_BYTES) {
      throw new ObjectFetchError(uri, false, `object of ${size} bytes is larger than one buffer can hold`);
    }
    let read = 0;
    const readInto = async (target: Uint8Array, until: number): Promise<void> => {
      try {
        while (read < until) {
          // One read call takes at most 2 GiB - 1 bytes (node asserts on more): read in chunks.
          const length = Math.min(until - read, READ_CHUNK_BYTES);
          const { bytesRead } = await handle!.read(target, read, length, read);
          if (bytesRead === 0) return; // the file shrank since fstat: the parser reports what is missing
          read += bytesRead;
        }
      } catch (error) {
        throw failed(error);
      }
    };
    let head: Uint8Array | undefined;
    if (options.head !== undefined) {
      head = new Uint8Array(Math.min(size, options.head.bytes));
      await readInto(head, head.length);
      options.head.check(head.subarray(0, read));
    }
    await options.beforeRead?.(size);
    // One exact-size buffer: a view of it owns its whole ArrayBuffer, so it can be transferred.
    const bytes = uninitializedBytes(size);
    if (head !== undefined) bytes.set(head.subarray(0, read));
    await readInto(bytes, size);
    return read === size ? bytes : bytes.subarray(0, read);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The node:fs calls the walk makes (tests replace them, e.g. to deny access while running as root). */
export interface FileSystemPort {
  readdir(path: Buffer): Promise<Dirent<Buffer>[]>;
  stat(path: Buffer): Promise<Stats>;
  realpath(path: Buffer): Promise<Buffer>;
}

const nodeFileSystem: FileSystemPort = {
  readdir: (path) => readdir(path, { encoding: 'buffer', withFileTypes: true }),
  stat: (path) => stat(path),
  realpath: (path) => realpath(path, { encoding: 'buffer' }),
};

const SLASH = Buffer.from('/');

/** `dir/name` as bytes; `dir` may end in a slash (the root as given). */
function childPath(dir: Buffer, name: Buffer): Buffer {
  return dir.at(-1) === SLASH[0] ? Buffer.concat([dir, name]) : Buffer.concat([dir, SLASH, name]);
}

/** Whether `path` is `dir` or lies under it (both real paths, as bytes). */
function isWithin(path: Buffer, dir: Buffer): boolean {
  if (path.equals(dir)) return true;
  const prefix = dir.at(-1) === SLASH[0] ? dir : Buffer.concat([dir, SLASH]);
  return path.length > prefix.length && path.subarray(0, prefix.length).equals(prefix);
}

/**
 * A name's place in the walk order and in cursors: the name itself when it is UTF-8; otherwise
 * its lossy text (so it sorts near similar names) plus NUL and its bytes in hex, which no UTF-8
 * name can contain (file names hold no NUL), so distinct names never share a key.
 */
function sortKeyOf(name: Buffer): string {
  const text = name.toString('utf8');
  return isUtf8(name) ? text : `${text}\u0000${name.toString('hex')}`;
}

interface DirEntryKey {
  readonly name: Buffer;
  readonly kind: 'directory' | 'file' | 'link' | 'other';
  /** Sort key: directories as `key/` so that walk order equals full-path order. */
  readonly sortKey: string;
}

/** A directory of the walk: the walk follows no link, so its real path is the root's plus `rel`. */
interface WalkDir {
  readonly abs: Buffer;
  readonly real: Buffer;
  /** '' for the root or 'a/b/' (always with a trailing slash). */
  readonly rel: string;
}

export interface FileObjectSourceOptions {
  /** Replaces node:fs for the walk (tests). */
  readonly fs?: FileSystemPort;
}

/** Lists regular files under a directory; links, special files and unreadable entries are reported as skipped. */
export class FileObjectSource implements ObjectSource {
  private readonly root: Buffer;
  private readonly fs: FileSystemPort;

  constructor(
    readonly uri: string,
    options: FileObjectSourceOptions = {},
  ) {
    const path = fileSystemPathFromUri(uri);
    this.root = typeof path === 'string' ? Buffer.from(normalize(path)) : path;
    this.fs = options.fs ?? nodeFileSystem;
  }

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    let real: Buffer;
    try {
      real = await this.fs.realpath(this.root);
    } catch (error) {
      throw this.rootError(error);
    }
    yield* this.walk({ abs: this.root, real, rel: '' }, real, options);
  }

  /** The error for a root that cannot be listed: a missing folder names the path as given. */
  private rootError(error: unknown): Error {
    const code = errnoOf(error);
    const path = this.root.toString('utf8');
    if (code === 'ENOENT')
      return new ObjectSourceConfigError(`source folder not found: ${path}`, { cause: error });
    if (code === 'ENOTDIR')
      return new ObjectSourceConfigError(`source is not a folder: ${path}`, { cause: error });
    return new ObjectListError(
      this.uri,
      isTransientError(error),
      `${describeError(error)} reading the source folder`,
      {
        cause: error,
      },
    );
  }

  private async *walk(dir: WalkDir, rootReal: Buffer, options: ListOptions): AsyncGenerator<ObjectEntry> {
    const { cursor, onSkip } = options;
    const skip = (reason: SourceSkipReason, path: Buffer): void => {
      const skipped: SkippedEntry = { reason, uri: fileUriFromPath(path) };
      onSkip?.(skipped);
    };
    let dirents: Dirent<Buffer>[];
    try {
      dirents = await this.fs.readdir(dir.abs);
    } catch (error) {
      if (dir.rel === '') throw this.rootError(error);
      const code = errnoOf(error);
      if (code === 'ENOENT') return; // removed while the walk was under way: nothing left to list
      if (isTransientError(error)) {
        throw new ObjectListError(this.uri, true, `${describeError(error)} reading a folder`, {
          cause: error,
        });
      }
      skip('unreadable', dir.abs);
      return;
    }
    const children: DirEntryKey[] = [];
    for (const dirent of dirents) {
      const key = sortKeyOf(dirent.name);
      if (dirent.isDirectory()) {
        children.push({ name: dirent.name, kind: 'directory', sortKey: `${dir.rel}${key}/` });
      } else {
        const kind = dirent.isFile() ? 'file' : dirent.isSymbolicLink() ? 'link' : 'other';
        children.push({ name: dirent.name, kind, sortKey: `${dir.rel}${key}` });
      }
    }
    children.sort((a, b) => compare(a.sortKey, b.sortKey));
    for (const child of children) {
      const absPath = childPath(dir.abs, child.name);
      if (child.kind === 'directory') {
        if (cursor !== undefined && !cursor.startsWith(child.sortKey) && child.sortKey < cursor) {
          continue; // every path under this directory sorts before the cursor
        }
        yield* this.walk(
          { abs: absPath, real: childPath(dir.real, child.name), rel: child.sortKey },
          rootReal,
          options,
        );
        continue;
      }
      if (cursor !== undefined && child.sortKey <= cursor) continue;
      if (child.kind === 'link') {
        skip(await this.linkSkipReason(absPath, dir.real, rootReal), absPath);
        continue;
      }
      if (child.kind === 'other') {
        skip('not_regular_file', absPath);
        continue;
      }
      let info: Stats;
      try {
        info = await this.fs.stat(absPath);
      } catch (error) {
        // Deleted between readdir and stat: not an object any more.
        if (errnoOf(error) === 'ENOENT') continue;
        if (isTransientError(error)) {
          throw new ObjectListError(this.uri, true, `${describeError(error)} reading a file's size`, {
            cause: error,
          });
        }
        skip('unreadable', absPath);
        continue;
      }
      yield {
        uri: fileUriFromPath(absPath),
        size: info.size,
        lastModified: info.mtime,
        cursor: child.sortKey,
      };
    }
  }

  /** Why a symbolic link is not listed. */
  private async linkSkipReason(
    link: Buffer,
    parentReal: Buffer,
    rootReal: Buffer,
  ): Promise<SourceSkipReason> {
    let target: Buffer;
    try {
      target = await this.fs.realpath(link);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ELOOP') return 'symlink_loop';
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'broken_link';
      if (isTransientError(error)) {
        throw new ObjectListError(this.uri, true, `${describeError(error)} resolving a link`, {
          cause: error,
        });
      }
      return 'unreadable';
    }
    if (!isWithin(target, rootReal)) return 'link_outside_root';
    // A link to the folder it sits in, or to one above it, would walk the same folders forever.
    if (isWithin(parentReal, target)) return 'symlink_loop';
    return 'link_inside_root';
  }

  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
    return fetchFileObject(uri, options);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
