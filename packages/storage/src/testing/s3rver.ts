/**
 * Test helper: runs s3rver (an S3 API server on disk) in a child process on a random loopback
 * port. A child process rather than in-process because ListObjectsV2 paging needs
 * `--openssl-legacy-provider` on Node 20 (s3rver's continuation token uses DES).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, type Env } from '../s3.js';

/** s3rver's fixed credentials. */
export const S3RVER_ACCESS_KEY = 'S3RVER';

export interface RunningS3rver {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /** The AWS environment a config module would pass for this server. */
  readonly env: Env;
  /** Stops the server (SIGTERM, then SIGKILL) and deletes its directory. */
  stop(): Promise<void>;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts s3rver on 127.0.0.1 with a fresh temp directory; resolves once it listens. */
export async function startS3rver(options: { startTimeoutMs?: number } = {}): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'cxr-s3rver-'));
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', bin, '-d', directory, '-a', '127.0.0.1', '-p', '0', '--silent'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // If the test process dies without afterAll, do not leave the server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        reject(new Error(`s3rver did not start within ${options.startTimeoutMs ?? 15_000} ms: ${stderr}`));
      }, options.startTimeoutMs ?? 15_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        const match = /listening on [^\s:]+:(\d+)/.exec(stdout);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with code ${String(code)}: ${stderr}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    return {
      endpoint,
      port,
      directory,
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: S3RVER_ACCESS_KEY,
      },
      async stop() {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 5_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
        process.removeListener('exit', killOnExit);
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    process.removeListener('exit', killOnExit);
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

/** A client for seeding test data (maxAttempts 1 so a broken server fails fast). */
export function createTestS3Client(endpoint: string): S3Client {
  return createS3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: S3RVER_ACCESS_KEY,
    secretAccessKey: S3RVER_ACCESS_KEY,
    maxAttempts: 1,
  });
}

/** Creates a bucket and uploads `objects` (key -> bytes) with bounded concurrency. */
export async function seedBucket(
  client: S3Client,
  bucket: string,
  objects: Iterable<readonly [string, Uint8Array]>,
  concurrency = 8,
): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const queue = [...objects];
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < queue.length) {
      const item = queue[next++];
      if (item === undefined) break;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: item[0], Body: item[1] }));
    }
  });
  await Promise.all(workers);
}
