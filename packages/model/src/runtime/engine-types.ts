import type { ModelManifest } from '../manifest.js';
import type { EngineRuntimeName, OnnxRuntimeOptions } from './types.js';

/**
 * Engines are the in-thread halves of the adapters: they load a graph and run batches on the
 * thread that calls them. Every adapter hosts its engine on a worker thread (./worker-host.ts)
 * because both onnxruntime-node's `session.run` and the tfjs wasm kernels run synchronously on
 * the calling thread (measured: a 130 ms run is a 130 ms event-loop stall).
 */

/** What a loaded engine reports about itself; becomes part of RuntimeDescription. */
export interface EngineInfo {
  readonly version: string;
  readonly backend: readonly string[];
  readonly threads: number;
  readonly details: Readonly<Record<string, unknown>>;
}

/** An engine loaded on the current thread. */
export interface Engine {
  readonly info: EngineInfo;
  /** Runs a validated batch; resolves with batchSize x labels scores. */
  predict(batch: Float32Array, batchSize: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Everything a worker needs to load an engine (structured-clonable). */
export type EngineSpec =
  | {
      readonly kind: 'onnx';
      readonly runtime: 'onnx';
      /** How messages name the bundle. */
      readonly label: string;
      readonly modelPath: string;
      readonly manifest: ModelManifest;
      readonly threads: number;
      readonly onnx: OnnxRuntimeOptions;
    }
  | {
      readonly kind: 'tfjs';
      readonly runtime: Exclude<EngineRuntimeName, 'onnx'>;
      readonly label: string;
      readonly modelJsonPath: string;
      readonly manifest: ModelManifest;
      /** tfjs-node(-gpu): the resolved module URL to import, and its package name for messages. */
      readonly module?: { readonly url: string; readonly name: string };
    };
