/**
 * `pnpm bench train [--size 512] [--tiny] [--images 24] [--image-size 1024] [--runs 3]
 *  [--threads N] [--vectors 10000] [--dim 1024] [--epochs 2] [--batch 32] [--backends wasm,cpu]
 *  [--no-extraction] [--no-head]`
 *
 * The two costs of `cxr train`:
 * 1. Feature extraction, images/s: our path (the `cxr train` extraction: fetch, header, decode
 *    pool, preprocessing, base model on the onnx runtime worker, feature cache write; every run
 *    with an empty cache) against bare onnxruntime-node `session.run` on the same preprocessed
 *    tensors and batches (the model alone: the ceiling), and our runtime's predict on the same
 *    batches (isolates the worker hop). The base is the seed DenseNet121 at --size (--tiny: blocks
 *    1/1/1/1, for a quick look); images are synthetic phantoms (@cxr/fixtures).
 * 2. Head training on cached features: seconds per epoch for --vectors synthetic --dim vectors
 *    (two Gaussian classes, 10% positives) with our trainer (wasm backend by default; cpu is the
 *    pure-JS one, ~10x slower) against tfjs's own `model.fit` of the same head on the same backend
 *    (one epoch per call, same batch size).
 * Several runs each; medians reported. A benchmark, not a test: nothing is asserted.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { packBatch, runDecodeTask } from '@cxr/imaging';
import { initSeedModel, loadBundle, loadRuntime, onnxSessionOptions } from '@cxr/model';
import { buildHeadModel, mulberry32, trainHead, type TrainingBackend } from '@cxr/model/train';
import { syntheticLabelsCsv, writeSyntheticTrainingSet } from '@cxr/fixtures';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli');
const CXR_MAIN = fileURLToPath(new URL('../services/cli/src/main.ts', import.meta.url));
// Images per runtime batch: the value `cxr train` uses.
const EXTRACTION_BATCH = 8;

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmt = (x: number, digits = 1): string => x.toFixed(digits);

interface Options {
  readonly size: number;
  readonly tiny: boolean;
  readonly images: number;
  readonly imageSize: number;
  readonly runs: number;
  readonly threads: number;
  readonly vectors: number;
  readonly dim: number;
  readonly epochs: number;
  readonly batch: number;
  readonly extraction: boolean;
  readonly head: boolean;
  readonly backends: readonly TrainingBackend[];
}

function parse(args: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...args],
    options: {
      size: { type: 'string', default: '512' },
      tiny: { type: 'boolean', default: false },
      images: { type: 'string', default: '24' },
      'image-size': { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      threads: { type: 'string', default: String(availableParallelism()) },
      vectors: { type: 'string', default: '10000' },
      dim: { type: 'string', default: '1024' },
      epochs: { type: 'string', default: '2' },
      batch: { type: 'string', default: '32' },
      'no-extraction': { type: 'boolean', default: false },
      'no-head': { type: 'boolean', default: false },
      backends: { type: 'string', default: 'wasm' },
    },
  });
  const int = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  return {
    size: int('size', values.size),
    tiny: values.tiny,
    images: int('images', values.images),
    imageSize: int('image-size', values['image-size']),
    runs: int('runs', values.runs),
    threads: int('threads', values.threads),
    vectors: int('vectors', values.vectors),
    dim: int('dim', values.dim),
    epochs: int('epochs', values.epochs),
    batch: int('batch', values.batch),
    extraction: !values['no-extraction'],
    head: !values['no-head'],
    backends: values.backends.split(',').map((b) => {
      if (b !== 'wasm' && b !== 'cpu') throw new RangeError(`--backends: expected wasm and/or cpu, got ${b}`);
      return b;
    }),
  };
}

interface TrainRunSummary {
  readonly data: { readonly computed: number; readonly seconds: number };
  readonly featureCache: { readonly dir: string; readonly key: string };
}

/** Runs `cxr train` as a real process (its extraction is what is measured); returns its summary. */
function cxrTrain(args: readonly string[], threads: number): Promise<TrainRunSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX_CLI, CXR_MAIN, 'train', ...args, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CXR_DECODE_THREADS: String(threads), CXR_RUNTIME_THREADS: String(threads) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`cxr train exited ${String(code)}: ${stderr.slice(-1000)}`));
      else resolve(JSON.parse(stdout) as TrainRunSummary);
    });
  });
}

async function benchExtraction(o: Options): Promise<void> {
  const tag = `${o.size}${o.tiny ? '-tiny' : ''}`;
  const baseDir = join(OUT_DIR, `train-base-${tag}`);
  if (!existsSync(join(baseDir, 'manifest.json'))) {
    process.stdout.write(`building the seed base (${tag}, tfjs-layers) in ${baseDir}...\n`);
    await initSeedModel({
      outDir: baseDir,
      size: o.size,
      format: 'tfjs-layers',
      seed: 0,
      date: new Date(0),
      ...(o.tiny ? { blocks: [1, 1, 1, 1] as const } : {}),
    });
  }
  const imagesDir = join(OUT_DIR, `train-images-${o.images}-${o.imageSize}`);
  const images = await writeSyntheticTrainingSet({
    dir: imagesDir,
    count: o.images,
    seed: 1,
    size: o.imageSize,
  });
  const work = await mkdtemp(join(tmpdir(), 'cxr-bench-train-'));
  try {
    const labelsPath = join(work, 'labels.csv');
    await writeFile(labelsPath, syntheticLabelsCsv(images));
    const ours: number[] = [];
    let first: TrainRunSummary | undefined;
    for (let run = 0; run < o.runs; run++) {
      // An empty cache per run: every feature vector is computed.
      const summary = await cxrTrain(
        [
          '--data',
          labelsPath,
          '--images',
          `file://${imagesDir}`,
          '--base',
          baseDir,
          '--out',
          join(work, `out-${run}`),
          '--cache',
          join(work, `cache-${run}`),
          '--epochs',
          '1',
          '--val-split',
          '0.3',
          '--class-weights',
          'none',
        ],
        o.threads,
      );
      if (summary.data.computed !== images.length) {
        throw new Error(`cxr train computed ${summary.data.computed} of ${images.length} feature vectors`);
      }
      first ??= summary;
      ours.push(summary.data.computed / summary.data.seconds);
    }
    if (first === undefined) throw new Error('no run');

    // Baselines on the very graph cxr train exported, with the same preprocessed tensors.
    const features = await loadBundle(join(first.featureCache.dir, first.featureCache.key, 'onnx-base'));
    const input = features.manifest.input;
    const tensors: Float32Array[] = [];
    for (const image of images) {
      tensors.push(
        (await runDecodeTask(await readFile(image.path), { output: { model: input, accept: null } })).pixels,
      );
    }
    const batches: { data: Float32Array; n: number }[] = [];
    for (let i = 0; i < tensors.length; i += EXTRACTION_BATCH) {
      const slice = tensors.slice(i, i + EXTRACTION_BATCH);
      batches.push({ data: packBatch(slice, input), n: slice.length });
    }
    const shape = (n: number): number[] => [n, input.channels, input.size, input.size];
    const runtimeOnly: number[] = [];
    const bare: number[] = [];
    const runtime = await loadRuntime(features, { runtime: 'onnx', threads: o.threads });
    const session = await ort.InferenceSession.create(
      features.weightPaths[0]!,
      onnxSessionOptions(o.threads),
    );
    const inputName = session.inputNames[0]!;
    try {
      const warm = batches[0]!;
      await runtime.predict(warm.data, warm.n);
      await session.run({ [inputName]: new ort.Tensor('float32', warm.data, shape(warm.n)) });
      for (let run = 0; run < o.runs; run++) {
        const t1 = performance.now();
        for (const b of batches) await runtime.predict(b.data, b.n);
        runtimeOnly.push(images.length / ((performance.now() - t1) / 1000));
        const t2 = performance.now();
        for (const b of batches)
          await session.run({ [inputName]: new ort.Tensor('float32', b.data, shape(b.n)) });
        bare.push(images.length / ((performance.now() - t2) / 1000));
      }
    } finally {
      await runtime.close();
      await session.release();
    }
    const featureDim = features.manifest.output.labels.length;
    process.stdout.write(
      [
        '',
        `## Feature extraction: base ${tag} (${featureDim}-d features), ${o.images} synthetic ${o.imageSize}x${o.imageSize} 12-bit DICOMs, batch ${EXTRACTION_BATCH}, ${o.threads} threads, ${o.runs} runs (median images/s)`,
        '',
        '| path | images/s | runs |',
        '|---|---|---|',
        `| cxr train extraction (fetch, header, decode pool, preprocess, onnx runtime worker, cache write) | ${fmt(median(ours))} | ${ours.map((x) => fmt(x)).join(', ')} |`,
        `| our onnx runtime predict only (preprocessed batches) | ${fmt(median(runtimeOnly))} | ${runtimeOnly.map((x) => fmt(x)).join(', ')} |`,
        `| bare onnxruntime-node session.run (baseline, same batches) | ${fmt(median(bare))} | ${bare.map((x) => fmt(x)).join(', ')} |`,
        '',
      ].join('\n'),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Two Gaussian classes in `dim` dimensions, 10% positives, means 0.3 apart on 32 dimensions. */
function syntheticVectors(
  n: number,
  dim: number,
  seed: number,
): { features: Float32Array; labels: Float32Array } {
  const random = mulberry32(seed);
  const gaussian = (): number =>
    Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  const features = new Float32Array(n * dim);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const positive = random() < 0.1;
    labels[i] = positive ? 1 : 0;
    for (let d = 0; d < dim; d++) features[i * dim + d] = gaussian() + (positive && d < 32 ? 0.3 : 0);
  }
  return { features, labels };
}

async function benchHead(o: Options): Promise<void> {
  const train = syntheticVectors(o.vectors, o.dim, 1);
  const validation = syntheticVectors(Math.max(100, Math.round(o.vectors / 5)), o.dim, 2);
  const rows: string[] = [];
  for (const backend of o.backends) {
    const epochSeconds: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      const trained = await trainHead({
        features: train.features,
        labels: train.labels,
        validation,
        featureDim: o.dim,
        labelNames: ['finding'],
        activation: 'sigmoid',
        epochs: o.epochs,
        batchSize: o.batch,
        learningRate: 1e-3,
        loss: 'ce',
        focalGamma: 2,
        classWeights: 'auto',
        oversample: false,
        seed: run,
        patience: o.epochs,
        backend,
      });
      epochSeconds.push(...trained.history.map((e) => e.seconds));
    }
    rows.push(
      `| cxr trainHead, ${backend} (train + validation pass + metrics) | ${fmt(median(epochSeconds), 2)} | ${epochSeconds.map((x) => fmt(x, 2)).join(', ')} |`,
    );
    // Baseline: tfjs's own model.fit of the same head on the same backend, one epoch per call.
    // trainHead has just initialised this backend (wasm paths included) and restored the previous one.
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs: cannot select ${backend}`);
    await tf.ready();
    const fitSeconds: number[] = [];
    const x = tf.tensor2d(train.features, [o.vectors, o.dim]);
    const y = tf.tensor2d(train.labels, [o.vectors, 1]);
    try {
      for (let run = 0; run < o.runs; run++) {
        const model = buildHeadModel(o.dim, 1, 'sigmoid', { seed: run });
        model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
        for (let epoch = 0; epoch < o.epochs; epoch++) {
          const t0 = performance.now();
          await model.fit(x, y, { epochs: 1, batchSize: o.batch, shuffle: true });
          fitSeconds.push((performance.now() - t0) / 1000);
        }
        model.dispose();
      }
    } finally {
      x.dispose();
      y.dispose();
    }
    rows.push(
      `| tfjs model.fit, ${backend} (baseline: train pass only) | ${fmt(median(fitSeconds), 2)} | ${fitSeconds.map((v) => fmt(v, 2)).join(', ')} |`,
    );
  }
  process.stdout.write(
    [
      '',
      `## Head training: ${o.vectors} cached ${o.dim}-d vectors (+${validation.labels.length} validation), head ${o.dim}-256-1, batch ${o.batch}, ${o.epochs} epochs x ${o.runs} runs (median seconds per epoch)`,
      '',
      '| trainer | s/epoch | all epochs |',
      '|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

export async function run(args: readonly string[]): Promise<void> {
  const o = parse(args);
  process.stdout.write(
    `# pnpm bench train: ${cpus()[0]?.model ?? 'cpu'} x ${availableParallelism()}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, node ${process.version}\n`,
  );
  if (o.extraction) await benchExtraction(o);
  if (o.head) await benchHead(o);
}
