import { UnrecoverableError } from 'bullmq';

/**
 * Thrown by a processor for bad input (not DICOM, truncated, unsupported transfer syntax): BullMQ
 * moves an `UnrecoverableError` straight to failed without using the remaining attempts. `reason`
 * is a stable code (a `RejectReason` of @cxr/dicom); the message must hold no patient data.
 */
export class JobRejectedError extends UnrecoverableError {
  readonly code = 'CXR_JOB_REJECTED';

  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${reason}: ${message}`);
    this.name = 'JobRejectedError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Narrows an unknown error to `JobRejectedError` (also across module copies, by code). */
export function isJobRejectedError(error: unknown): error is JobRejectedError {
  return (
    error instanceof JobRejectedError ||
    (error instanceof Error && (error as { code?: unknown }).code === 'CXR_JOB_REJECTED')
  );
}
