/**
 * `pnpm bench orchestration [--images N] [--rounds R] [--stores sqlite,postgres]
 * [--objects-per-job 1,32] [--batch B] [--latency-ms L] [--json]`
 *
 * The orchestration ceiling of one worker process (issue 16 section 4): how many images per second
 * go through ingest -> `cxr-screen` -> worker (batcher, null runtime) -> `cxr-results` -> results
 * service -> store when decode and inference cost nothing, and how much CPU each image costs
 * outside decode and inference.
 *
 * - the archive: a CSV manifest of N s3:// objects (never read: the worker's fetcher returns 256
 *   bytes), ingested with `enqueueSource` (store consulted, as `cxr ingest` does);
 * - the worker: one child process (bench/orchestration/worker-process.ts), a WorkerService with
 *   CXR_RUNTIME=null (fixed latency per batch, deterministic scores) and a decoder that returns one
 *   pre-decoded 224 x 224 image: what remains is the queue, the batcher and the result messages;
 * - the results service: in this process, batched upserts into a fresh SQLite file or PostgreSQL
 *   schema (`CXR_TEST_POSTGRES_URL`, default the test server);
 * - timed from the start of the ingest to the last row stored (the results service's `cxr_items_total`,
 *   checked against `countByOutcome` at the end), per variant:
 *   CXR_OBJECTS_PER_JOB = 1 (one job per image, the baseline) and the multi-object values, in
 *   alternating order, R rounds, medians; ratios against the baseline of the same round.
 * CPU ms per image: the worker process's (process.cpuUsage), this process's (ingest + results
 * service + store client) and Redis's (INFO cpu; Redis is shared with anything else running).
 */
import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeSyntheticTrainingSet } from '@cxr/fixtures';
import { enqueueSource } from '@cxr/ingest';
import { createMetrics } from '@cxr/metrics';
import { initSeedModel } from '@cxr/model';
import { ResultQueue, ScreenQueue, createRedisClient, redisConnectionFromUrl } from '@cxr/queue';
import { ResultsService } from '@cxr/results';
import { openObjectSource } from '@cxr/storage';
import { openStore, type ResultStore } from '@cxr/store';
import pg from 'pg';
import type { FromWorker, ToWorker, WorkerProcessSpec } from './orchestration/worker-process.js';
import { median } from './lib/stats.js';

const REDIS_URL = process.env.CXR_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER_ENTRY = join(HERE, 'orchestration', 'worker-process.ts');
const require = createRequire(import.meta.url);
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
const MODEL_SIZE = 224;

type StoreKind = 'sqlite' | 'postgres';

interface Options {
  readonly images: number;
  readonly rounds: number;
  readonly stores: readonly StoreKind[];
  readonly perJob: readonly number[];
  readonly batch: number;
  readonly latencyMs: number;
  readonly json: boolean;
}

interface Measured {
  readonly store: StoreKind;
  readonly perJob: number;
  readonly imagesPerSecond: number;
  readonly ingestSeconds: number;
  readonly workerCpuMsPerImage: number;
  readonly mainCpuMsPerImage: number;
  readonly redisCpuMsPerImage: number;
}

function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

function positiveInteger(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return n;
}

function parseOptions(args: readonly string[]): Options {
  const stores = (option(args, '--stores') ?? 'sqlite,postgres').split(',').map((s) => s.trim());
  for (const store of stores) {
    if (store !== 'sqlite' && store !== 'postgres') throw new Error(`--stores: unknown store ${store}`);
  }
  const perJob = (option(args, '--objects-per-job') ?? '1,32')
    .split(',')
    .map((s) => positiveInteger(s, '--objects-per-job'));
  if (!perJob.includes(1)) perJob.unshift(1);
  const latency = Number(option(args, '--latency-ms') ?? '1');
  if (!Number.isInteger(latency) || latency < 0) throw new Error('--latency-ms must be an integer >= 0');
  return {
    images: positiveInteger(option(args, '--images') ?? '20000', '--images'),
    rounds: positiveInteger(option(args, '--rounds') ?? '3', '--rounds'),
    stores: stores as StoreKind[],
    perJob,
    batch: positiveInteger(option(args, '--batch') ?? '32', '--batch'),
    latencyMs: latency,
    json: args.includes('--json'),
  };
}

async function writeManifest(path: string, images: number, salt: string): Promise<void> {
  const out = createWriteStream(path);
  out.write('uri,etag,size\n');
  for (let i = 0; i < images; i += 1) {
    const line = `s3://bench-archive/${salt}/cr/2024/05/${String(i).padStart(9, '0')}.dcm,${randomBytes(16).toString('hex')},${8_000_000 + (i % 4_000_000)}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function redisCpuMs(redis: ReturnType<typeof createRedisClient>): Promise<number> {
  const info = await redis.info('cpu');
  const user = /^used_cpu_user:([\d.]+)/m.exec(info)?.[1];
  const sys = /^used_cpu_sys:([\d.]+)/m.exec(info)?.[1];
  return (Number(user ?? 0) + Number(sys ?? 0)) * 1000;
}

/** A fresh store: a SQLite file in `work`, or a PostgreSQL schema dropped by `drop`. */
async function freshStore(
  kind: StoreKind,
  work: string,
  name: string,
): Promise<{ store: ResultStore; drop: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const store = await openStore(`sqlite:${join(work, `${name}.sqlite`)}`);
    return { store, drop: () => store.close() };
  }
  const schema = `cxr_bench_${name.replace(/[^a-z0-9]/g, '_')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const store = await openStore(POSTGRES_URL, { schema });
  return {
    store,
    drop: async () => {
      await store.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** Starts the worker process and resolves once it consumes the queue. */
async function startWorker(spec: WorkerProcessSpec): Promise<{
  cpuMs: () => Promise<number>;
  stop: () => Promise<void>;
}> {
  const child = fork(WORKER_ENTRY, [], {
    execArgv: [
      '--conditions=@cxr/source',
      '--import',
      TSX_LOADER,
      // CXR_BENCH_CPU_PROF=DIR: a V8 CPU profile of the worker process per run (where its time goes).
      ...(process.env.CXR_BENCH_CPU_PROF !== undefined
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CXR_BENCH_CPU_PROF}`]
        : []),
    ],
    env: { ...process.env, CXR_BENCH_WORKER: JSON.stringify(spec) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (type: FromWorker['type']): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker): void => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code: number | null): void => {
        child.off('message', onMessage);
        reject(new Error(`bench worker process exited with ${String(code)}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ask = (message: ToWorker): void => {
    child.send(message);
  };
  await next('ready');
  return {
    cpuMs: async () => {
      const reply = next('cpu');
      ask({ type: 'cpu' });
      const cpu = await reply;
      return cpu.type === 'cpu' ? cpu.userMs + cpu.systemMs : 0;
    },
    stop: async () => {
      const stopped = next('stopped');
      ask({ type: 'stop' });
      await stopped;
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** One variant, one round: a fresh queue prefix, store and worker process. */
async function measure(
  options: Options,
  kind: StoreKind,
  perJob: number,
  paths: { readonly work: string; readonly modelDir: string; readonly templatePath: string },
  model: { readonly id: string; readonly version: string },
): Promise<Measured> {
  const tag = randomBytes(4).toString('hex');
  const prefix = `cxr-bench-orch-${tag}`;
  const manifest = join(paths.work, `${tag}.csv`);
  await writeManifest(manifest, options.images, tag);
  const connection = redisConnectionFromUrl(REDIS_URL);
  const redis = createRedisClient(connection);
  const { store, drop } = await freshStore(kind, paths.work, `${kind}_${perJob}_${tag}`);
  const worker = await startWorker({
    modelDir: paths.modelDir,
    templatePath: paths.templatePath,
    env: {
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_RUNTIME: 'null',
      CXR_NULL_RUNTIME_LATENCY_MS: String(options.latencyMs),
      CXR_MAX_BATCH: String(options.batch),
      CXR_OBJECTS_PER_JOB: String(perJob),
      CXR_LOG_LEVEL: 'warn',
    },
  });
  const queue = new ScreenQueue({ connection, prefix });
  const metrics = createMetrics();
  const results = new ResultsService({ queue: { connection, prefix }, store, metrics });
  /** Rows the results service stored (`cxr_items_total`): polled instead of a store query. */
  const storedSoFar = async (): Promise<number> =>
    (await metrics.metrics.items.get()).values.reduce((sum, v) => sum + v.value, 0);
  const source = openObjectSource(manifest, { env: {} });
  const runId = `bench-${tag}`;
  try {
    results.start();
    const workerCpu0 = await worker.cpuMs();
    const mainCpu0 = process.cpuUsage();
    const redisCpu0 = await redisCpuMs(redis);
    const t0 = performance.now();
    const ingest = await enqueueSource({
      source,
      queue,
      runId,
      modelId: model.id,
      modelVersion: model.version,
      highWater: options.images + 1,
      store,
      objectsPerJob: perJob,
    });
    const ingestSeconds = (performance.now() - t0) / 1000;
    if (ingest.enqueued !== options.images) {
      throw new Error(`ingest enqueued ${ingest.enqueued} of ${options.images} objects`);
    }
    const verbose = process.env.CXR_BENCH_VERBOSE === '1';
    const probe = verbose ? new ResultQueue({ connection, prefix }) : undefined;
    let lastPrint = 0;
    for (;;) {
      if (probe !== undefined && performance.now() - lastPrint > 1000) {
        lastPrint = performance.now();
        const [screen, res, c] = await Promise.all([
          queue.counts(),
          probe.counts(),
          store.countByOutcome(runId),
        ]);
        process.stderr.write(
          `    t=${((lastPrint - t0) / 1000).toFixed(1)}s screen ${JSON.stringify(screen)} results ${JSON.stringify(res)} stored ${c.ok}\n`,
        );
      }
      // The results service's counter, not countByOutcome: a GROUP BY over the run every 20 ms
      // cost the bench process (whose CPU is measured as ingest + results) about 14 % of its time.
      const stored = await storedSoFar();
      if (stored >= options.images) {
        const counts = await store.countByOutcome(runId);
        if (counts.ok !== options.images)
          throw new Error(`stored ${JSON.stringify(counts)}, expected all ok`);
        break;
      }
      if (performance.now() - t0 > 600_000)
        throw new Error(`only ${stored} of ${options.images} stored in 10 min`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const mainCpu = process.cpuUsage(mainCpu0);
    // Its open connection kept the bench process alive after the table (CXR_BENCH_VERBOSE=1).
    await probe?.close();
    const workerCpuMs = (await worker.cpuMs()) - workerCpu0;
    const redisMs = (await redisCpuMs(redis)) - redisCpu0;
    return {
      store: kind,
      perJob,
      imagesPerSecond: options.images / seconds,
      ingestSeconds,
      workerCpuMsPerImage: workerCpuMs / options.images,
      mainCpuMsPerImage: (mainCpu.user + mainCpu.system) / 1000 / options.images,
      redisCpuMsPerImage: redisMs / options.images,
    };
  } finally {
    await worker.stop();
    await results.stop();
    await source.close();
    const resultQueue = new ResultQueue({ connection, prefix });
    await queue.obliterate({ force: true });
    await resultQueue.obliterate({ force: true });
    // The claims of multi-object jobs (obliterate removes the queue's BullMQ keys only).
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await Promise.all([queue.close(), resultQueue.close(), redis.quit()]);
    await drop();
    await rm(manifest, { force: true });
  }
}

function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}

/** Runs the benchmark (see the module comment). */
export async function run(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  const work = await mkdtemp(join(tmpdir(), 'cxr-bench-orch-'));
  try {
    const bundle = await initSeedModel({
      outDir: join(work, 'model'),
      size: MODEL_SIZE,
      blocks: [1, 1, 1, 1],
      format: 'onnx',
      seed: 1,
    });
    const [template] = await writeSyntheticTrainingSet({
      dir: join(work, 'template'),
      count: 1,
      seed: 1,
      size: 256,
    });
    if (template === undefined) throw new Error('no template image');
    const paths = { work, modelDir: bundle.dir, templatePath: template.path };
    const model = { id: bundle.manifest.id, version: bundle.manifest.version };
    process.stderr.write(
      `orchestration: ${options.images} images, ${options.rounds} rounds, batch ${options.batch}, ` +
        `null runtime ${options.latencyMs} ms/batch, objects per job ${options.perJob.join(', ')}, ` +
        `stores ${options.stores.join(', ')}\n`,
    );
    const all: Measured[] = [];
    for (let round = 0; round < options.rounds; round++) {
      for (const kind of options.stores) {
        // Alternate the order between rounds so that neither variant always runs first.
        const order = round % 2 === 0 ? options.perJob : [...options.perJob].reverse();
        for (const perJob of order) {
          const m = await measure(options, kind, perJob, paths, model);
          all.push(m);
          process.stderr.write(
            `  round ${round + 1} ${kind} objects/job ${perJob}: ${fixed(m.imagesPerSecond, 0)} images/s, ` +
              `worker ${fixed(m.workerCpuMsPerImage, 3)} ms CPU/image, ingest+results ${fixed(m.mainCpuMsPerImage, 3)}, ` +
              `redis ${fixed(m.redisCpuMsPerImage, 3)}\n`,
          );
        }
      }
    }
    const rows = options.stores.flatMap((kind) =>
      options.perJob.map((perJob) => {
        const runs = all.filter((m) => m.store === kind && m.perJob === perJob);
        const baseline = all.filter((m) => m.store === kind && m.perJob === 1);
        // Ratio per round against the baseline of the same round, then the median.
        const ratios = runs.map((m, i) => m.imagesPerSecond / (baseline[i]?.imagesPerSecond ?? NaN));
        return {
          store: kind,
          objectsPerJob: perJob,
          imagesPerSecond: median(runs.map((m) => m.imagesPerSecond)),
          imagesPerSecondRange: [
            Math.min(...runs.map((m) => m.imagesPerSecond)),
            Math.max(...runs.map((m) => m.imagesPerSecond)),
          ],
          ratioToOnePerJob: median(ratios),
          workerCpuMsPerImage: median(runs.map((m) => m.workerCpuMsPerImage)),
          ingestAndResultsCpuMsPerImage: median(runs.map((m) => m.mainCpuMsPerImage)),
          redisCpuMsPerImage: median(runs.map((m) => m.redisCpuMsPerImage)),
          ingestSeconds: median(runs.map((m) => m.ingestSeconds)),
        };
      }),
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ options, rows }, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      '| store | objects/job | images/s (median, range) | x one job per image | worker CPU ms/image | ingest+results CPU ms/image | Redis CPU ms/image |\n' +
        '|---|---|---|---|---|---|---|\n',
    );
    for (const r of rows) {
      process.stdout.write(
        `| ${r.store} | ${r.objectsPerJob} | ${fixed(r.imagesPerSecond, 0)} (${fixed(r.imagesPerSecondRange[0] ?? 0, 0)}-${fixed(r.imagesPerSecondRange[1] ?? 0, 0)}) | ` +
          `${fixed(r.ratioToOnePerJob, 2)} | ${fixed(r.workerCpuMsPerImage, 3)} | ${fixed(r.ingestAndResultsCpuMsPerImage, 3)} | ${fixed(r.redisCpuMsPerImage, 3)} |\n`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
