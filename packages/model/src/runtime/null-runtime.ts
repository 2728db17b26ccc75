/**
 * The null runtime (`CXR_RUNTIME=null`): no model, no engine, no worker thread. Every batch
 * resolves after a fixed, configurable latency with scores computed from a few input values, so
 * equal inputs always get equal scores. For benchmarks and tests of the orchestration only
 * (queue, batcher, results, store): its scores mean nothing, and `auto` never selects it.
 */
import type { ModelManifest } from '../manifest.js';
import { checkBatch, valuesPerImage } from './bundle-check.js';
import {
  ModelRuntimeError,
  type ModelRuntime,
  type RuntimeDescription,
  type SkippedRuntime,
} from './types.js';

/** Name of the null runtime, as `CXR_RUNTIME` and the result rows spell it. */
export const NULL_RUNTIME = 'null';

/** Default latency of one batch, in milliseconds (CXR_NULL_RUNTIME_LATENCY_MS). */
export const DEFAULT_NULL_RUNTIME_LATENCY_MS = 1;

/** Input values read per image: enough to tell images apart, few enough to cost nothing. */
const SAMPLES_PER_IMAGE = 64;

/** Options of `NullRuntime`. */
export interface NullRuntimeOptions {
  /** Milliseconds each predict() waits before resolving, whatever the batch size; default 1. */
  readonly latencyMs?: number;
  /** Recorded in the description (why it was chosen). */
  readonly bundle?: { readonly id: string; readonly version: string; readonly format: string };
  readonly skipped?: readonly SkippedRuntime[];
}

/**
 * Deterministic scores of one image: label j gets a value from the sampled input mean, spread by
 * j. In [0, 1] (a softmax over the labels when the manifest says softmax, else a sigmoid), so the
 * manifest's thresholds and decision rule apply as to a real model's output.
 */
function scoresOf(
  batch: Float32Array,
  offset: number,
  perImage: number,
  labels: number,
  softmax: boolean,
  out: Float32Array,
  at: number,
): void {
  const step = Math.max(1, Math.floor(perImage / SAMPLES_PER_IMAGE));
  let sum = 0;
  let n = 0;
  for (let i = 0; i < perImage; i += step) {
    const v = batch[offset + i] ?? 0;
    sum += Number.isFinite(v) ? v : 0;
    n += 1;
  }
  const mean = n > 0 ? sum / n : 0;
  let total = 0;
  for (let j = 0; j < labels; j++) {
    const logit = Math.sin(mean * 3.7 + j * 1.3) * 2;
    const value = softmax ? Math.exp(logit) : 1 / (1 + Math.exp(-logit));
    out[at + j] = value;
    total += value;
  }
  if (softmax) for (let j = 0; j < labels; j++) out[at + j] = (out[at + j] ?? 0) / total;
}

/** A `ModelRuntime` that runs no model: see the file comment. */
export class NullRuntime implements ModelRuntime {
  readonly name = NULL_RUNTIME;
  readonly #manifest: ModelManifest;
  readonly #latencyMs: number;
  readonly #description: RuntimeDescription;
  #closed = false;

  constructor(manifest: ModelManifest, options: NullRuntimeOptions = {}) {
    const latencyMs = options.latencyMs ?? DEFAULT_NULL_RUNTIME_LATENCY_MS;
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new RangeError(`null runtime: latencyMs must be >= 0, got ${latencyMs}`);
    }
    this.#manifest = manifest;
    this.#latencyMs = latencyMs;
    this.#description = {
      name: NULL_RUNTIME,
      version: 'null',
      backend: ['none'],
      threads: 0,
      workerThread: false,
      details: { latencyMs, note: 'benchmarks and tests only: runs no model, scores mean nothing' },
      bundle: options.bundle ?? { id: manifest.id, version: manifest.version, format: manifest.format },
      selection: {
        requested: NULL_RUNTIME,
        reason: `CXR_RUNTIME=${NULL_RUNTIME}`,
        skipped: [...(options.skipped ?? [])],
      },
    };
  }

  describe(): RuntimeDescription {
    return this.#description;
  }

  async predict(batch: Float32Array, batchSize: number): Promise<Float32Array> {
    if (this.#closed) throw new ModelRuntimeError('runtime_closed', 'predict after close (null runtime)');
    const input = this.#manifest.input;
    checkBatch(input, batch, batchSize);
    const perImage = valuesPerImage(input);
    const labels = this.#manifest.output.labels.length;
    const softmax = this.#manifest.output.activation === 'softmax';
    const out = new Float32Array(batchSize * labels);
    for (let b = 0; b < batchSize; b++)
      scoresOf(batch, b * perImage, perImage, labels, softmax, out, b * labels);
    if (this.#latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
    return out;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
