import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './export.js';

// Test support (not exported from the package): run an exported graph next to its tfjs source.

/** Seeded uniform [-1, 1) values (mulberry32), so failures reproduce. */
export function randomInput(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** NHWC -> NCHW copy. */
export function toNchw(nhwc: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = nhwc[((b * h + y) * w + x) * c + k]!;
  return out;
}

/** Runs tfjs (cpu) and the exported ONNX graph on the same batch; returns both outputs. */
export async function compareWithOrt(
  model: tf.LayersModel,
  bytes: Uint8Array,
  layout: 'NCHW' | 'NHWC',
  batch: number,
  seed: number,
): Promise<{ tfjs: Float32Array; onnx: Float32Array; maxAbsDiff: number }> {
  const [, h, w, c] = model.inputs[0]!.shape as [null, number, number, number];
  const nhwc = randomInput(batch * h * w * c, seed);
  const x = tf.tensor4d(nhwc, [batch, h, w, c]);
  const y = model.predict(x) as tf.Tensor;
  const expected = Float32Array.from(await y.data());
  x.dispose();
  y.dispose();
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feed =
      layout === 'NCHW'
        ? new ort.Tensor('float32', toNchw(nhwc, batch, h, w, c), [batch, c, h, w])
        : new ort.Tensor('float32', nhwc, [batch, h, w, c]);
    const result = await session.run({ [ONNX_INPUT_NAME]: feed });
    const actual = result[ONNX_OUTPUT_NAME]!.data as Float32Array;
    let maxAbsDiff = 0;
    for (let i = 0; i < expected.length; i++)
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected[i]! - actual[i]!));
    return { tfjs: expected, onnx: Float32Array.from(actual), maxAbsDiff };
  } finally {
    await session.release();
  }
}
