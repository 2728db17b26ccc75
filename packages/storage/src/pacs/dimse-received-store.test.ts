import { mkdtemp, open, readFile, readdir, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fetchS3Object } from '../s3.js';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from '../testing/s3rver.js';
import { openReceivedInstanceStore, type ReceivedInstanceStore } from './dimse-received-store.js';

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

  it("resolves only once both the file's data and its folder are synced, the hook running beside them", async () => {
    const proto = await fileHandlePrototype();
    const { datasync, sync } = proto;
    const held: Record<'datasync' | 'sync', (() => void)[]> = { datasync: [], sync: [] };
    const hold = (kind: 'datasync' | 'sync', original: () => Promise<void>) =>
      function (this: FileHandle): Promise<void> {
        return new Promise<void>((release) => held[kind].push(release)).then(() => original.call(this));
      };
    vi.spyOn(proto, 'datasync').mockImplementation(hold('datasync', datasync));
    vi.spyOn(proto, 'sync').mockImplementation(hold('sync', sync));
    try {
      const bytes = new Uint8Array(200_000).map((_, i) => (i * 13) % 256);
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
      await new Promise((wait) => setTimeout(wait, 30));
      expect(resolved).toBe(false);
      held.datasync[0]?.();
      await new Promise((wait) => setTimeout(wait, 30));
      // The content is synced but its name is not yet: still no answer.
      expect(resolved).toBe(false);
      held.sync[0]?.();
      expect(await put).toBe(pathToFileURL(join(dir, '1.2.3.6.dcm')).href);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('rejects, naming the file, when the data sync fails', async () => {
    const proto = await fileHandlePrototype();
    vi.spyOn(proto, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    try {
      await expect(store.put('1.2.3.7', new Uint8Array([4, 5, 6]), 'received')).rejects.toThrow('1.2.3.7.dcm');
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
