/**
 * `pnpm bench runtime [--sizes 224,512] [--batches 1,8] [--runs 5] [--runtimes onnx,tfjs-wasm]
 *  [--wasm-runs 1] [--threads N] [--no-ablation]`
 *
 * DenseNet121 seed model: our ModelRuntime adapters (preprocessed batch in, scores out, engine on
 * a worker thread) against bare onnxruntime-node `InferenceSession.run` on the same model file in
 * the same run, with onnxruntime's default session options and with our tuned ones. Every case
 * runs in its own child process so its peak RSS (process-wide: main thread + workers, Node and
 * tsx included) is its own. The target "cxr onnx within 5% of bare onnxruntime-node" is judged on
 * a paired run: the bare tuned session and our runtime in one process, alternating batch by batch,
 * so drift in machine load hits both alike. Targets are reported, never enforced.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  initSeedModel,
  loadBundle,
  loadRuntime,
  onnxSessionOptions,
  type ModelBundle,
  type ModelFormat,
  type OnnxRuntimeOptions,
} from '@cxr/model';
import * as ort from 'onnxruntime-node';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const SELF = fileURLToPath(import.meta.url);
// Seed 0 and a fixed date: the cached bundles are the same bytes on every machine.
const SEED = 0;

type BareOptions =
  'default' | { readonly label: string; readonly onnx: OnnxRuntimeOptions; readonly threads?: number };

type Job =
  | {
      kind: 'bare';
      options: BareOptions;
      modelPath: string;
      size: number;
      batches: number[];
      runs: number;
      threads: number;
    }
  | {
      kind: 'runtime';
      runtime: 'onnx' | 'tfjs-wasm';
      bundleDir: string;
      batches: number[];
      runs: number;
      threads: number;
    }
  | { kind: 'paired'; bundleDir: string; batches: number[]; runs: number; threads: number };

interface BatchTimes {
  batch: number;
  /** Seconds per run (warm-up excluded). */
  seconds: number[];
  /** Paired jobs: the bare tuned session's seconds, interleaved with `seconds`. */
  bareSeconds?: number[];
}

interface JobResult {
  times: BatchTimes[];
  peakRssMb: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function seededInput(count: number): Float32Array {
  const out = new Float32Array(count);
  let a = 12345;
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    out[i] = a / 2 ** 32 - 0.5;
  }
  return out;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

// ---- child side: one case per process ----

async function runJob(job: Job): Promise<JobResult> {
  const times: BatchTimes[] = [];
  if (job.kind === 'bare') {
    const modelPath = job.modelPath;
    const options =
      job.options === 'default'
        ? {}
        : {
            ...onnxSessionOptions(job.options.threads ?? job.threads, job.options.onnx),
            executionProviders: ['cpu'],
          };
    const session = await ort.InferenceSession.create(modelPath, options);
    const inputName = session.inputNames[0]!;
    for (const batch of job.batches) {
      const feed = new ort.Tensor('float32', seededInput(batch * 3 * job.size * job.size), [
        batch,
        3,
        job.size,
        job.size,
      ]);
      await session.run({ [inputName]: feed });
      const seconds: number[] = [];
      for (let i = 0; i < job.runs; i++) seconds.push(await timed(() => session.run({ [inputName]: feed })));
      times.push({ batch, seconds });
    }
    await session.release();
  } else {
    const bundle = await loadBundle(job.bundleDir);
    const size = bundle.manifest.input.size;
    const runtime = await loadRuntime(bundle, {
      runtime: job.kind === 'paired' ? 'onnx' : job.runtime,
      threads: job.threads,
    });
    // Paired: the bare session with exactly the options our runtime reports it uses.
    const bare =
      job.kind === 'paired'
        ? await ort.InferenceSession.create(bundle.weightPaths[0]!, {
            ...onnxSessionOptions(job.threads),
            executionProviders: ['cpu'],
          })
        : undefined;
    for (const batch of job.batches) {
      const input = seededInput(batch * 3 * size * size);
      const feed = bare && new ort.Tensor('float32', input, [batch, 3, size, size]);
      await runtime.predict(input, batch);
      if (bare && feed) await bare.run({ [bare.inputNames[0]!]: feed });
      const seconds: number[] = [];
      const bareSeconds: number[] = [];
      for (let i = 0; i < job.runs; i++) {
        seconds.push(await timed(() => runtime.predict(input, batch)));
        if (bare && feed) bareSeconds.push(await timed(() => bare.run({ [bare.inputNames[0]!]: feed })));
      }
      times.push({ batch, seconds, ...(bare ? { bareSeconds } : {}) });
    }
    await bare?.release();
    await runtime.close();
  }
  return { times, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

// ---- parent side ----

function runChild(job: Job): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, SELF, '--child', JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as JobResult);
      else
        reject(
          new Error(
            `bench child ${job.kind} exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
    });
  });
}

async function seedBundle(size: number, format: ModelFormat): Promise<ModelBundle> {
  const dir = join(OUT_DIR, 'models', `densenet121-${size}-${format}`);
  if (existsSync(join(dir, 'manifest.json'))) return loadBundle(dir);
  process.stderr.write(`building seed model ${size} ${format} (cached in ${dir})\n`);
  return initSeedModel({ outDir: dir, size, format, seed: SEED, date: new Date(0) });
}

function list(value: string): number[] {
  return value.split(',').map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`expected a list of positive integers, got "${value}"`);
    return n;
  });
}

const imagesPerSecond = (batch: number, seconds: readonly number[]): number => batch / median(seconds);
const fmt = (v: number | undefined, digits = 2): string => (v === undefined ? '-' : v.toFixed(digits));

// Each variant changes one setting of the tuned options (or threads), to show what it gives.
const ABLATIONS: { label: string; onnx: OnnxRuntimeOptions; threads?: number }[] = [
  { label: 'tuned', onnx: {} },
  { label: 'graphOptimizationLevel basic', onnx: { graphOptimizationLevel: 'basic' } },
  { label: 'graphOptimizationLevel disabled', onnx: { graphOptimizationLevel: 'disabled' } },
  { label: 'intraOpNumThreads 1', onnx: {}, threads: 1 },
  { label: 'executionMode parallel, interOp 2', onnx: { executionMode: 'parallel', interOpNumThreads: 2 } },
  { label: 'enableCpuMemArena false', onnx: { enableCpuMemArena: false } },
  { label: 'enableMemPattern false', onnx: { enableMemPattern: false } },
];

/** Entry point for `pnpm bench runtime`. */
export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      sizes: { type: 'string', default: '224,512' },
      batches: { type: 'string', default: '1,8' },
      runs: { type: 'string', default: '5' },
      'wasm-runs': { type: 'string', default: '1' },
      runtimes: { type: 'string', default: 'onnx,tfjs-wasm' },
      threads: { type: 'string', default: String(availableParallelism()) },
      ablation: { type: 'boolean', default: true },
    },
    allowNegative: true,
  });
  const sizes = list(values.sizes);
  const batches = list(values.batches);
  const runs = list(values.runs)[0]!;
  const wasmRuns = list(values['wasm-runs'])[0]!;
  const threads = list(values.threads)[0]!;
  const runtimes = values.runtimes.split(',');
  for (const r of runtimes)
    if (r !== 'onnx' && r !== 'tfjs-wasm') throw new Error(`--runtimes: unknown runtime "${r}"`);
  mkdirSync(OUT_DIR, { recursive: true });

  const load = loadavg()[0]!;
  process.stderr.write(
    `cpu: ${cpus()[0]?.model ?? '?'} x${availableParallelism()}, load ${load.toFixed(2)}, threads ${threads}\n`,
  );

  type Row = {
    size: number;
    batch: number;
    bareDefault?: number;
    bareTuned?: number;
    onnx?: number;
    pairedOnnx?: number;
    pairedBare?: number;
    wasm?: number;
    rssMb: Record<string, number>;
  };
  const rows: Row[] = [];
  const row = (size: number, batch: number): Row => {
    let r = rows.find((x) => x.size === size && x.batch === batch);
    if (r === undefined) {
      r = { size, batch, rssMb: {} };
      rows.push(r);
    }
    return r;
  };
  const ablation: {
    label: string;
    size: number;
    batch: number;
    imagesPerSecond: number;
    peakRssMb: number;
  }[] = [];

  for (const size of sizes) {
    if (runtimes.includes('onnx')) {
      const bundle = await seedBundle(size, 'onnx');
      const modelPath = bundle.weightPaths[0]!;
      const cases: [string, Job][] = [
        ['bareDefault', { kind: 'bare', options: 'default', modelPath, size, batches, runs, threads }],
        [
          'bareTuned',
          { kind: 'bare', options: { label: 'tuned', onnx: {} }, modelPath, size, batches, runs, threads },
        ],
        ['onnx', { kind: 'runtime', runtime: 'onnx', bundleDir: bundle.dir, batches, runs, threads }],
        ['paired', { kind: 'paired', bundleDir: bundle.dir, batches, runs, threads }],
      ];
      for (const [key, job] of cases) {
        process.stderr.write(`${size}px ${key}...\n`);
        const result = await runChild(job);
        for (const t of result.times) {
          const r = row(size, t.batch);
          r.rssMb[key] = result.peakRssMb;
          if (key === 'paired') {
            r.pairedOnnx = imagesPerSecond(t.batch, t.seconds);
            r.pairedBare = imagesPerSecond(t.batch, t.bareSeconds ?? []);
          } else {
            r[key as 'bareDefault' | 'bareTuned' | 'onnx'] = imagesPerSecond(t.batch, t.seconds);
          }
        }
      }
      if (values.ablation && size === Math.min(...sizes)) {
        for (const variant of ABLATIONS) {
          process.stderr.write(`${size}px ablation: ${variant.label}...\n`);
          const result = await runChild({
            kind: 'bare',
            options: variant,
            modelPath,
            size,
            batches,
            runs,
            threads,
          });
          for (const t of result.times) {
            ablation.push({
              label: variant.label,
              size,
              batch: t.batch,
              imagesPerSecond: imagesPerSecond(t.batch, t.seconds),
              peakRssMb: result.peakRssMb,
            });
          }
        }
      }
    }
    if (runtimes.includes('tfjs-wasm')) {
      const bundle = await seedBundle(size, 'tfjs-layers');
      process.stderr.write(`${size}px tfjs-wasm (${wasmRuns} run(s) per batch; slow)...\n`);
      const result = await runChild({
        kind: 'runtime',
        runtime: 'tfjs-wasm',
        bundleDir: bundle.dir,
        batches,
        runs: wasmRuns,
        threads,
      });
      for (const t of result.times) {
        const r = row(size, t.batch);
        r.wasm = imagesPerSecond(t.batch, t.seconds);
        r.rssMb.wasm = result.peakRssMb;
      }
    }
  }

  const lines = [
    `DenseNet121 seed model, images/s (median of ${runs} runs; tfjs-wasm ${wasmRuns}), ${threads} threads, load ${load.toFixed(2)} at start (shared machine: noisy)`,
    '',
    '| size | batch | bare ORT default | bare ORT tuned | cxr onnx | cxr onnx / bare tuned (paired) | cxr tfjs-wasm | peak RSS MB (default / tuned / cxr onnx / wasm) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const ratio =
        r.pairedOnnx !== undefined && r.pairedBare !== undefined ? r.pairedOnnx / r.pairedBare : undefined;
      const paired =
        ratio === undefined ? '-' : `${fmt(ratio, 3)} (${fmt(r.pairedOnnx)} vs ${fmt(r.pairedBare)})`;
      const rss = ['bareDefault', 'bareTuned', 'onnx', 'wasm'].map((k) => fmt(r.rssMb[k], 0)).join(' / ');
      return `| ${r.size} | ${r.batch} | ${fmt(r.bareDefault)} | ${fmt(r.bareTuned)} | ${fmt(r.onnx)} | ${paired} | ${fmt(r.wasm, 3)} | ${rss} |`;
    }),
  ];
  if (ablation.length > 0) {
    const tuned = (size: number, batch: number): number | undefined =>
      ablation.find((a) => a.label === 'tuned' && a.size === size && a.batch === batch)?.imagesPerSecond;
    lines.push(
      '',
      `Session option ablation (bare onnxruntime-node, ${ablation[0]!.size}px; each row changes one tuned setting)`,
      '',
      '| variant | batch | images/s | vs tuned | peak RSS MB |',
      '|---|---|---|---|---|',
      ...ablation.map(
        (a) =>
          `| ${a.label} | ${a.batch} | ${fmt(a.imagesPerSecond)} | ${fmt(a.imagesPerSecond / (tuned(a.size, a.batch) ?? NaN), 3)} | ${fmt(a.peakRssMb, 0)} |`,
      ),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = join(OUT_DIR, 'runtime.json');
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: availableParallelism(), loadAtStart: load, threads, runs, wasmRuns, rows, ablation }, null, 2)}\n`,
  );
  process.stderr.write(`wrote ${file}\n`);
}

// Child mode: `node <tsx flags> bench/runtime.ts --child <job json>` prints one JSON line.
if (process.argv[1] === SELF && process.argv[2] === '--child') {
  const job = JSON.parse(process.argv[3] ?? '') as Job;
  const result = await runJob(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
