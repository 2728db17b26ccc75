/**
 * `pnpm bench pacs [--instances 100] [--size 1024] [--concurrency 4] [--rounds 5]
 *                  [--qido-instances 10000] [--qido-rounds 3] [--skip-wado] [--skip-qido]
 *                  [--budget memory|redis] [--redis-url redis://127.0.0.1:6379]`
 *
 * The DICOMweb side of issue 14 against a local PACS (Debian Orthanc with its DICOMweb plugin):
 * 1. WADO-RS fetch throughput: N instances (SIZE x SIZE, 16-bit, native: 2 MB at 1024) fetched by
 *    the pipeline's fetcher (budget, multipart stream parser, size limit and DICOM head check, as
 *    the worker calls it, then moving the bytes to another thread as the worker moves them to its
 *    decode pool) at the configured concurrency, against `curl --parallel --parallel-max C`
 *    fetching the same URLs with the same Accept header into /dev/null. After one unmeasured
 *    round of each, whole wall time of each side, alternating which runs first, median of the
 *    rounds. Target: ours / curl >= 0.8. The
 *    request budget is the process's own (`--budget memory`, the default) or the workers' Redis
 *    one (`--budget redis`: two Redis commands per retrieve). CPU per retrieve is reported for
 *    both sides (ours: process.cpuUsage of the bench process; curl: GNU time, when installed).
 * 2. QIDO-RS walk: a PACS of 10,000 small instances (dates over two years, CR and DX; generated
 *    once and kept in bench/out/pacs-orthanc-<N>/ so later runs start at once) listed by the
 *    study-window walk with the default settings; instances/s, QIDO requests per walk, and for
 *    reference the time of one unbounded QIDO query for everything (what a PACS without a cap
 *    would answer in one go).
 * Targets are reported, never enforced: the process exits 0 either way. Results are written to
 * bench/out/pacs.json as well.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { SopClass, Tag, writeDicom, type DataElement } from '@cxr/dicom/testing';
import {
  DEFAULT_DICOMWEB_SETTINGS,
  createObjectFetcher,
  openObjectSource,
  type DicomwebSettings,
} from '@cxr/storage';
import { startOrthanc, type RunningOrthanc } from '@cxr/storage/testing';
import { RedisRequestBudget, redisConnectionFromUrl } from '@cxr/queue';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function uid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

function hhmmss(second: number): string {
  return [Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join('');
}

/** A native 16-bit chest-like instance with fresh UIDs (content is irrelevant to the transfer). */
function instance(options: { size: number; modality: 'CR' | 'DX'; date: string; time: string }): {
  bytes: Uint8Array;
  sop: string;
} {
  const sop = uid();
  const { size } = options;
  const pixels = new Uint16Array(size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 20;
  const elements: DataElement[] = [
    {
      tag: Tag.SopClassUid,
      vr: 'UI',
      value: options.modality === 'DX' ? SopClass.DigitalXRayForPresentation : SopClass.ComputedRadiography,
    },
    { tag: Tag.SopInstanceUid, vr: 'UI', value: sop },
    { tag: Tag.StudyDate, vr: 'DA', value: options.date },
    { tag: 0x00080030, vr: 'TM', value: options.time },
    { tag: Tag.Modality, vr: 'CS', value: options.modality },
    { tag: Tag.PatientName, vr: 'PN', value: 'BENCH^PACS' },
    { tag: Tag.PatientId, vr: 'LO', value: 'BENCH-0001' },
    { tag: Tag.StudyInstanceUid, vr: 'UI', value: uid() },
    { tag: Tag.SeriesInstanceUid, vr: 'UI', value: uid() },
    { tag: Tag.SamplesPerPixel, vr: 'US', value: [1] },
    { tag: Tag.PhotometricInterpretation, vr: 'CS', value: 'MONOCHROME2' },
    { tag: Tag.Rows, vr: 'US', value: [size] },
    { tag: Tag.Columns, vr: 'US', value: [size] },
    { tag: Tag.BitsAllocated, vr: 'US', value: [16] },
    { tag: Tag.BitsStored, vr: 'US', value: [12] },
    { tag: Tag.HighBit, vr: 'US', value: [11] },
    { tag: Tag.PixelRepresentation, vr: 'US', value: [0] },
    { tag: Tag.PixelData, vr: 'OW', value: pixels },
  ];
  return { bytes: writeDicom(elements), sop };
}

/** Uploads with `concurrency` requests in flight; returns instances per second. */
async function uploadAll(
  orthanc: RunningOrthanc,
  count: number,
  make: (i: number) => Uint8Array,
  concurrency: number,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await orthanc.upload(make(i));
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Runs `pool` workers over `items`. */
async function inPool<T>(items: readonly T[], pool: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: pool }, async () => {
      for (let i = next++; i < items.length; i = next++) await work(items[i] as T);
    }),
  );
}

/** GNU time, when installed: it reports curl's own CPU time (user + system). */
const GNU_TIME = '/usr/bin/time';

/** One side's fetch of every URL: wall seconds, and CPU seconds of the fetching process when known. */
interface FetchRun {
  readonly seconds: number;
  readonly cpuSeconds: number | undefined;
}

/** curl fetching every URL with `concurrency` transfers in parallel, into /dev/null. */
async function curlFetch(urls: readonly string[], concurrency: number, dir: string): Promise<FetchRun> {
  const config = join(dir, 'curl.config');
  const timeFile = join(dir, 'curl.time');
  writeFileSync(config, urls.map((url) => `url = "${url}"\noutput = "/dev/null"\n`).join(''));
  const timed = existsSync(GNU_TIME);
  const started = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      timed ? GNU_TIME : 'curl',
      [
        ...(timed ? ['-f', '%U %S', '-o', timeFile, 'curl'] : []),
        '--parallel',
        '--parallel-max',
        String(concurrency),
        '--no-progress-meter',
        '-s',
        '-S',
        '--fail',
        '-H',
        `Accept: ${WADO_ACCEPT}`,
        '--config',
        config,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`curl exited with ${String(code)}`);
  let cpuSeconds: number | undefined;
  if (timed) {
    const [user, system] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
    if (user !== undefined && system !== undefined && Number.isFinite(user + system))
      cpuSeconds = user + system;
  }
  return { seconds, cpuSeconds };
}

/**
 * The pipeline's fetcher over every URI, `concurrency` at a time, as the worker calls it. CPU is
 * this whole process's (every thread, GC included) over the run: nothing else runs in it meanwhile.
 */
/**
 * Stands in for the worker's decode thread: it receives each fetched instance, moved (transferred)
 * as the worker moves it to its decode pool, and drops it. Keeping the 2.1 MB buffers in this
 * thread instead would make them garbage of its large heap, where V8 runs a full mark-compact for
 * every ~64 MB of such memory: measured here, twice the CPU per retrieve (4.3-5.2 ms against
 * 2.1-2.3), a cost the worker does not pay.
 */
function startDecodeThread(): Worker {
  const thread = new Worker("require('node:worker_threads').parentPort.on('message', () => {});", {
    eval: true,
  });
  thread.unref();
  return thread;
}

async function oursFetch(
  uris: readonly string[],
  concurrency: number,
  sizes: ReadonlyMap<string, number>,
  redisUrl?: string,
): Promise<FetchRun> {
  const decodeThread = startDecodeThread();
  const settings: DicomwebSettings = {
    ...DEFAULT_DICOMWEB_SETTINGS,
    maxConcurrency: concurrency,
    maxRequestsPerSecond: 0,
  };
  const budget =
    redisUrl === undefined
      ? undefined
      : new RedisRequestBudget(redisConnectionFromUrl(redisUrl), {
          limits: { concurrency, requestsPerSecond: 0 },
          prefix: `cxr-bench-${randomUUID().slice(0, 8)}`,
        });
  const fetcher = createObjectFetcher({
    env: {},
    dicomweb: settings,
    ...(budget !== undefined ? { requestBudget: budget } : {}),
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  try {
    await inPool(uris, concurrency, async (uri) => {
      const bytes = await fetcher.fetch(uri, {
        maxBytes: 256 * 1024 * 1024,
        head: {
          bytes: 132,
          check: (head) => {
            if (Buffer.from(head.subarray(128, 132)).toString('latin1') !== 'DICM')
              throw new Error('not DICOM');
          },
        },
      });
      const expected = sizes.get(uri.slice(uri.lastIndexOf('/') + 1));
      if (bytes.byteLength !== expected) {
        throw new Error(`fetched ${bytes.byteLength} bytes, expected ${String(expected)}`);
      }
      // What the worker does next: move the bytes to a decode thread (screen-processor.ts,
      // `transfer: true`), so they never become garbage of this thread's heap.
      decodeThread.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
    });
    const used = process.cpuUsage(cpu);
    return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
  } finally {
    await fetcher.close();
    await budget?.close();
    await decodeThread.terminate();
  }
}

interface WadoResult {
  readonly instances: number;
  readonly bytesPerInstance: number;
  readonly concurrency: number;
  readonly budget: 'memory' | 'redis';
  readonly rounds: {
    readonly oursPerSecond: number;
    readonly curlPerSecond: number;
    readonly ratio: number;
    /** CPU ms per retrieve of our process and of curl (undefined without GNU time). */
    readonly oursCpuMs: number;
    readonly curlCpuMs: number | undefined;
  }[];
  readonly medianRatio: number;
  readonly medianOursPerSecond: number;
  readonly medianCurlPerSecond: number;
  readonly medianOursCpuMs: number;
  readonly medianCurlCpuMs: number | undefined;
}

async function benchWado(options: {
  instances: number;
  size: number;
  concurrency: number;
  rounds: number;
  redisUrl: string | undefined;
}): Promise<WadoResult> {
  const orthanc = await startOrthanc();
  const dir = join(tmpdir(), `cxr-bench-pacs-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  try {
    const sizes = new Map<string, number>();
    const rate = await uploadAll(
      orthanc,
      options.instances,
      () => {
        const made = instance({ size: options.size, modality: 'CR', date: '20250101', time: '120000' });
        sizes.set(made.sop, made.bytes.byteLength);
        return made.bytes;
      },
      4,
    );
    process.stdout.write(
      `WADO-RS: uploaded ${options.instances} instances (${options.size}x${options.size}) at ${rate.toFixed(0)}/s\n`,
    );
    const listed = await fetch(`${orthanc.dicomwebUrl}/instances?limit=100000`, {
      headers: { Accept: 'application/dicom+json' },
    });
    const found = (await listed.json()) as Record<string, { Value?: string[] }>[];
    const paths = found.map(
      (item) =>
        `/studies/${item['0020000D']?.Value?.[0] ?? ''}/series/${item['0020000E']?.Value?.[0] ?? ''}/instances/${item['00080018']?.Value?.[0] ?? ''}`,
    );
    const bytesPerInstance = median([...sizes.values()]);
    const uris = paths.map((path) => `dicomweb+${orthanc.dicomwebUrl}${path}`);
    const urls = paths.map((path) => `${orthanc.dicomwebUrl}${path}`);
    // Warm both sides with a whole unmeasured round (Orthanc's caches, the page cache, and our
    // fetcher's optimized code: with 10 retrieves of warm-up, the first rounds of a run came out
    // 0.70-0.76 and the last 0.84-0.93 at the same load).
    await oursFetch(uris, options.concurrency, sizes, options.redisUrl);
    await curlFetch(urls, options.concurrency, dir);
    const rounds: WadoResult['rounds'][number][] = [];
    for (let round = 0; round < options.rounds; round++) {
      let ours: FetchRun;
      let curl: FetchRun;
      if (round % 2 === 0) {
        ours = await oursFetch(uris, options.concurrency, sizes, options.redisUrl);
        curl = await curlFetch(urls, options.concurrency, dir);
      } else {
        curl = await curlFetch(urls, options.concurrency, dir);
        ours = await oursFetch(uris, options.concurrency, sizes, options.redisUrl);
      }
      const result = {
        oursPerSecond: uris.length / ours.seconds,
        curlPerSecond: urls.length / curl.seconds,
        ratio: curl.seconds / ours.seconds,
        oursCpuMs: ((ours.cpuSeconds ?? NaN) * 1000) / uris.length,
        curlCpuMs: curl.cpuSeconds === undefined ? undefined : (curl.cpuSeconds * 1000) / urls.length,
      };
      rounds.push(result);
      process.stdout.write(
        `  round ${round + 1}: ours ${result.oursPerSecond.toFixed(1)}/s, curl ${result.curlPerSecond.toFixed(1)}/s, ratio ${result.ratio.toFixed(2)}; ` +
          `CPU per retrieve: ours ${result.oursCpuMs.toFixed(2)} ms, curl ${result.curlCpuMs?.toFixed(2) ?? '?'} ms; load ${loadavg()[0]?.toFixed(2) ?? '?'}\n`,
      );
    }
    const curlCpu = rounds.map((r) => r.curlCpuMs);
    return {
      instances: uris.length,
      bytesPerInstance,
      concurrency: options.concurrency,
      budget: options.redisUrl === undefined ? 'memory' : 'redis',
      rounds,
      medianRatio: median(rounds.map((r) => r.ratio)),
      medianOursPerSecond: median(rounds.map((r) => r.oursPerSecond)),
      medianCurlPerSecond: median(rounds.map((r) => r.curlPerSecond)),
      medianOursCpuMs: median(rounds.map((r) => r.oursCpuMs)),
      medianCurlCpuMs: curlCpu.every((ms) => ms !== undefined) ? median(curlCpu) : undefined,
    };
  } finally {
    await orthanc.dispose();
  }
}

interface QidoResult {
  readonly instances: number;
  readonly rounds: { readonly seconds: number; readonly perSecond: number; readonly requests: number }[];
  readonly medianPerSecond: number;
  readonly oneQuerySeconds: number;
}

async function benchQido(options: { instances: number; rounds: number }): Promise<QidoResult> {
  const directory = join(OUT_DIR, `pacs-orthanc-${options.instances}`);
  const orthanc = await startOrthanc({ directory });
  try {
    const present = await orthanc.instanceCount();
    if (present < options.instances) {
      const missing = options.instances - present;
      const start = Date.UTC(2023, 0, 1);
      const rate = await uploadAll(
        orthanc,
        missing,
        (i) => {
          const n = present + i;
          // Two years of studies, most days holding a dozen or so, at scattered times.
          const date = new Date(start + Math.floor((n * 7919) % 730) * 86_400_000)
            .toISOString()
            .slice(0, 10)
            .replaceAll('-', '');
          return instance({
            size: 8,
            modality: n % 10 === 9 ? 'DX' : 'CR',
            date,
            time: hhmmss((n * 104_729) % 86_400),
          }).bytes;
        },
        8,
      );
      process.stdout.write(
        `QIDO-RS: generated ${missing} instances at ${rate.toFixed(0)}/s into ${directory}\n`,
      );
    }
    const total = await orthanc.instanceCount();
    const rounds: QidoResult['rounds'][number][] = [];
    for (let round = 0; round < options.rounds; round++) {
      let requests = 0;
      const source = openObjectSource(`dicomweb+${orthanc.dicomwebUrl}`, {
        env: {},
        dicomweb: { ...DEFAULT_DICOMWEB_SETTINGS, maxRequestsPerSecond: 0 },
        pacsObserver: {
          observePacsRequest: () => {
            requests += 1;
          },
          countPacsThrottled: () => undefined,
        },
      });
      const started = performance.now();
      let listed = 0;
      for await (const _entry of source.list()) listed += 1;
      const seconds = (performance.now() - started) / 1000;
      await source.close();
      if (listed !== total) throw new Error(`the walk listed ${listed} of ${total} instances`);
      rounds.push({ seconds, perSecond: listed / seconds, requests });
      process.stdout.write(
        `  walk ${round + 1}: ${listed} instances in ${seconds.toFixed(2)} s (${(listed / seconds).toFixed(0)}/s, ${requests} QIDO requests)\n`,
      );
    }
    const started = performance.now();
    const all = await fetch(`${orthanc.dicomwebUrl}/instances?limit=1000000`, {
      headers: { Accept: 'application/dicom+json' },
    });
    const count = ((await all.json()) as unknown[]).length;
    const oneQuerySeconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `  one unbounded QIDO query: ${count} instances in ${oneQuerySeconds.toFixed(2)} s\n`,
    );
    return {
      instances: total,
      rounds,
      medianPerSecond: median(rounds.map((r) => r.perSecond)),
      oneQuerySeconds,
    };
  } finally {
    await orthanc.dispose();
  }
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      instances: { type: 'string', default: '100' },
      size: { type: 'string', default: '1024' },
      concurrency: { type: 'string', default: String(DEFAULT_DICOMWEB_SETTINGS.maxConcurrency) },
      rounds: { type: 'string', default: '5' },
      'qido-instances': { type: 'string', default: '10000' },
      'qido-rounds': { type: 'string', default: '3' },
      'skip-wado': { type: 'boolean', default: false },
      'skip-qido': { type: 'boolean', default: false },
      budget: { type: 'string', default: 'memory' },
      'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    },
  });
  const int = (name: string, raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
    return value;
  };
  if (values.budget !== 'memory' && values.budget !== 'redis')
    throw new Error('--budget must be memory or redis');
  mkdirSync(OUT_DIR, { recursive: true });
  const report: Record<string, unknown> = { date: new Date().toISOString(), loadavg: loadavg() };
  if (!values['skip-wado']) {
    const wado = await benchWado({
      instances: int('instances', values.instances),
      size: int('size', values.size),
      concurrency: int('concurrency', values.concurrency),
      rounds: int('rounds', values.rounds),
      redisUrl: values.budget === 'redis' ? values['redis-url'] : undefined,
    });
    report.wado = wado;
    process.stdout.write(
      `WADO-RS, ${wado.instances} x ${(wado.bytesPerInstance / 1e6).toFixed(1)} MB at concurrency ${wado.concurrency}, ${wado.budget} budget: ` +
        `ours ${wado.medianOursPerSecond.toFixed(1)}/s, curl ${wado.medianCurlPerSecond.toFixed(1)}/s, ` +
        `median ratio ${wado.medianRatio.toFixed(2)} (target >= 0.8: ${wado.medianRatio >= 0.8 ? 'met' : 'NOT met'}); ` +
        `CPU per retrieve (median): ours ${wado.medianOursCpuMs.toFixed(2)} ms, curl ${wado.medianCurlCpuMs?.toFixed(2) ?? '?'} ms\n`,
    );
  }
  if (!values['skip-qido']) {
    const qido = await benchQido({
      instances: int('qido-instances', values['qido-instances']),
      rounds: int('qido-rounds', values['qido-rounds']),
    });
    report.qido = qido;
    process.stdout.write(
      `QIDO-RS walk over ${qido.instances} instances: median ${qido.medianPerSecond.toFixed(0)} instances/s\n`,
    );
  }
  writeFileSync(join(OUT_DIR, 'pacs.json'), `${JSON.stringify(report, null, 2)}\n`);
}
