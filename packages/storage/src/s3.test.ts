import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectFetchError, ObjectListError, ObjectSourceConfigError, ObjectTooLargeError } from './errors.js';
import { openObjectSource } from './open.js';
import { S3ObjectSource, createS3Client, resolveS3Settings } from './s3.js';
import {
  createTestS3Client,
  seedBucket,
  startFaultProxy,
  startS3rver,
  type FaultProxy,
  type RunningS3rver,
} from './testing/index.js';
import type { ObjectEntry, ObjectSource } from './types.js';

const BUCKET = 'cxr-test';
const STUDY_KEYS = Array.from({ length: 230 }, (_, i) => `studies/${String(i).padStart(4, '0')}.dcm`);
const OTHER_KEYS = ['other/a.dcm', 'other/b.dcm', 'studiesX.dcm'];
const BIG_KEY = 'big/object.bin';
const BIG = new Uint8Array(randomBytes(300_000));

let server: RunningS3rver;
let seedClient: S3Client;

async function collect(iterable: AsyncIterable<ObjectEntry>, limit = Infinity): Promise<ObjectEntry[]> {
  const out: ObjectEntry[] = [];
  for await (const entry of iterable) {
    out.push(entry);
    if (out.length >= limit) break;
  }
  return out;
}

function sourceVia(
  endpoint: string,
  uri: string,
  extra: Parameters<typeof resolveS3Settings>[1] = {},
): S3ObjectSource {
  const settings = resolveS3Settings(server.env, { endpoint, ...extra });
  return new S3ObjectSource(uri, createS3Client(settings), settings, true);
}

beforeAll(async () => {
  server = await startS3rver();
  seedClient = createTestS3Client(server.endpoint);
  const objects: [string, Uint8Array][] = [...STUDY_KEYS, ...OTHER_KEYS].map((key) => [
    key,
    new TextEncoder().encode(`body of ${key}`),
  ]);
  objects.push([BIG_KEY, BIG]);
  await seedBucket(seedClient, BUCKET, objects);
});

afterAll(async () => {
  seedClient.destroy();
  await server.stop();
});

describe('S3ObjectSource listing', () => {
  it('pages through ListObjectsV2, filters by prefix and keeps key order', async () => {
    const proxy = await startFaultProxy(server.endpoint);
    const source = sourceVia(proxy.endpoint, `s3://${BUCKET}/studies/`, { pageSize: 50 });
    try {
      const entries = await collect(source.list());
      expect(entries.map((e) => e.uri)).toEqual(STUDY_KEYS.map((k) => `s3://${BUCKET}/${k}`));
      // 230 keys at 50 per page: five requests prove the continuation token was followed.
      expect(proxy.requestCount).toBe(5);
      const first = entries[0]!;
      expect(first.size).toBe(new TextEncoder().encode(`body of ${STUDY_KEYS[0]!}`).byteLength);
      expect(first.etag).toMatch(/^[0-9a-f]{32}$/); // unquoted MD5 for single-part uploads
      expect(first.lastModified).toBeInstanceOf(Date);
    } finally {
      await source.close();
      await proxy.close();
    }
  });

  it('a prefix without a trailing slash matches key prefixes literally', async () => {
    const source = openObjectSource(`s3://${BUCKET}/studies`, { env: server.env, s3: { pageSize: 100 } });
    try {
      const uris = (await collect(source.list())).map((e) => e.uri);
      expect(uris).toHaveLength(STUDY_KEYS.length + 1);
      expect(uris.at(-1)).toBe(`s3://${BUCKET}/studiesX.dcm`);
    } finally {
      await source.close();
    }
  });

  it('lists a whole bucket from s3://bucket', async () => {
    const source = openObjectSource(`s3://${BUCKET}`, { env: server.env });
    try {
      const entries = await collect(source.list());
      expect(entries).toHaveLength(STUDY_KEYS.length + OTHER_KEYS.length + 1);
    } finally {
      await source.close();
    }
  });

  it('resumes right after a cursor across page boundaries, nothing repeated or missing', async () => {
    const source = openObjectSource(`s3://${BUCKET}/studies/`, { env: server.env, s3: { pageSize: 40 } });
    try {
      const firstRun = await collect(source.list(), 97); // interrupted mid-page
      const resumed = await collect(source.list({ cursor: firstRun.at(-1)!.cursor }));
      const all = [...firstRun, ...resumed].map((e) => e.uri);
      expect(all).toEqual(STUDY_KEYS.map((k) => `s3://${BUCKET}/${k}`));
      expect(resumed[0]!.uri).toBe(`s3://${BUCKET}/${STUDY_KEYS[97]!}`);
      const atEnd = await collect(source.list({ cursor: resumed.at(-1)!.cursor }));
      expect(atEnd).toEqual([]);
    } finally {
      await source.close();
    }
  });

  it('a missing bucket is a permanent list error', async () => {
    const source = openObjectSource('s3://no-such-bucket/x/', { env: server.env, s3: { maxAttempts: 1 } });
    try {
      const error: unknown = await collect(source.list()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectListError);
      expect((error as ObjectListError).transient).toBe(false);
      expect((error as ObjectListError).message).toContain('s3://no-such-bucket/x/');
    } finally {
      await source.close();
    }
  });
});

describe('S3ObjectSource fetch', () => {
  it('returns the exact bytes of an object', async () => {
    const source = openObjectSource(`s3://${BUCKET}/big/`, { env: server.env });
    try {
      const bytes = await source.fetch(`s3://${BUCKET}/${BIG_KEY}`);
      expect(bytes.byteLength).toBe(BIG.byteLength);
      expect(Buffer.from(bytes).equals(Buffer.from(BIG))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('a missing key is permanent, names the URI and keeps the cause', async () => {
    const source = openObjectSource(`s3://${BUCKET}/`, { env: server.env });
    try {
      const uri = `s3://${BUCKET}/studies/missing.dcm`;
      const error: unknown = await source.fetch(uri).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectFetchError);
      const fetchError = error as ObjectFetchError;
      expect(fetchError.transient).toBe(false);
      expect(fetchError.operation).toBe('fetch');
      expect(fetchError.message).toContain(uri);
      expect(fetchError.message).toContain('NoSuchKey');
      expect(fetchError.cause).toBeInstanceOf(Error);
    } finally {
      await source.close();
    }
  });
});

describe('S3 fetch limits (audit finding 3)', () => {
  const uri = `s3://${BUCKET}/${BIG_KEY}`;

  it('refuses an object above maxBytes from its Content-Length, before reading the body', async () => {
    const source = openObjectSource(`s3://${BUCKET}/`, { env: server.env });
    const calls: string[] = [];
    try {
      const error: unknown = await source
        .fetch(uri, {
          maxBytes: BIG.byteLength - 1,
          head: { bytes: 132, check: () => calls.push('head') },
          beforeRead: () => {
            calls.push('beforeRead');
            return Promise.resolve();
          },
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectTooLargeError);
      expect(error).toMatchObject({ size: BIG.byteLength, maxBytes: BIG.byteLength - 1, transient: false });
      expect(calls).toEqual([]);
      // The cancelled download leaves the client usable.
      expect((await source.fetch(uri, { maxBytes: BIG.byteLength })).byteLength).toBe(BIG.byteLength);
    } finally {
      await source.close();
    }
  });

  it('hands the head to the check as it arrives and rethrows its refusal unchanged', async () => {
    const source = openObjectSource(`s3://${BUCKET}/`, { env: server.env });
    const refusal = new Error('not DICOM');
    const sizes: number[] = [];
    try {
      const error: unknown = await source
        .fetch(uri, {
          head: {
            bytes: 132,
            check: (head) => {
              expect(Buffer.from(head).equals(Buffer.from(BIG.subarray(0, 132)))).toBe(true);
              throw refusal;
            },
          },
          beforeRead: (size) => {
            sizes.push(size);
            return Promise.resolve();
          },
        })
        .catch((e: unknown) => e);
      expect(error).toBe(refusal);
      expect(sizes).toEqual([BIG.byteLength]);
      const heads: number[] = [];
      const bytes = await source.fetch(uri, {
        head: { bytes: 132, check: (head) => heads.push(head.length) },
      });
      expect(heads).toEqual([132]);
      expect(Buffer.from(bytes).equals(Buffer.from(BIG))).toBe(true);
      expect(bytes.buffer.byteLength).toBe(BIG.byteLength); // one exact buffer, transferable
    } finally {
      await source.close();
    }
  });
});

describe('S3 transient faults through a fault-injecting proxy', () => {
  let proxy: FaultProxy;
  let source: ObjectSource;
  const uri = `s3://${BUCKET}/${STUDY_KEYS[3]!}`;

  beforeAll(async () => {
    proxy = await startFaultProxy(server.endpoint);
    source = sourceVia(proxy.endpoint, `s3://${BUCKET}/`, { maxAttempts: 1, requestTimeoutMs: 300 });
  });
  afterAll(async () => {
    await source.close();
    await proxy.close();
  });

  it.each(['status-503', 'reset', 'hang'] as const)('%s is classified transient', async (kind) => {
    proxy.failNext(1, kind);
    const error: unknown = await source.fetch(uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectFetchError);
    expect((error as ObjectFetchError).transient).toBe(true);
    expect((error as ObjectFetchError).message).toContain(uri);
    // The next request goes through: the fault was the proxy's, not the object's.
    expect(new TextDecoder().decode(await source.fetch(uri))).toBe(`body of ${STUDY_KEYS[3]!}`);
  });

  it('a 503 during listing is a transient list error', async () => {
    proxy.failNext(1, 'status-503');
    const error: unknown = await collect(source.list()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectListError);
    expect((error as ObjectListError).transient).toBe(true);
  });

  it('the SDK retries a 503 when maxAttempts allows it', async () => {
    const retrying = sourceVia(proxy.endpoint, `s3://${BUCKET}/`, { maxAttempts: 3 });
    try {
      proxy.failNext(2, 'status-503');
      const before = proxy.requestCount;
      expect(new TextDecoder().decode(await retrying.fetch(uri))).toBe(`body of ${STUDY_KEYS[3]!}`);
      expect(proxy.requestCount - before).toBe(3);
    } finally {
      await retrying.close();
    }
  });

  it('a refused connection is transient', async () => {
    const closed = await startFaultProxy(server.endpoint);
    const endpoint = closed.endpoint;
    await closed.close(); // nothing listens on this port any more
    const refused = sourceVia(endpoint, `s3://${BUCKET}/`, { maxAttempts: 1 });
    try {
      const error: unknown = await refused.fetch(uri).catch((e: unknown) => e);
      expect((error as ObjectFetchError).transient).toBe(true);
    } finally {
      await refused.close();
    }
  });
});

describe('manifest of s3:// URIs', () => {
  it('fetches listed objects through the S3 client built from env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-manifest-s3-'));
    try {
      const path = join(dir, 'list.jsonl');
      await writeFile(path, `{"uri":"s3://${BUCKET}/${BIG_KEY}"}\n`);
      const source = openObjectSource(`manifest:${path}`, { env: server.env });
      try {
        const [entry] = await collect(source.list());
        const bytes = await source.fetch(entry!.uri);
        expect(Buffer.from(bytes).equals(Buffer.from(BIG))).toBe(true);
      } finally {
        await source.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('resolveS3Settings', () => {
  it('reads the standard AWS variables from the injected env', () => {
    const settings = resolveS3Settings({
      AWS_ENDPOINT_URL: 'http://generic:9000',
      AWS_ENDPOINT_URL_S3: 'http://minio:9000',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
      AWS_MAX_ATTEMPTS: '5',
    });
    expect(settings).toMatchObject({
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      sessionToken: 'token',
      maxAttempts: 5,
    });
  });

  it('explicit options override the env; AWS without endpoint is virtual-hosted', () => {
    expect(resolveS3Settings({ AWS_REGION: 'us-west-2' }).forcePathStyle).toBe(false);
    expect(resolveS3Settings({ AWS_REGION: 'us-west-2' }, { region: 'ap-south-1' }).region).toBe(
      'ap-south-1',
    );
    expect(
      resolveS3Settings({ AWS_ENDPOINT_URL: 'http://x', AWS_S3_FORCE_PATH_STYLE: 'false' }).forcePathStyle,
    ).toBe(false);
    expect(resolveS3Settings({}).region).toBe('us-east-1');
  });

  it('rejects half-set credentials and malformed numbers, naming the variable', () => {
    expect(() => resolveS3Settings({ AWS_ACCESS_KEY_ID: 'id' })).toThrow(ObjectSourceConfigError);
    expect(() => resolveS3Settings({ AWS_MAX_ATTEMPTS: 'three' })).toThrow(/AWS_MAX_ATTEMPTS/);
  });
});
