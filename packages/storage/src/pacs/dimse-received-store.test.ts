import fs from 'node:fs';
import { mkdtemp, open, readFile, readdir, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fetchS3Object } from '../s3.js';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from '../testing/s3rver.js';
import {
  SYNC_WRITE_MAX_BYTES,
  openReceivedInstanceStore,
  type ReceivedInstanceStore,
} from './dimse-received-store.js';

describe('file received-instance store', () => {
  let dir: string;
  let store: ReceivedInstanceStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-received-'));
    store = openReceivedInstanceStore(pathToFileURL(dir).href, { env: {} });
    await store.prepare();
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs whenInPlace once the whole file is under its name, and resolves only after it', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    let seen: Buffer | undefined;
    let hookDone = false;
    const uri = await store.put('1.2.3.4', bytes, 'received', async (given) => {
      seen = await readFile(new URL(given));
      await new Promise((resolve) => setTimeout(resolve, 50));
      hookDone = true;
    });
    expect(uri).toBe(pathToFileURL(join(dir, '1.2.3.4.dcm')).href);
    expect(seen?.equals(bytes)).toBe(true);
    expect(hookDone).toBe(true);
    // No temporary file is left beside it.
    expect((await readdir(dir)).sort()).toEqual(['1.2.3.4.dcm', 'retrieved']);
  });

  /** FileHandle's prototype (the class is not exported), to hold its syncs back. */
  async function fileHandlePrototype(): Promise<Pick<FileHandle, 'datasync' | 'sync'>> {
    const probe = await open(dir, 'r');
    await probe.close();
    return Object.getPrototypeOf(probe) as Pick<FileHandle, 'datasync' | 'sync'>;
  }

  it.each([
    ['small (written with synchronous calls)', 200_000],
    ['large (written off the event loop)', SYNC_WRITE_MAX_BYTES + 1],
  ])(
    "%s: resolves only once both the file's data and its folder are synced, the hook running beside them",
    async (_, size) => {
      const proto = await fileHandlePrototype();
      const { sync } = proto;
      const held: Record<'datasync' | 'sync', (() => void)[]> = { datasync: [], sync: [] };
      const wait = (kind: 'datasync' | 'sync'): Promise<void> =>
        new Promise<void>((release) => held[kind].push(release));
      // The file's data: fdatasync on its descriptor (small) or its handle's datasync (large).
      const fdatasync = fs.fdatasync;
      vi.spyOn(fs, 'fdatasync').mockImplementation((fd, callback) => {
        void wait('datasync').then(() => {
          fdatasync(fd, callback);
        });
      });
      const datasync = proto.datasync;
      vi.spyOn(proto, 'datasync').mockImplementation(function (this: FileHandle) {
        return wait('datasync').then(() => datasync.call(this));
      });
      // The folder's: its handle's sync.
      vi.spyOn(proto, 'sync').mockImplementation(function (this: FileHandle) {
        return wait('sync').then(() => sync.call(this));
      });
      try {
        const bytes = new Uint8Array(size).map((_, i) => (i * 13) % 256);
        let seen: Buffer | undefined;
        let resolved = false;
        const put = store.put('1.2.3.6', bytes, 'received', async (given) => {
          seen = await readFile(new URL(given));
        });
        void put.then(() => (resolved = true));
        await vi.waitFor(() => {
          expect(held.datasync).toHaveLength(1);
          expect(held.sync).toHaveLength(1);
          expect(seen?.equals(bytes)).toBe(true);
        });
        await new Promise((pause) => setTimeout(pause, 30));
        expect(resolved).toBe(false);
        held.datasync[0]?.();
        await new Promise((pause) => setTimeout(pause, 30));
        // The content is synced but its name is not yet: still no answer.
        expect(resolved).toBe(false);
        held.sync[0]?.();
        expect(await put).toBe(pathToFileURL(join(dir, '1.2.3.6.dcm')).href);
        expect((await readdir(dir)).sort()).toEqual(['1.2.3.6.dcm', 'retrieved']);
      } finally {
        vi.restoreAllMocks();
      }
    },
  );

  it('rejects, naming the file, when the data sync fails', async () => {
    vi.spyOn(fs, 'fdatasync').mockImplementation((_fd, callback) => {
      callback(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    });
    try {
      await expect(store.put('1.2.3.7', new Uint8Array([4, 5, 6]), 'received')).rejects.toThrow(
        '1.2.3.7.dcm',
      );
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("rejects with the hook's error (the SCP then answers a failure), the file staying in place", async () => {
    const failure = new Error('queue down');
    await expect(
      store.put('1.2.3.5', new Uint8Array([1, 2, 3]), 'received', () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    expect(await readFile(join(dir, '1.2.3.5.dcm'))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('refuses a name that is not a UID before writing anything', async () => {
    await expect(store.put('../etc/passwd', new Uint8Array([1]), 'received')).rejects.toThrow(
      'not a valid SOP Instance UID',
    );
    expect(await readdir(dir)).toEqual(['retrieved']);
  });
});

describe('s3 received-instance store (s3rver)', () => {
  let server: RunningS3rver;
  let store: ReceivedInstanceStore;
  const client = (): ReturnType<typeof createTestS3Client> => createTestS3Client(server.endpoint);
  beforeAll(async () => {
    server = await startS3rver();
    const seed = client();
    await seedBucket(seed, 'pacs-in', []);
    seed.destroy();
    store = openReceivedInstanceStore('s3://pacs-in/scp', { env: server.env });
    await store.prepare();
  });
  afterAll(async () => {
    await store.close();
    await server.stop();
  });

  it('runs whenInPlace once the PUT completed: the object is readable under its UID key', async () => {
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    const reader = client();
    let seen: Uint8Array | undefined;
    const uri = await store.put('1.2.840.9.1', bytes, 'received', async (given) => {
      seen = await fetchS3Object(reader, given, 10_000);
    });
    reader.destroy();
    expect(uri).toBe('s3://pacs-in/scp/1.2.840.9.1.dcm');
    expect(seen).toEqual(bytes);
  });

  it('retrieved instances are read once and removed', async () => {
    await store.put('1.2.840.9.2', new Uint8Array([9, 8, 7]), 'retrieved');
    expect(store.uriOf('1.2.840.9.2', 'retrieved')).toBe('s3://pacs-in/scp/retrieved/1.2.840.9.2.dcm');
    expect(await store.takeRetrieved('1.2.840.9.2')).toEqual(new Uint8Array([9, 8, 7]));
    await expect(store.takeRetrieved('1.2.840.9.2')).rejects.toThrow();
  });
});
