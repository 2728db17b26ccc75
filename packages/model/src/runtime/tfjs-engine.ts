import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadLayersModelFile } from '../tfjs-io.js';
import {
  activationOfLayer,
  checkBatch,
  checkGraphActivation,
  checkGraphInput,
  checkGraphOutput,
} from './bundle-check.js';
import type { Engine, EngineSpec } from './engine-types.js';
import { ModelRuntimeError } from './types.js';

// The wasm binaries ship in the backend package's dist folder; in Node they are read from disk,
// so setWasmPaths gets a file-system prefix (not a URL).
const require = createRequire(import.meta.url);

/** Folder holding tfjs-backend-wasm's .wasm files (with a trailing separator). */
export function tfjsWasmDir(): string {
  return `${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}${path.sep}`;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim();
}

async function selectWasm(): Promise<Record<string, unknown>> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(tfjsWasmDir());
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
  // Node has no SharedArrayBuffer-backed wasm threads for tfjs (DEPENDENCY_NOTES.md): one thread.
  return {
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    multithread: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  };
}

// tfjs-node(-gpu) registers the `tensorflow` backend when imported. It must register it in the
// same @tensorflow/tfjs-core instance this package uses, i.e. the same tfjs version.
async function selectNative(
  label: string,
  module: { url: string; name: string },
): Promise<Record<string, unknown>> {
  try {
    await import(module.url);
  } catch (cause) {
    throw new ModelRuntimeError(
      'runtime_unavailable',
      `${label}: ${module.name} failed to load: ${firstLine(cause)}`,
      {
        cause,
      },
    );
  }
  // Typed as always present, but returns null for an unregistered name.
  const factory: unknown = tf.findBackendFactory('tensorflow');
  if (factory === null || factory === undefined) {
    throw new ModelRuntimeError(
      'runtime_unavailable',
      `${label}: ${module.name} loaded but registered no "tensorflow" backend with @tensorflow/tfjs ${tf.version.tfjs} (version mismatch?)`,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new ModelRuntimeError(
      'runtime_unavailable',
      `${label}: ${module.name}: the "tensorflow" backend failed to initialise`,
    );
  }
  await tf.ready();
  return {};
}

/** Loads a tfjs-layers bundle on the wasm backend, or on tfjs-node(-gpu)'s native backend. */
export async function createTfjsEngine(spec: Extract<EngineSpec, { kind: 'tfjs' }>): Promise<Engine> {
  const { label, manifest } = spec;
  let details: Record<string, unknown>;
  if (spec.runtime === 'tfjs-wasm') {
    try {
      details = await selectWasm();
    } catch (cause) {
      throw new ModelRuntimeError(
        'runtime_unavailable',
        `${label}: tfjs wasm backend failed: ${firstLine(cause)}`,
        {
          cause,
        },
      );
    }
  } else {
    if (spec.module === undefined) throw new Error(`${spec.runtime}: no module to import`);
    details = await selectNative(label, spec.module);
  }

  if (manifest.input.layout !== 'NHWC') {
    throw new ModelRuntimeError(
      'bundle_mismatch',
      `${label}: manifest.input.layout is ${manifest.input.layout} but tfjs-layers models take NHWC`,
    );
  }
  let model: tf.LayersModel;
  try {
    model = await loadLayersModelFile(spec.modelJsonPath);
  } catch (cause) {
    throw new ModelRuntimeError(
      'runtime_unavailable',
      `${label}: cannot load ${spec.modelJsonPath}: ${firstLine(cause)}`,
      {
        cause,
      },
    );
  }
  try {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new ModelRuntimeError(
        'bundle_mismatch',
        `${label}: model has ${model.inputs.length} inputs and ${model.outputs.length} outputs, expected 1 and 1`,
      );
    }
    checkGraphInput(label, manifest.input, model.inputs[0]!.shape);
    checkGraphOutput(label, manifest, model.outputs[0]!.shape);
    const last = model.layers[model.layers.length - 1];
    checkGraphActivation(label, manifest, activationOfLayer(last?.getConfig().activation));
  } catch (error) {
    model.dispose();
    throw error;
  }
  const { size, channels } = manifest.input;
  const labels = manifest.output.labels.length;

  return {
    info: {
      version: `@tensorflow/tfjs ${tf.version.tfjs}`,
      backend: [tf.getBackend()],
      // wasm: one thread in Node; native TensorFlow sizes its own pools to the cores.
      threads: spec.runtime === 'tfjs-wasm' ? 1 : availableParallelism(),
      details,
    },
    async predict(batch, batchSize) {
      checkBatch(manifest.input, batch, batchSize);
      const y = tf.tidy(
        () => model.predict(tf.tensor4d(batch, [batchSize, size, size, channels])) as tf.Tensor,
      );
      try {
        const scores = await y.data();
        if (!(scores instanceof Float32Array) || scores.length !== batchSize * labels) {
          throw new ModelRuntimeError(
            'inference_failed',
            `${label}: output is not ${batchSize} x ${labels} float32 values`,
          );
        }
        return scores;
      } finally {
        y.dispose();
      }
    },
    close() {
      model.dispose();
      return Promise.resolve();
    },
  };
}
