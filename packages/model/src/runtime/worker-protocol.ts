import type { EngineInfo, EngineSpec } from './engine-types.js';
import { ModelRuntimeError, MODEL_RUNTIME_ERROR_CODES, type ModelRuntimeErrorCode } from './types.js';

// Messages between WorkerRuntime (caller thread) and runtime-worker.ts (engine thread).

export type HostMessage =
  | { readonly type: 'load'; readonly spec: EngineSpec }
  | {
      readonly type: 'predict';
      readonly id: number;
      readonly batch: Float32Array;
      readonly batchSize: number;
    }
  | { readonly type: 'close' };

export interface SerializedError {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

export type WorkerMessage =
  | { readonly type: 'loaded'; readonly info: EngineInfo }
  | { readonly type: 'load-failed'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly scores: Float32Array }
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'closed' };

/** An error as plain data (name, code, message) for postMessage. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof ModelRuntimeError)
    return { name: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** Rebuilds a ModelRuntimeError on the caller's thread; unknown errors get `fallback` as code. */
export function deserializeError(error: SerializedError, fallback: ModelRuntimeErrorCode): ModelRuntimeError {
  const code = MODEL_RUNTIME_ERROR_CODES.find((c) => c === error.code) ?? fallback;
  return new ModelRuntimeError(code, error.message);
}
