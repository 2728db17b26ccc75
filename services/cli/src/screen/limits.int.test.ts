/**
 * `cxr screen` as a real process on a folder of hostile objects (audit findings 2, 3, 4, 13, 15):
 * sparse files of 1 and 3 GiB, a large file of zeros, sparse files whose valid DICOM headers claim
 * huge images, a valid 16384 x 16384 image, 50,000 nested sequences, a name that is not UTF-8
 * and symbolic links, given as a plain folder path. Every object ends as a row with its reason
 * (no retry) or as a logged skip, and the process's peak RSS, read from /proc/PID/status (VmHWM),
 * stays within decode threads x CXR_MAX_OBJECT_BYTES (times two: the fetched bytes and the decode
 * thread's copy) of a run over a single small image.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { imagePixelElements, writeDicom, writeUniformRleImage } from '@cxr/dicom/testing';
import { initSeedModel } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { openStore, type StoredResult } from '@cxr/store';
import { loadFixtureManifest, type DecodeFixture } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ScreenSummary } from './summary.js';

const require = createRequire(import.meta.url);
/** tsx's loader in the same process (the tsx CLI would run the command in a child, out of our sight). */
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const REDIS_URL = 'redis://127.0.0.1:6379';
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const DECODE_THREADS = 1;
const MAX_OBJECT_BYTES = 64 * MIB;
const MAX_IMAGE_PIXELS = 16_000_000;

/** A run whose RSS passes this is killed: a regression fails the test instead of exhausting the machine. */
const RSS_CEILING_BYTES = 2 * GIB;

/** The URI a listed file gets: pathToFileURL's, or its bytes percent-encoded when the path is not UTF-8. */
function uriOf(path: string | Buffer): string {
  const bytes = Buffer.from(path);
  if (bytes.equals(Buffer.from(bytes.toString('utf8')))) return pathToFileURL(bytes.toString('utf8')).href;
  const safe = (b: number): boolean => /[A-Za-z0-9\-._~/]/.test(String.fromCharCode(b));
  return `file://${[...bytes].map((b) => (safe(b) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')}`;
}

/** How logs name an object: the first 16 hex digits of its URI's SHA-256. */
const hashOf = (uri: string): string => createHash('sha256').update(uri).digest('hex').slice(0, 16);

interface MeasuredRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set size of the process (VmHWM), bytes. */
  readonly peakRssBytes: number;
  /** True when the run was killed for passing RSS_CEILING_BYTES. */
  readonly killedForMemory: boolean;
}

/** Runs `cxr args...` under tsx's loader and records the process's peak RSS while it runs. */
function cxrMeasured(env: Readonly<Record<string, string>>, ...args: string[]): Promise<MeasuredRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    let killedForMemory = false;
    // VmHWM is the high-water mark itself: the last reading before exit holds the peak.
    const poll = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        peakKb = Math.max(peakKb, Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0));
        if (peakKb * 1024 > RSS_CEILING_BYTES && !killedForMemory) {
          killedForMemory = true;
          child.kill('SIGKILL');
        }
      } catch {
        // exited between two readings
      }
    }, 25);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr, peakRssBytes: peakKb * 1024, killedForMemory });
    });
  });
}

/**
 * A valid DICOM header declaring a `columns` x `rows` 16-bit image whose native Pixel Data is
 * all there but sparse: the file has its full size and takes no disk.
 */
async function writeSparseImage(path: string, rows: number, columns: number): Promise<void> {
  const header = writeDicom(imagePixelElements({ rows, columns, bitsAllocated: 16, bitsStored: 12 }));
  const pixelDataHeader = Buffer.alloc(12);
  pixelDataHeader.writeUInt16LE(0x7fe0, 0);
  pixelDataHeader.writeUInt16LE(0x0010, 2);
  pixelDataHeader.write('OW', 4, 'latin1');
  pixelDataHeader.writeUInt32LE(rows * columns * 2, 8);
  await writeFile(path, Buffer.concat([header, pixelDataHeader]));
  await truncate(path, header.length + pixelDataHeader.length + rows * columns * 2);
}

/** `depth` sequences nested with undefined lengths, explicit VR little endian, written flat. */
function nestedSequences(depth: number): Buffer {
  const open = Buffer.alloc(20);
  open.writeUInt16LE(0x0008, 0);
  open.writeUInt16LE(0x1140, 2);
  open.write('SQ', 4, 'latin1');
  open.writeUInt32LE(0xffffffff, 8);
  open.writeUInt16LE(0xfffe, 12);
  open.writeUInt16LE(0xe000, 14);
  open.writeUInt32LE(0xffffffff, 16);
  const close = Buffer.alloc(16);
  close.writeUInt16LE(0xfffe, 0);
  close.writeUInt16LE(0xe00d, 2);
  close.writeUInt16LE(0xfffe, 8);
  close.writeUInt16LE(0xe0dd, 10);
  return Buffer.concat([...Array<Buffer>(depth).fill(open), ...Array<Buffer>(depth).fill(close)]);
}

interface Expected {
  readonly outcome: 'ok' | 'rejected';
  readonly reason: string | null;
}

describe('cxr screen on hostile objects: limits, skips and memory (real process, Redis, SQLite)', () => {
  const prefix = `cxr-limits-test-${randomBytes(4).toString('hex')}`;
  /** Object URI -> expected row. */
  const expected = new Map<string, Expected>();
  let dir: string;
  let archive: string;
  let baselineArchive: string;
  let modelDir: string;
  let env: Record<string, string>;
  let outsideLink: string;
  let loopLink: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-limits-'));
    archive = join(dir, 'archive');
    baselineArchive = join(dir, 'baseline');
    await mkdir(archive);
    await mkdir(baselineArchive);
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const good = set.fixtures.find(
      (f): f is DecodeFixture => f.kind === 'decode' && f.name.startsWith('explicit'),
    );
    if (good === undefined) throw new Error('no explicit VR fixture');
    const want = (path: string | Buffer, outcome: Expected['outcome'], reason: string | null): void => {
      expected.set(uriOf(path), { outcome, reason });
    };

    await copyFile(good.path, join(baselineArchive, 'good.dcm'));
    await copyFile(good.path, join(archive, 'good.dcm'));
    want(join(archive, 'good.dcm'), 'ok', null);
    // A Latin-1 file name ("é" as the single byte 0xE9): used to be listed nowhere.
    const latin1 = Buffer.concat([Buffer.from(`${archive}/caf`), Buffer.from([0xe9]), Buffer.from('.dcm')]);
    await writeFile(latin1, readFileSync(good.path));
    want(latin1, 'ok', null);

    // Far above the limit, sparse: refused from their size. Six 1 GiB files took the old worker to 8.8 GB.
    for (let i = 1; i <= 6; i++) {
      const path = join(archive, `zeros-1g-${i}.bin`);
      await writeFile(path, '');
      await truncate(path, GIB);
      want(path, 'rejected', 'object_too_large');
    }
    const threeGib = join(archive, 'zeros-3g.bin'); // read whole, this used to fail as fetch_error
    await writeFile(threeGib, '');
    await truncate(threeGib, 3 * GIB);
    want(threeGib, 'rejected', 'object_too_large');
    // Under the limit but not DICOM: refused after its first bytes.
    const zeros = join(archive, 'zeros-48m.bin');
    await writeFile(zeros, '');
    await truncate(zeros, 48 * MIB);
    want(zeros, 'rejected', 'not_dicom');
    // Valid headers over sparse Pixel Data: 512 MiB declared, above the size limit ...
    await writeSparseImage(join(archive, 'header-16384.dcm'), 16384, 16384);
    want(join(archive, 'header-16384.dcm'), 'rejected', 'object_too_large');
    // ... and 6 x 53 MiB under it, read whole: at most decode threads x 64 MiB of them at once.
    for (let i = 1; i <= 6; i++) {
      const path = join(archive, `header-4000x7000-${i}.dcm`);
      await writeSparseImage(path, 7000, 4000);
      want(path, 'rejected', 'image_too_large');
    }
    // A valid 16384 x 16384 image in 4 MB of RLE: used to fail as internal_error five times.
    await writeFile(join(archive, 'rle-16384.dcm'), writeUniformRleImage(16384, 16384));
    want(join(archive, 'rle-16384.dcm'), 'rejected', 'image_too_large');
    // 50,000 nested sequences: used to be `truncated`.
    const nestedHead = writeDicom(imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }));
    await writeFile(join(archive, 'nested.dcm'), Buffer.concat([nestedHead, nestedSequences(50_000)]));
    want(join(archive, 'nested.dcm'), 'rejected', 'nesting_too_deep');
    // Not listed, but counted and logged with a reason.
    const outside = join(dir, 'outside.dcm');
    await copyFile(good.path, outside);
    outsideLink = join(archive, 'link-out.dcm');
    await symlink(outside, outsideLink);
    loopLink = join(archive, 'loop');
    await symlink('.', loopLink);

    modelDir = (
      await initSeedModel({
        outDir: join(dir, 'model'),
        size: 32,
        blocks: [1, 2, 2, 1],
        format: 'onnx',
        seed: 3,
      })
    ).dir;
    env = {
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_DECODE_THREADS: String(DECODE_THREADS),
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      // 2 x 4 jobs active at once: without the input budget, all of them would hold an object.
      CXR_MAX_BATCH: '4',
      CXR_MAX_OBJECT_BYTES: String(MAX_OBJECT_BYTES),
      CXR_MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS),
      CXR_LOG_LEVEL: 'info',
    };
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    const screen = new ScreenQueue({ connection, prefix });
    await screen.obliterate({ force: true });
    await screen.close();
    const results = new ResultQueue({ connection, prefix });
    await results.obliterate({ force: true });
    await results.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const rowsOf = async (store: string, runId: string): Promise<StoredResult[]> => {
    const opened = await openStore(store);
    try {
      const rows: StoredResult[] = [];
      for await (const row of opened.iterateRun(runId)) rows.push(row);
      return rows;
    } finally {
      await opened.close();
    }
  };

  it('fails at once with exit code 2 naming a source path that does not exist', async () => {
    const missing = join(dir, 'no such folder');
    const run = await cxrMeasured(
      env,
      'screen',
      missing,
      '--model',
      modelDir,
      '--store',
      `sqlite:${join(dir, 'x.sqlite')}`,
    );
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([`cxr: configuration: source path not found: ${missing}`]);
  });

  it('cxr predict refuses the 16384 x 16384 image as image_too_large too (exit code 3, one line)', async () => {
    const file = join(archive, 'rle-16384.dcm');
    const run = await cxrMeasured(env, 'predict', file, '--model', modelDir);
    expect(run.code).toBe(3);
    // Besides the seed bundle's warning (its weights are random), one line: the rejection.
    const lines = run.stderr.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('cxr: warning: model '))).toHaveLength(1);
    expect(lines.filter((line) => !line.startsWith('cxr: warning: model '))).toEqual([
      `cxr: ${file}: rejected (image_too_large): image of 16384x16384 pixels exceeds the limit of ${MAX_IMAGE_PIXELS} pixels`,
    ]);
  });

  it('gives every object a row with its reason, logs every skip, and keeps peak memory bounded', async () => {
    const baseline = await cxrMeasured(
      env,
      'screen',
      baselineArchive,
      '--model',
      modelDir,
      '--store',
      `sqlite:${join(dir, 'baseline.sqlite')}`,
      '--run-id',
      'baseline',
      '--json',
    );
    expect(baseline.code, baseline.stderr.slice(-2000)).toBe(0);

    const store = `sqlite:${join(dir, 'results.sqlite')}`;
    const run = await cxrMeasured(
      env,
      'screen',
      archive,
      '--model',
      modelDir,
      '--store',
      store,
      '--run-id',
      'hostile',
      '--json',
    );
    expect(run.killedForMemory, `peak RSS passed ${RSS_CEILING_BYTES / GIB} GiB`).toBe(false);
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const summary = JSON.parse(run.stdout) as ScreenSummary;
    const rejected = [...expected.values()].filter((e) => e.outcome === 'rejected').length;
    expect(summary.ingest).toMatchObject({
      listed: expected.size,
      enqueued: expected.size,
      sourceSkipped: 2,
      sourceSkipReasons: { link_outside_root: 1, symlink_loop: 1 },
      complete: true,
    });
    expect(summary.outcomes).toEqual({ ok: expected.size - rejected, rejected, failed: 0 });

    const rows = await rowsOf(store, 'hostile');
    expect(
      Object.fromEntries(rows.map((row) => [row.uri, { outcome: row.outcome, reason: row.reason }])),
    ).toEqual(Object.fromEntries(expected));

    const logs = run.stderr.split('\n').filter((line) => line.startsWith('{'));
    // Each rejection is logged once and none is retried.
    expect(logs.filter((line) => line.includes('"msg":"job rejected"'))).toHaveLength(rejected);
    expect(logs.filter((line) => line.includes('"msg":"job will retry"'))).toHaveLength(0);
    // Each skipped entry is logged by the hash of its URI, not by its name.
    const skips = logs
      .filter((line) => line.includes('"msg":"source entry skipped"'))
      .map((line) => (JSON.parse(line) as { data: Record<string, unknown> }).data);
    expect(skips).toEqual([
      { source: 'file', reason: 'link_outside_root', uriHash: hashOf(uriOf(outsideLink)) },
      { source: 'file', reason: 'symlink_loop', uriHash: hashOf(uriOf(loopLink)) },
    ]);

    const extra = run.peakRssBytes - baseline.peakRssBytes;
    const bound = 2 * DECODE_THREADS * MAX_OBJECT_BYTES;
    process.stderr.write(
      `peak RSS: baseline ${(baseline.peakRssBytes / MIB).toFixed(0)} MiB, hostile ${(run.peakRssBytes / MIB).toFixed(0)} MiB, ` +
        `extra ${(extra / MIB).toFixed(0)} MiB (bound ${(bound / MIB).toFixed(0)} MiB + 64 MiB slack)\n`,
    );
    expect(baseline.peakRssBytes).toBeGreaterThan(0);
    expect(extra).toBeLessThan(bound + 64 * MIB);
  }, 300_000);
});
