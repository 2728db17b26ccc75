import { DicomRejectedError, REJECT_REASONS } from '@cxr/dicom';
import type { RejectReason } from '@cxr/dicom';

import type { DecodeRequest, DecodeResult } from './decode-task.js';

/** What a decode worker is started with. */
export interface DecodeWorkerData {
  /** libvips threads (process-wide, so every worker sets the same value); unset keeps sharp's default. */
  readonly vipsConcurrency?: number;
  /** libvips' operation cache (sharp.cache, process-wide); false turns it off, unset keeps sharp's default. */
  readonly vipsCache?: boolean;
}

/** Main thread -> worker: one task. `bytes` is always transferred (a private copy when needed). */
export interface TaskMessage {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly request: DecodeRequest;
}

/**
 * An error as it crosses the thread boundary. Structured clone keeps only name, message and
 * stack of an Error, so the reject reason travels explicitly and the class is rebuilt.
 */
export type SerializedError =
  | { readonly kind: 'rejected'; readonly reason: RejectReason; readonly message: string }
  | { readonly kind: 'error'; readonly name: string; readonly message: string; readonly stack?: string };

/**
 * Worker -> main thread: `ready` once the worker module has loaded (so a worker that cannot
 * start is told apart from one that crashed on a file), then the outcome of each task by id.
 */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly result: DecodeResult }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: SerializedError };

/** Turns a thrown value into its transferable form. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof DicomRejectedError) {
    return { kind: 'rejected', reason: error.reason, message: error.message };
  }
  if (error instanceof Error) {
    return error.stack === undefined
      ? { kind: 'error', name: error.name, message: error.message }
      : { kind: 'error', name: error.name, message: error.message, stack: error.stack };
  }
  return { kind: 'error', name: 'Error', message: String(error) };
}

/** Rebuilds a thrown value on the receiving side: a DicomRejectedError stays one. */
export function deserializeError(error: SerializedError): Error {
  if (error.kind === 'rejected') {
    // Guard against a reason this side does not know (mismatched versions): still reject, as corrupt.
    const reason = (REJECT_REASONS as readonly string[]).includes(error.reason)
      ? error.reason
      : 'corrupt_stream';
    return new DicomRejectedError(reason, error.message);
  }
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}

/** ArrayBuffers of a result that can be moved instead of copied (deduplicated; shared memory excluded). */
export function resultTransferList(result: DecodeResult): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  if (result.pixels.buffer instanceof ArrayBuffer) buffers.add(result.pixels.buffer);
  return [...buffers];
}
