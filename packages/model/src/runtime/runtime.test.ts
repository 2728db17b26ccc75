import { rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, ModelBundleError, type ModelBundle } from '../manifest.js';
import { randomInput, toNchw } from '../onnx/testing.js';
import { loadLayersModelFile, useCpuBackend } from '../tfjs-io.js';
import { loadRuntime } from './select.js';
import { editedCopy, maxAbsDiff, maxEventLoopStall, SMALL, smallBundles } from './testing.js';
import { isModelRuntimeError, type ModelRuntime } from './types.js';
import { WorkerRuntime } from './worker-host.js';

const { size } = SMALL;
const PER_IMAGE = 3 * size * size;
// float32 through three engines (tfjs cpu, ORT with folded batch norms, tfjs wasm/XNNPACK).
const TOLERANCE = 1e-4;

let root: string;
let tfjsBundle: ModelBundle;
let onnxBundle: ModelBundle;
let onnxRuntime: ModelRuntime;
let wasmRuntime: ModelRuntime;

async function cpuReference(nhwc: Float32Array, batch: number): Promise<Float32Array> {
  const model = await loadLayersModelFile(tfjsBundle.weightPaths[0]!);
  try {
    const x = tf.tensor4d(nhwc, [batch, size, size, 3]);
    const y = model.predict(x) as tf.Tensor;
    const out = Float32Array.from(await y.data());
    tf.dispose([x, y]);
    return out;
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  await useCpuBackend();
  ({ root, tfjs: tfjsBundle, onnx: onnxBundle } = await smallBundles());
  [onnxRuntime, wasmRuntime] = await Promise.all([
    loadRuntime(onnxBundle, { runtime: 'onnx', threads: 1 }),
    loadRuntime(tfjsBundle, { runtime: 'tfjs-wasm' }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([onnxRuntime.close(), wasmRuntime.close()]);
  await rm(root, { recursive: true, force: true });
});

describe('onnx and tfjs-wasm runtimes', () => {
  it.each([1, 3])('agree with each other and with tfjs cpu (batch %i)', async (batch) => {
    const nhwc = randomInput(batch * PER_IMAGE, 100 + batch);
    const expected = await cpuReference(nhwc, batch);
    const viaOnnx = await onnxRuntime.predict(toNchw(nhwc, batch, size, size, 3), batch);
    const viaWasm = await wasmRuntime.predict(nhwc, batch);
    const diffs = {
      onnxVsCpu: maxAbsDiff(viaOnnx, expected),
      wasmVsCpu: maxAbsDiff(viaWasm, expected),
      onnxVsWasm: maxAbsDiff(viaOnnx, viaWasm),
    };
    console.info(JSON.stringify({ msg: 'runtime agreement', batch, size, ...diffs }));
    expect(viaOnnx).toHaveLength(batch * 3);
    expect(viaWasm).toHaveLength(batch * 3);
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(TOLERANCE);
    // Not a trivial comparison: scores are not saturated, and differ between images.
    expect(Math.max(...expected)).toBeLessThan(0.99);
    if (batch > 1) expect(maxAbsDiff(expected.subarray(0, 3), expected.subarray(3, 6))).toBeGreaterThan(1e-3);
  });

  it('describes what runs', () => {
    const onnx = onnxRuntime.describe();
    expect(onnx).toMatchObject({ name: 'onnx', backend: ['cpu'], threads: 1, workerThread: true });
    expect(onnx.version).toMatch(/^onnxruntime-node 1\.30\./);
    expect(onnx.details.sessionOptions).toMatchObject({
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '1' } } },
    });
    // On the CPU a batch runs as runs of 2 images by default (the arena keeps one run's activations).
    expect(onnx.details.runBatch).toBe(2);
    const wasm = wasmRuntime.describe();
    expect(wasm).toMatchObject({ name: 'tfjs-wasm', backend: ['wasm'], threads: 1 });
    expect(wasm.details).toMatchObject({ simd: true });
    expect(wasm.bundle).toEqual({
      id: 'cxr-seed-densenet121',
      version: '0.0.0-seed.11',
      format: 'tfjs-layers',
    });
  });

  it.each(['onnx', 'tfjs-wasm'] as const)('%s rejects a batch whose length does not match', async (name) => {
    const runtime = name === 'onnx' ? onnxRuntime : wasmRuntime;
    await expect(runtime.predict(new Float32Array(PER_IMAGE * 2 - 1), 2)).rejects.toThrow(
      `predict: batch has ${PER_IMAGE * 2 - 1} values, expected ${PER_IMAGE * 2} = 2 x`,
    );
    await expect(runtime.predict(new Float32Array(0), 0)).rejects.toSatisfy((e) =>
      isModelRuntimeError(e, 'input_invalid'),
    );
    // The runtime still works afterwards.
    await expect(runtime.predict(new Float32Array(PER_IMAGE), 1)).resolves.toHaveLength(3);
  });

  it('onnx on the CPU gives a batch the same scores in runs of 1 or 2 as in one run of the whole batch', async () => {
    const whole = await loadRuntime(onnxBundle, { runtime: 'onnx', threads: 1, onnx: { cpuRunBatch: 0 } });
    const ones = await loadRuntime(onnxBundle, { runtime: 'onnx', threads: 1, onnx: { cpuRunBatch: 1 } });
    try {
      expect(whole.describe().details.runBatch).toBe('whole batch');
      expect(ones.describe().details.runBatch).toBe(1);
      const batch = toNchw(randomInput(5 * PER_IMAGE, 77), 5, size, size, 3);
      const reference = await whole.predict(batch, 5);
      for (const runtime of [onnxRuntime, ones]) {
        const scores = await runtime.predict(batch, 5);
        expect(scores).toHaveLength(15);
        expect(maxAbsDiff(scores, reference)).toBeLessThanOrEqual(1e-5);
      }
      // Each image's scores sit in its own row: the last image (a run of its own) is not the first.
      expect(maxAbsDiff(reference.subarray(0, 3), reference.subarray(12, 15))).toBeGreaterThan(1e-3);
    } finally {
      await Promise.all([whole.close(), ones.close()]);
    }
  });

  it('predicts from a view into a larger buffer', async () => {
    const big = randomInput(PER_IMAGE * 3, 5);
    const direct = await wasmRuntime.predict(big.slice(PER_IMAGE, PER_IMAGE * 2), 1);
    const view = await wasmRuntime.predict(big.subarray(PER_IMAGE, PER_IMAGE * 2), 1);
    expect(view).toEqual(direct);
  });
});

describe('bundles that do not match their manifest', () => {
  it.each([
    [
      'onnx',
      'onnx',
      `graph input [batch,3,${size},${size}] does not match manifest.input (size 64, channels 3, layout NCHW => [batch,3,64,64])`,
    ],
    [
      'tfjs-wasm',
      'tfjs',
      `graph input [?,${size},${size},3] does not match manifest.input (size 64, channels 3, layout NHWC => [batch,64,64,3])`,
    ],
  ] as const)(
    '%s refuses a manifest whose input size differs from the graph',
    async (runtime, which, message) => {
      const dir = path.join(root, `bad-size-${which}`);
      await editedCopy(which === 'onnx' ? onnxBundle : tfjsBundle, dir, (m) => {
        (m.input as { size: number }).size = 64;
      });
      const bundle = await loadBundle(dir);
      const error: unknown = await loadRuntime(bundle, { runtime }).catch((e: unknown) => e);
      expect(isModelRuntimeError(error, 'bundle_mismatch')).toBe(true);
      expect((error as Error).message).toBe(`bundle cxr-seed-densenet121@0.0.0-seed.11 (${dir}): ${message}`);
      // auto does not fall back to another runtime for a wrong bundle.
      await expect(loadRuntime(bundle, { runtime: 'auto' })).rejects.toThrow(message);
    },
    30_000,
  );

  it('refuses a manifest whose activation or labels disagree with the graph', async () => {
    const dir = path.join(root, 'bad-head');
    await editedCopy(onnxBundle, dir, (m) => {
      (m.output as { activation: string; decision: string }).activation = 'sigmoid';
      (m.output as { decision: string }).decision = 'thresholds';
    });
    await expect(loadRuntime(await loadBundle(dir), { runtime: 'onnx' })).rejects.toThrow(
      'graph applies activation "softmax" but manifest.output.activation says "sigmoid"',
    );
    const dir2 = path.join(root, 'bad-labels');
    await editedCopy(tfjsBundle, dir2, (m) => {
      const out = m.output as { labels: string[]; thresholds: Record<string, number>; normalLabel?: string };
      out.labels = ['a', 'b'];
      out.thresholds = { a: 0.5, b: 0.5 };
      // The no-finding label must stay one of the labels for the manifest itself to parse.
      if (out.normalLabel !== undefined) out.normalLabel = 'a';
    });
    await expect(loadRuntime(await loadBundle(dir2), { runtime: 'tfjs-wasm' })).rejects.toThrow(
      'graph output [?,3] does not match manifest.output.labels (2 labels => [batch,2])',
    );
  }, 30_000);

  it('surfaces missing weights: loadBundle refuses, and a file that vanished after it is named', async () => {
    const dir = path.join(root, 'no-weights');
    await editedCopy(onnxBundle, dir, () => undefined);
    const bundle = await loadBundle(dir);
    await unlink(path.join(dir, 'model.onnx'));
    await expect(loadBundle(dir)).rejects.toSatisfy(
      (e) =>
        e instanceof ModelBundleError &&
        e.code === 'weights_missing' &&
        e.message.includes('"model.onnx" is missing'),
    );
    const error: unknown = await loadRuntime(bundle, { runtime: 'onnx' }).catch((e: unknown) => e);
    expect(isModelRuntimeError(error, 'runtime_unavailable')).toBe(true);
    expect((error as Error).message).toContain(`cannot read ${path.join(dir, 'model.onnx')}`);
  });
});

describe('event loop', () => {
  // A batch big enough that one session.run takes >= 150 ms on this machine (bigger batches make
  // copying the input to the runtime's thread itself a stall of the loop).
  async function heavyBatch(): Promise<{ batch: number; bareStallMs: number; bareMs: number }> {
    const session = await ort.InferenceSession.create(onnxBundle.weightPaths[0]!, { intraOpNumThreads: 1 });
    try {
      for (let batch = 8; ; batch *= 2) {
        const feed = new ort.Tensor('float32', new Float32Array(batch * PER_IMAGE).fill(0.5), [
          batch,
          3,
          size,
          size,
        ]);
        const { stallMs, workMs } = await maxEventLoopStall(() => session.run({ input: feed }));
        if (workMs >= 150 || batch >= 256) return { batch, bareStallMs: stallMs, bareMs: workMs };
      }
    } finally {
      await session.release();
    }
  }

  it('bare onnxruntime-node session.run blocks it; the onnx and tfjs-wasm runtimes do not', async () => {
    const { batch, bareStallMs, bareMs } = await heavyBatch();
    const nchw = randomInput(batch * PER_IMAGE, 9);
    const onnx = await maxEventLoopStall(() => onnxRuntime.predict(nchw, batch));
    // wasm is ~5x slower: a smaller batch still runs far longer than the threshold.
    const wasmBatch = Math.max(1, Math.round(batch / 4));
    const wasm = await maxEventLoopStall(() =>
      wasmRuntime.predict(nchw.subarray(0, wasmBatch * PER_IMAGE), wasmBatch),
    );
    console.info(
      JSON.stringify({ msg: 'event loop stall', batch, bareMs, bareStallMs, onnx, wasmBatch, wasm }),
    );
    // The probe detects a block: the bare session stalls the loop for most of its run.
    expect(bareStallMs).toBeGreaterThan(Math.min(100, bareMs / 2));
    // Each runtime worked well past the stall bound (a blocking one would have stalled the loop for
    // about its whole run), though a multi-threaded one may finish sooner than the bare session.
    expect(onnx.workMs).toBeGreaterThan(75);
    expect(wasm.workMs).toBeGreaterThan(75);
    expect(onnx.stallMs).toBeLessThan(50);
    expect(wasm.stallMs).toBeLessThan(50);
  }, 60_000);
});

describe('close', () => {
  it('terminates the worker; later predicts reject; close is idempotent', async () => {
    const runtime = await loadRuntime(onnxBundle, { runtime: 'onnx', threads: 1 });
    if (!(runtime instanceof WorkerRuntime)) throw new Error('expected a WorkerRuntime');
    const worker = runtime;
    expect(worker.workerAlive).toBe(true);
    // A batch posted before close completes.
    const inFlight = runtime.predict(new Float32Array(PER_IMAGE), 1);
    await runtime.close();
    await expect(inFlight).resolves.toHaveLength(3);
    expect(worker.workerAlive).toBe(false);
    await expect(runtime.predict(new Float32Array(PER_IMAGE), 1)).rejects.toSatisfy((e) =>
      isModelRuntimeError(e, 'runtime_closed'),
    );
    await expect(runtime.close()).resolves.toBeUndefined();
  });
});
