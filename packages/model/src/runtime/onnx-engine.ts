import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { OutputActivation } from '../manifest.js';
import { readOnnxSummary } from '../onnx/proto.js';
import { checkBatch, checkGraphActivation, checkGraphInput, checkGraphOutput } from './bundle-check.js';
import type { Engine, EngineSpec } from './engine-types.js';
import { ONNX_TUNED_DEFAULTS, onnxSessionOptions, providerChain } from './onnx-options.js';
import { ModelRuntimeError, type OnnxExecutionProvider } from './types.js';

/** onnxruntime-node's version, as the package reports it. */
export const ONNXRUNTIME_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim();
}

const ACTIVATIONS: readonly string[] = ['softmax', 'sigmoid', 'none'];

/**
 * Creates the session, trying the requested execution providers in order: a provider whose
 * library is missing (CUDA/TensorRT are not shipped in the npm package; GPU images install them)
 * makes session creation throw, so it is dropped with its reason and the rest are tried.
 */
export async function createOnnxEngine(spec: Extract<EngineSpec, { kind: 'onnx' }>): Promise<Engine> {
  const { label, manifest } = spec;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(spec.modelPath);
  } catch (cause) {
    throw new ModelRuntimeError('runtime_unavailable', `${label}: cannot read ${spec.modelPath}`, { cause });
  }
  // The exporter records which activation the graph ends with; a foreign graph may not say.
  const recorded = readOnnxSummary(bytes).metadata['cxr.final_activation'];
  const graphActivation = ACTIVATIONS.includes(recorded ?? '') ? (recorded as OutputActivation) : undefined;
  checkGraphActivation(label, manifest, graphActivation);

  const base = onnxSessionOptions(spec.threads, spec.onnx);
  const chain = providerChain(spec.onnx.executionProviders);
  const failedProviders: { provider: string; reason: string }[] = [];
  let session: ort.InferenceSession | undefined;
  let active: OnnxExecutionProvider[] = [];
  for (let i = 0; i < chain.length && session === undefined; i++) {
    active = chain.slice(i);
    try {
      session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: active });
    } catch (cause) {
      if (active[0] === 'cpu') {
        throw new ModelRuntimeError(
          'runtime_unavailable',
          `${label}: onnxruntime cannot load ${spec.modelPath}: ${firstLine(cause)}`,
          { cause },
        );
      }
      failedProviders.push({ provider: active[0]!, reason: firstLine(cause) });
    }
  }
  if (session === undefined) throw new Error('unreachable: the cpu provider either loads or throws');
  const s = session;
  try {
    if (s.inputNames.length !== 1 || s.outputNames.length !== 1) {
      throw new ModelRuntimeError(
        'bundle_mismatch',
        `${label}: graph has ${s.inputNames.length} inputs and ${s.outputNames.length} outputs, expected 1 and 1`,
      );
    }
    const inputMeta = s.inputMetadata[0]!;
    const outputMeta = s.outputMetadata[0]!;
    if (!inputMeta.isTensor || inputMeta.type !== 'float32') {
      throw new ModelRuntimeError(
        'bundle_mismatch',
        `${label}: graph input "${inputMeta.name}" is not a float32 tensor`,
      );
    }
    checkGraphInput(label, manifest.input, inputMeta.shape);
    checkGraphOutput(label, manifest, outputMeta.isTensor ? outputMeta.shape : []);
  } catch (error) {
    await s.release();
    throw error;
  }
  const inputName = s.inputNames[0]!;
  const outputName = s.outputNames[0]!;
  const { size, channels, layout } = manifest.input;
  const dims = layout === 'NCHW' ? [channels, size, size] : [size, size, channels];
  const labels = manifest.output.labels.length;
  const perImage = dims.reduce((a, b) => a * b, 1);
  // Runs of at most runBatch images on the CPU (see OnnxRuntimeOptions.cpuRunBatch); a graph
  // whose batch dimension is a fixed number takes its batch whole, as GPU providers do.
  const graphBatch = s.inputMetadata[0]!.isTensor ? s.inputMetadata[0]!.shape[0] : undefined;
  const requested = spec.onnx.cpuRunBatch ?? ONNX_TUNED_DEFAULTS.cpuRunBatch;
  const runBatch =
    active[0] === 'cpu' && typeof graphBatch !== 'number' && requested > 0 ? requested : Infinity;

  async function run(images: Float32Array, count: number): Promise<Float32Array> {
    const feed = new ort.Tensor('float32', images, [count, ...dims]);
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await s.run({ [inputName]: feed });
    } catch (cause) {
      throw new ModelRuntimeError(
        'inference_failed',
        `${label}: onnxruntime run failed: ${firstLine(cause)}`,
        {
          cause,
        },
      );
    }
    const scores = out[outputName]?.data;
    if (!(scores instanceof Float32Array) || scores.length !== count * labels) {
      throw new ModelRuntimeError(
        'inference_failed',
        `${label}: output is not ${count} x ${labels} float32 values`,
      );
    }
    return scores;
  }

  return {
    info: {
      version: `onnxruntime-node ${ONNXRUNTIME_VERSION}`,
      backend: active,
      threads: spec.threads,
      details: {
        sessionOptions: base,
        failedProviders,
        runBatch: Number.isFinite(runBatch) ? runBatch : 'whole batch',
      },
    },
    async predict(batch, batchSize) {
      checkBatch(manifest.input, batch, batchSize);
      if (batchSize <= runBatch) return run(batch, batchSize);
      const scores = new Float32Array(batchSize * labels);
      for (let first = 0; first < batchSize; first += runBatch) {
        const count = Math.min(runBatch, batchSize - first);
        // A view of the caller's batch: no copy.
        const part = await run(batch.subarray(first * perImage, (first + count) * perImage), count);
        scores.set(part, first * labels);
      }
      return scores;
    },
    async close() {
      await s.release();
    },
  };
}
