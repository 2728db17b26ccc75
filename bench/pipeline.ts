/**
 * `pnpm bench pipeline [--images 200] [--rounds 3] [--size 512] [--batch 8] [--spin-ablation]`
 * `pnpm bench pipeline --peer python [--images 40] [--rounds 3] [--levers] [--cxr-env K=V,...]`
 *
 * `--peer python` (see runPythonPeer below): `cxr screen` (the compiled bin, as users run it;
 * `pnpm build` first) against the seed-style Python pipeline (bench/seed_pipeline.py) on the same
 * archive, alternating pairs: wall time and peak RSS of each process tree. Skipped with a note
 * when Debian's python3-pydicom, python3-gdcm, python3-pil, python3-torch or python3-torchvision
 * is missing. `--levers` adds one `cxr screen` run per memory setting per round (RSS and
 * throughput against the default of the same round); `--cxr-env` sets variables for every
 * `cxr screen` run of the comparison.
 *
 * Without `--peer`:
 * Throughput of `cxr screen` (ingest, queue, decode pool, dynamic batcher, ONNX, results store, as
 * a real process against Redis) next to a bare serial loop over the same files with the same
 * runtime in the same run: read, decode and preprocess on the main thread, infer in batches of
 * `--batch`, no queue, no store. The archive is `--images` 2048x2500 12-bit CRs cycling through
 * every transfer syntax of the benchmark fixture set (hard links under distinct names, so each is
 * its own object for the queue). Rounds alternate which side runs first, so a slow drift of the
 * machine does not favour one side. Reported per round and as the median ratio; the target
 * (pipeline >= bare loop) is reported, never enforced.
 *
 * Two figures for `cxr screen`: `steady` counts from the worker's start to the last result stored
 * (the summary's images/s), `process` divides by the whole process time including Node start-up,
 * the model load and the store; the bare loop is timed from its first read to its last batch.
 * `--spin-ablation` adds a third run per round: `cxr screen` with CXR_ONNX_ALLOW_SPINNING=0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { packBatch, runDecodeTask } from '@cxr/imaging';
import { initSeedModel, loadRuntime, type ModelBundle } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { generateBenchSet } from '@cxr/fixtures';
import { runMeasured, type MeasuredRun } from './lib/process-tree.js';

const REDIS_URL = process.env.CXR_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLI_MAIN = fileURLToPath(new URL('../services/cli/src/main.ts', import.meta.url));
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli');
/** The compiled bin, as users run it (`pnpm build`). */
const CXR_BIN = fileURLToPath(new URL('../services/cli/bin/cxr.js', import.meta.url));
const CXR_DIST_MAIN = fileURLToPath(new URL('../services/cli/dist/main.js', import.meta.url));
const SEED_PIPELINE_PY = fileURLToPath(new URL('./seed_pipeline.py', import.meta.url));
// Debian's interpreter: the python3-* packages install into its dist-packages, which another
// python3 on the PATH (pyenv, a venv) does not see.
const PYTHON = '/usr/bin/python3';
const PYTHON_PACKAGES = 'python3-pydicom, python3-gdcm, python3-pil, python3-torch, python3-torchvision';

interface ScreenRun {
  readonly steadyImagesPerSecond: number;
  readonly processImagesPerSecond: number;
  readonly ok: number;
  readonly stages: Record<string, { p50Ms: number; p95Ms: number }>;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
};

/** The archive: `count` hard links cycling through the bench set's DICOM files (or `only`). */
async function buildArchive(dir: string, count: number, only?: (path: string) => boolean): Promise<string[]> {
  const set = await generateBenchSet();
  const sources = set.fixtures
    .filter((f) => f.kind === 'decode')
    .map((f) => f.path)
    .filter((path) => only?.(path) ?? true);
  if (sources.length === 0) throw new Error('the benchmark fixture set has no DICOM files');
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const source = sources[i % sources.length] ?? '';
    const path = join(dir, `img-${String(i).padStart(4, '0')}-${basename(source)}`);
    await link(source, path);
    files.push(path);
  }
  return files;
}

/** Decode, preprocess and infer every file serially, batching `batch` images per inference. */
async function bareLoop(files: readonly string[], bundle: ModelBundle, batch: number): Promise<number> {
  const runtime = await loadRuntime(bundle, { runtime: 'onnx', threads: availableParallelism() });
  try {
    const input = bundle.manifest.input;
    const start = performance.now();
    let pending: Float32Array[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      await runtime.predict(packBatch(pending, input), pending.length);
      pending = [];
    };
    for (const file of files) {
      const bytes = await readFile(file);
      const decoded = await runDecodeTask(bytes, { output: { model: input, accept: null } });
      pending.push(decoded.pixels);
      if (pending.length === batch) await flush();
    }
    await flush();
    return files.length / ((performance.now() - start) / 1000);
  } finally {
    await runtime.close();
  }
}

/** `cxr screen` as a child process on a fresh queue prefix and store. */
/** Deletes a run's screen and result queues (their keys under `prefix`). */
async function removeQueues(prefix: string): Promise<void> {
  const connection = redisConnectionFromUrl(REDIS_URL);
  const screen = new ScreenQueue({ connection, prefix });
  const results = new ResultQueue({ connection, prefix });
  await screen.obliterate({ force: true });
  await results.obliterate({ force: true });
  await Promise.all([screen.close(), results.close()]);
}

async function screenRun(
  archive: string,
  modelDir: string,
  work: string,
  batch: number,
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<ScreenRun> {
  const prefix = `cxr-bench-pipeline-${randomBytes(4).toString('hex')}`;
  const store = join(work, `${prefix}.sqlite`);
  const env = {
    ...process.env,
    CXR_REDIS_URL: REDIS_URL,
    CXR_QUEUE_PREFIX: prefix,
    CXR_RUNTIME: 'onnx',
    CXR_MAX_BATCH: String(batch),
    CXR_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const started = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          TSX_CLI,
          CLI_MAIN,
          'screen',
          pathToFileURL(archive).href,
          '--model',
          modelDir,
          '--store',
          `sqlite:${store}`,
          '--json',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
      child.on('error', reject);
      child.on('close', (exit) => {
        resolve({ code: exit, stdout: out, stderr: err });
      });
    },
  );
  const processSeconds = (performance.now() - started) / 1000;
  try {
    if (code !== 0) throw new Error(`cxr screen exited with ${String(code)}: ${stderr.slice(-1000)}`);
    const summary = JSON.parse(stdout) as {
      outcomes: { ok: number; rejected: number; failed: number };
      imagesPerSecond: number;
      stages: Record<string, { p50Ms: number; p95Ms: number }>;
    };
    const stored = summary.outcomes.ok + summary.outcomes.rejected + summary.outcomes.failed;
    return {
      steadyImagesPerSecond: summary.imagesPerSecond,
      processImagesPerSecond: stored / processSeconds,
      ok: summary.outcomes.ok,
      stages: summary.stages,
    };
  } finally {
    await removeQueues(prefix);
  }
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      images: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      size: { type: 'string', default: '512' },
      batch: { type: 'string', default: '8' },
      'spin-ablation': { type: 'boolean', default: false },
      peer: { type: 'string', default: 'bare' },
      levers: { type: 'boolean', default: false },
      'cxr-env': { type: 'string', default: '' },
    },
  });
  if (values.peer !== 'bare' && values.peer !== 'python') throw new Error('--peer must be bare or python');
  const images = Number(values.images ?? (values.peer === 'python' ? '40' : '200'));
  const rounds = Number(values.rounds);
  const size = Number(values.size);
  const batch = Number(values.batch);
  for (const [name, value] of Object.entries({ images, rounds, size, batch })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  }

  if (values.peer === 'python') {
    await runPythonPeer({
      images,
      rounds,
      size,
      batch,
      levers: values.levers,
      cxrEnv: parseEnv(values['cxr-env']),
    });
    return;
  }

  const work = await mkdtemp(join(tmpdir(), 'cxr-bench-pipeline-'));
  try {
    const archive = join(work, 'archive');
    const files = await buildArchive(archive, images);
    const bundle = await initSeedModel({ outDir: join(work, 'model'), size, format: 'onnx', seed: 0 });
    process.stdout.write(
      `pipeline bench: ${images} images (2048x2500 CR, ${new Set(files.map((f) => f.replace(/^.*img-\d+-/, ''))).size} transfer syntaxes), ` +
        `seeded DenseNet121 ONNX at ${size}, batch ${batch}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]?.toFixed(2) ?? '?'}\n`,
    );
    const ratios: number[] = [];
    const noSpinRatios: number[] = [];
    const processRatios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      let bare = 0;
      let screened: ScreenRun | undefined;
      // Alternate the order so neither side always runs on a cooler (or warmer) machine.
      if (round % 2 === 1) {
        bare = await bareLoop(files, bundle, batch);
        screened = await screenRun(archive, bundle.dir, work, batch);
      } else {
        screened = await screenRun(archive, bundle.dir, work, batch);
        bare = await bareLoop(files, bundle, batch);
      }
      if (screened.ok !== images) throw new Error(`cxr screen stored ${screened.ok} ok results of ${images}`);
      const ratio = screened.steadyImagesPerSecond / bare;
      ratios.push(ratio);
      processRatios.push(screened.processImagesPerSecond / bare);
      if (values['spin-ablation']) {
        // Ablation: the same pipeline without onnxruntime's spin-waiting threads.
        const noSpin = await screenRun(archive, bundle.dir, work, batch, { CXR_ONNX_ALLOW_SPINNING: '0' });
        noSpinRatios.push(noSpin.steadyImagesPerSecond / screened.steadyImagesPerSecond);
        process.stdout.write(
          `round ${round}: cxr screen without spinning onnx threads ${noSpin.steadyImagesPerSecond.toFixed(2)} img/s ` +
            `(${(noSpin.steadyImagesPerSecond / screened.steadyImagesPerSecond).toFixed(2)}x the default)\n`,
        );
      }
      const stages = Object.entries(screened.stages)
        .map(([stage, s]) => `${stage} ${s.p50Ms.toFixed(0)}/${s.p95Ms.toFixed(0)}`)
        .join(', ');
      process.stdout.write(
        `round ${round}: bare loop ${bare.toFixed(2)} img/s; cxr screen ${screened.steadyImagesPerSecond.toFixed(2)} img/s steady ` +
          `(${ratio.toFixed(2)}x), ${screened.processImagesPerSecond.toFixed(2)} img/s whole process ` +
          `(${(screened.processImagesPerSecond / bare).toFixed(2)}x); stage p50/p95 ms: ${stages}\n`,
      );
    }
    const m = median(ratios);
    process.stdout.write(
      `median ratio cxr screen / bare loop: ${m.toFixed(2)}x steady, ${median(processRatios).toFixed(2)}x whole process ` +
        `(target >= 1.00: ${m >= 1 ? 'met' : 'NOT met'})\n`,
    );
    if (noSpinRatios.length > 0) {
      process.stdout.write(
        `median ratio non-spinning / spinning (default) onnx threads in cxr screen: ${median(noSpinRatios).toFixed(2)}x\n`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `K=V,K=V` into an environment object. */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--cxr-env: "${pair}" is not KEY=VALUE`);
    env[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return env;
}

/**
 * Memory settings measured by `--levers`, each one `cxr screen` run per round beside the default
 * (see docs/benchmarks.md#memory).
 */
const LEVERS: readonly { readonly name: string; readonly env: Readonly<Record<string, string>> }[] = [
  { name: 'onnx arena and memory pattern off', env: { CXR_ONNX_MEM_ARENA: '0', CXR_ONNX_MEM_PATTERN: '0' } },
  { name: 'sharp cache on (CXR_SHARP_CACHE=1)', env: { CXR_SHARP_CACHE: '1' } },
  { name: 'worker concurrency 8 (CXR_WORKER_CONCURRENCY=8)', env: { CXR_WORKER_CONCURRENCY: '8' } },
  { name: 'one decode thread (CXR_DECODE_THREADS=1)', env: { CXR_DECODE_THREADS: '1' } },
  { name: 'glibc arenas 2 (MALLOC_ARENA_MAX=2)', env: { MALLOC_ARENA_MAX: '2' } },
];

interface PeerRun {
  readonly wallSeconds: number;
  /** Images per second from the first read to the last result (cxr: its summary; python: its loop). */
  readonly steadyImagesPerSecond: number;
  readonly peakRssBytes: number;
  readonly maxHwmBytes: number;
}

const GiB = 1024 ** 3;
const gib = (bytes: number): string => (bytes / GiB).toFixed(2);

function pythonMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import pydicom, gdcm, PIL, torch, torchvision'], {
    encoding: 'utf8',
  });
  if (probe.error !== undefined) return `${PYTHON} not found`;
  if (probe.status !== 0) return probe.stderr.trim().split('\n').at(-1) ?? 'import failed';
  return undefined;
}

/** `cxr screen` (the compiled bin) as a measured process tree on a fresh queue prefix and store. */
async function measuredScreen(
  archive: string,
  modelDir: string,
  work: string,
  batch: number,
  env: Readonly<Record<string, string>>,
  images: number,
): Promise<PeerRun> {
  const prefix = `cxr-bench-pipeline-${randomBytes(4).toString('hex')}`;
  try {
    const run = await runMeasured(
      process.execPath,
      [
        CXR_BIN,
        'screen',
        pathToFileURL(archive).href,
        '--model',
        modelDir,
        '--store',
        `sqlite:${join(work, `${prefix}.sqlite`)}`,
        '--json',
      ],
      {
        env: {
          ...process.env,
          // As a user's shell runs it: no tsx loader, no @cxr/source condition.
          NODE_OPTIONS: '',
          CXR_REDIS_URL: REDIS_URL,
          CXR_QUEUE_PREFIX: prefix,
          CXR_RUNTIME: 'onnx',
          CXR_MAX_BATCH: String(batch),
          CXR_LOG_LEVEL: 'warn',
          ...env,
        },
      },
    );
    failed(run, 'cxr screen');
    const summary = JSON.parse(run.stdout) as { outcomes: { ok: number }; imagesPerSecond: number };
    if (summary.outcomes.ok !== images)
      throw new Error(`cxr screen stored ${summary.outcomes.ok} ok results of ${images}`);
    return {
      wallSeconds: run.wallSeconds,
      steadyImagesPerSecond: summary.imagesPerSecond,
      peakRssBytes: run.peakTreeRssBytes,
      maxHwmBytes: run.maxHwmBytes,
    };
  } finally {
    await removeQueues(prefix);
  }
}

function failed(run: MeasuredRun, what: string): void {
  if (run.code !== 0) throw new Error(`${what} exited with ${String(run.code)}: ${run.stderr.slice(-1000)}`);
}

async function measuredPython(
  files: readonly string[],
  size: number,
  batch: number,
  labels: number,
): Promise<PeerRun> {
  const run = await runMeasured(PYTHON, [
    SEED_PIPELINE_PY,
    '--size',
    String(size),
    '--batch',
    String(batch),
    '--labels',
    String(labels),
    ...files,
  ]);
  failed(run, 'seed_pipeline.py');
  const out = JSON.parse(run.stdout) as { images: number; seconds: number };
  if (out.images !== files.length)
    throw new Error(`seed_pipeline.py screened ${out.images} of ${files.length}`);
  return {
    wallSeconds: run.wallSeconds,
    steadyImagesPerSecond: out.images / out.seconds,
    peakRssBytes: run.peakTreeRssBytes,
    maxHwmBytes: run.maxHwmBytes,
  };
}

/**
 * `cxr screen` against the seed-style Python pipeline on one archive: the bench set's 2048x2500
 * CRs that pydicom + gdcm can decode (HTJ2K is left out: neither decodes it), `images` hard links.
 */
async function runPythonPeer(o: {
  images: number;
  rounds: number;
  size: number;
  batch: number;
  levers: boolean;
  cxrEnv: Readonly<Record<string, string>>;
}): Promise<void> {
  const missing = pythonMissing();
  if (missing !== undefined) {
    process.stdout.write(
      `pipeline bench --peer python: skipped, the Python pipeline cannot run (${missing}); install ${PYTHON_PACKAGES}\n`,
    );
    return;
  }
  if (!existsSync(CXR_DIST_MAIN))
    throw new Error('bench pipeline --peer python: run `pnpm build` first (it runs the compiled cxr)');
  const work = await mkdtemp(join(tmpdir(), 'cxr-bench-pipeline-'));
  try {
    const set = await generateBenchSet();
    const candidates = set.fixtures.filter((f) => f.kind === 'decode').map((f) => f.path);
    const probe = spawnSync(PYTHON, [SEED_PIPELINE_PY, '--probe', ...candidates], { encoding: 'utf8' });
    const decodable = new Set(probe.stdout.split('\n').filter((l) => l !== ''));
    const left = candidates.filter((c) => !decodable.has(c)).map((c) => basename(c));
    const archive = join(work, 'archive');
    const files = await buildArchive(archive, o.images, (path) => decodable.has(path));
    const bundle = await initSeedModel({
      outDir: join(work, 'model'),
      size: o.size,
      format: 'onnx',
      seed: 0,
    });
    const labels = bundle.manifest.output.labels.length;
    process.stdout.write(
      `pipeline bench --peer python: ${o.images} images (2048x2500 CR, ${decodable.size} transfer syntaxes; left out, ` +
        `pydicom + gdcm cannot decode: ${left.join(', ') || 'none'}), DenseNet121 at ${o.size}, batch ${o.batch}, ` +
        `${cpus().length} cores, load ${loadavg()[0]?.toFixed(2) ?? '?'}; cxr env ${JSON.stringify(o.cxrEnv)}\n`,
    );
    const wall: number[] = [];
    const steady: number[] = [];
    const rss: number[] = [];
    const leverRss = new Map<string, number[]>();
    const leverSpeed = new Map<string, number[]>();
    for (let round = 1; round <= o.rounds; round++) {
      let cxr: PeerRun;
      let py: PeerRun;
      if (round % 2 === 1) {
        cxr = await measuredScreen(archive, bundle.dir, work, o.batch, o.cxrEnv, o.images);
        py = await measuredPython(files, o.size, o.batch, labels);
      } else {
        py = await measuredPython(files, o.size, o.batch, labels);
        cxr = await measuredScreen(archive, bundle.dir, work, o.batch, o.cxrEnv, o.images);
      }
      wall.push(cxr.wallSeconds / py.wallSeconds);
      steady.push(py.steadyImagesPerSecond / cxr.steadyImagesPerSecond);
      rss.push(cxr.peakRssBytes / py.peakRssBytes);
      process.stdout.write(
        `round ${round}: cxr screen ${cxr.wallSeconds.toFixed(1)} s, ${cxr.steadyImagesPerSecond.toFixed(2)} img/s steady, ` +
          `peak RSS ${gib(cxr.peakRssBytes)} GiB (largest process ${gib(cxr.maxHwmBytes)}); python ${py.wallSeconds.toFixed(1)} s, ` +
          `${py.steadyImagesPerSecond.toFixed(2)} img/s steady, peak RSS ${gib(py.peakRssBytes)} GiB; ` +
          `ours/python: wall ${(cxr.wallSeconds / py.wallSeconds).toFixed(2)}x, steady time ` +
          `${(py.steadyImagesPerSecond / cxr.steadyImagesPerSecond).toFixed(2)}x, peak RSS ${(cxr.peakRssBytes / py.peakRssBytes).toFixed(2)}x\n`,
      );
      if (!o.levers) continue;
      for (const lever of LEVERS) {
        const run = await measuredScreen(
          archive,
          bundle.dir,
          work,
          o.batch,
          { ...o.cxrEnv, ...lever.env },
          o.images,
        );
        leverRss.set(lever.name, [...(leverRss.get(lever.name) ?? []), run.peakRssBytes / cxr.peakRssBytes]);
        leverSpeed.set(lever.name, [
          ...(leverSpeed.get(lever.name) ?? []),
          run.steadyImagesPerSecond / cxr.steadyImagesPerSecond,
        ]);
        process.stdout.write(
          `round ${round}: ${lever.name}: peak RSS ${gib(run.peakRssBytes)} GiB (${(run.peakRssBytes / cxr.peakRssBytes).toFixed(2)}x the default), ` +
            `${run.steadyImagesPerSecond.toFixed(2)} img/s (${(run.steadyImagesPerSecond / cxr.steadyImagesPerSecond).toFixed(2)}x)\n`,
        );
      }
    }
    const spread = (v: readonly number[]): string =>
      `${median(v).toFixed(2)}x (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})`;
    process.stdout.write(
      `median ours/python over ${o.rounds} rounds: wall time ${spread(wall)}, steady time per image ${spread(steady)}, ` +
        `peak RSS ${spread(rss)} (target <= 1.20x: ${median(rss) <= 1.2 ? 'met' : 'NOT met'})\n`,
    );
    for (const [name, ratios] of leverRss) {
      process.stdout.write(
        `lever ${name}: peak RSS ${spread(ratios)} of the default, throughput ${spread(leverSpeed.get(name) ?? [])}\n`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
