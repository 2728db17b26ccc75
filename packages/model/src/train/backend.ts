import * as tf from '@tensorflow/tfjs';
import { useCpuBackend } from '../tfjs-io.js';
import { tfjsWasmDir } from '../runtime/tfjs-engine.js';

/** tfjs backends the head can train on in Node without native bindings. */
export const TRAINING_BACKENDS = ['wasm', 'cpu'] as const;
export type TrainingBackend = (typeof TRAINING_BACKENDS)[number];

let wasmPathsSet = false;

/**
 * Selects a tfjs backend for training and returns the previously active one's name, so the
 * caller can restore it. Every kernel the trainer uses (MatMul, Relu/Step, Softplus, Exp, Log,
 * Softmax, Sum, Max, Adam's Sqrt/RealDiv) exists on both; tensors created on another backend are
 * moved lazily by tfjs.
 */
export async function selectTrainingBackend(backend: TrainingBackend): Promise<string | undefined> {
  // Typed as string, but undefined until some backend has been initialised.
  const previous = tf.getBackend() as string | undefined;
  switch (backend) {
    case 'cpu':
      await useCpuBackend();
      break;
    case 'wasm': {
      if (!wasmPathsSet) {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths(tfjsWasmDir());
        wasmPathsSet = true;
      }
      if (!(await tf.setBackend('wasm')))
        throw new Error('trainHead: the tfjs wasm backend failed to initialise');
      await tf.ready();
      break;
    }
  }
  return previous;
}

/** Restores a backend returned by selectTrainingBackend (no-op when it is still active). */
export async function restoreBackend(name: string | undefined): Promise<void> {
  if (name !== undefined && tf.getBackend() !== name) {
    await tf.setBackend(name);
    await tf.ready();
  }
}
