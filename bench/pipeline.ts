/**
 * `pnpm bench pipeline [--images 200] [--rounds 3] [--size 512] [--batch 8] [--spin-ablation]`
 *
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
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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

const REDIS_URL = process.env.CXR_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLI_MAIN = fileURLToPath(new URL('../services/cli/src/main.ts', import.meta.url));
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli');

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

/** The archive: `count` hard links cycling through the bench set's DICOM files. */
async function buildArchive(dir: string, count: number): Promise<string[]> {
  const set = await generateBenchSet();
  const sources = set.fixtures.filter((f) => f.kind === 'decode').map((f) => f.path);
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
    const connection = redisConnectionFromUrl(REDIS_URL);
    const screen = new ScreenQueue({ connection, prefix });
    const results = new ResultQueue({ connection, prefix });
    await screen.obliterate({ force: true });
    await results.obliterate({ force: true });
    await Promise.all([screen.close(), results.close()]);
  }
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      images: { type: 'string', default: '200' },
      rounds: { type: 'string', default: '3' },
      size: { type: 'string', default: '512' },
      batch: { type: 'string', default: '8' },
      'spin-ablation': { type: 'boolean', default: false },
    },
  });
  const images = Number(values.images);
  const rounds = Number(values.rounds);
  const size = Number(values.size);
  const batch = Number(values.batch);
  for (const [name, value] of Object.entries({ images, rounds, size, batch })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
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
