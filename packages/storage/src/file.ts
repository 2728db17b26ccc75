/**
 * Local directory adapter: `file:///abs/dir`, walked recursively one directory at a time.
 * Order is plain code-unit order of the path relative to the root, so a cursor (the last
 * relative path) resumes by skipping every path <= it, pruning whole directories on the way.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError, isTransientError } from './classify.js';
import { ObjectFetchError, ObjectListError, ObjectSourceConfigError } from './errors.js';
import type { ListOptions, ObjectEntry, ObjectSource } from './types.js';

/** Converts a `file://` URI to an absolute path; throws ObjectSourceConfigError otherwise. */
export function filePathFromUri(uri: string): string {
  if (!uri.startsWith('file://')) throw new ObjectSourceConfigError(`not a file:// URI: ${uri}`);
  try {
    return fileURLToPath(uri);
  } catch (error) {
    throw new ObjectSourceConfigError(`invalid file:// URI: ${uri}`, { cause: error });
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Reads a local file whole, classifying failures (ENOENT, EACCES, EISDIR are permanent). */
export async function fetchFileObject(uri: string): Promise<Uint8Array> {
  const path = filePathFromUri(uri);
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    throw new ObjectFetchError(uri, isTransientError(error), describeError(error), { cause: error });
  }
}

interface DirEntryKey {
  readonly name: string;
  readonly isDirectory: boolean;
  /** Sort key: directories as `name/` so that walk order equals full-path order. */
  readonly sortKey: string;
}

/** Lists regular files under a directory; symlinks and special files are skipped (no cycles). */
export class FileObjectSource implements ObjectSource {
  private readonly root: string;

  constructor(readonly uri: string) {
    this.root = filePathFromUri(uri);
  }

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    yield* this.walk('', options.cursor);
  }

  /** `relDir` is '' for the root or 'a/b/' (always with a trailing slash). */
  private async *walk(relDir: string, cursor: string | undefined): AsyncGenerator<ObjectEntry> {
    const absDir = join(this.root, relDir);
    let dirents;
    try {
      dirents = await readdir(absDir, { withFileTypes: true });
    } catch (error) {
      throw new ObjectListError(
        this.uri,
        isTransientError(error),
        `${describeError(error)} reading ${relDir || '.'}`,
        {
          cause: error,
        },
      );
    }
    const children: DirEntryKey[] = [];
    for (const dirent of dirents) {
      if (dirent.isDirectory()) {
        children.push({ name: dirent.name, isDirectory: true, sortKey: `${relDir}${dirent.name}/` });
      } else if (dirent.isFile()) {
        children.push({ name: dirent.name, isDirectory: false, sortKey: `${relDir}${dirent.name}` });
      }
    }
    children.sort((a, b) => compare(a.sortKey, b.sortKey));
    for (const child of children) {
      if (child.isDirectory) {
        if (cursor !== undefined && !cursor.startsWith(child.sortKey) && child.sortKey < cursor) {
          continue; // every path under this directory sorts before the cursor
        }
        yield* this.walk(child.sortKey, cursor);
        continue;
      }
      if (cursor !== undefined && child.sortKey <= cursor) continue;
      const absPath = join(absDir, child.name);
      let info;
      try {
        info = await stat(absPath);
      } catch (error) {
        // Deleted between readdir and stat: not an object any more.
        if ((error as { code?: unknown }).code === 'ENOENT') continue;
        throw new ObjectListError(
          this.uri,
          isTransientError(error),
          `${describeError(error)} reading ${child.sortKey}`,
          {
            cause: error,
          },
        );
      }
      yield {
        uri: pathToFileURL(absPath).href,
        size: info.size,
        lastModified: info.mtime,
        cursor: child.sortKey,
      };
    }
  }

  fetch(uri: string): Promise<Uint8Array> {
    return fetchFileObject(uri);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
