import type { InferenceSession } from 'onnxruntime-node';
import type { OnnxExecutionProvider, OnnxRuntimeOptions } from './types.js';

// Kept apart from onnx-engine.ts so that importing @cxr/model does not load onnxruntime's native
// library; only a worker running the onnx engine does.

/**
 * Session settings the onnx adapter uses unless told otherwise. `pnpm bench runtime` measures
 * each against onnxruntime's own defaults on DenseNet121.
 */
export const ONNX_TUNED_DEFAULTS = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  interOpNumThreads: 1,
  executionMode: 'sequential',
  enableCpuMemArena: true,
  enableMemPattern: true,
  // On (onnxruntime's default). A lone session uses ~45% less CPU time without spinning, but in
  // `pnpm bench pipeline --spin-ablation` (cxr screen, 2 cores, 512 px, decode pool in the same
  // process) turning it off gave 0.47x to 1.70x across six rounds: no consistent effect, so the
  // default stays. CXR_ONNX_ALLOW_SPINNING=0 turns it off where the CPU is needed elsewhere.
  allowSpinning: true,
  // Runs of 2 images on the CPU: the arena then keeps 2 images' activations, not a batch's
  // (`pnpm bench pipeline --peer python`, docs/benchmarks.md#memory).
  cpuRunBatch: 2,
} as const satisfies Required<OnnxRuntimeOptions>;

/** The onnxruntime SessionOptions for our tuning, without execution providers. */
export function onnxSessionOptions(
  threads: number,
  options: OnnxRuntimeOptions = {},
): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: options.graphOptimizationLevel ?? ONNX_TUNED_DEFAULTS.graphOptimizationLevel,
    intraOpNumThreads: threads,
    interOpNumThreads: options.interOpNumThreads ?? ONNX_TUNED_DEFAULTS.interOpNumThreads,
    executionMode: options.executionMode ?? ONNX_TUNED_DEFAULTS.executionMode,
    enableCpuMemArena: options.enableCpuMemArena ?? ONNX_TUNED_DEFAULTS.enableCpuMemArena,
    enableMemPattern: options.enableMemPattern ?? ONNX_TUNED_DEFAULTS.enableMemPattern,
    // Session config entries; onnxruntime-node flattens `extra` into dotted keys.
    extra: {
      session: {
        intra_op: {
          allow_spinning: (options.allowSpinning ?? ONNX_TUNED_DEFAULTS.allowSpinning) ? '1' : '0',
        },
      },
    },
  };
}

/** Requested providers in order, de-duplicated, with `cpu` last (it always exists). */
export function providerChain(
  requested: readonly OnnxExecutionProvider[] | undefined,
): OnnxExecutionProvider[] {
  const chain = [...new Set(requested ?? ONNX_TUNED_DEFAULTS.executionProviders)].filter((p) => p !== 'cpu');
  return [...chain, 'cpu'];
}
