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

/**
 * Thrown to BullMQ in place of a processor's error that is not a rejection: a message of the
 * error's class name and code only (and whether it is transient, when it says). BullMQ keeps the
 * message as the job's failed reason and the stack in Redis, and the queue dashboard shows both;
 * the message of a fetch error names the object, whose URI may carry patient data. The original
 * error is the `cause` (never serialised by BullMQ). The job is retried as before.
 */
export class JobAttemptError extends Error {
  override readonly name = 'JobAttemptError';

  constructor(cause: unknown) {
    super(`attempt failed: ${describeError(cause)}`, { cause });
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const { code, transient } = error as { code?: unknown; transient?: unknown };
  const parts = [error.name];
  if (typeof code === 'string') parts.push(code);
  if (typeof transient === 'boolean') parts.push(transient ? '(transient)' : '(permanent)');
  return parts.join(' ');
}

/**
 * The error to hand BullMQ for `error` thrown by a processor: BullMQ's own control errors and
 * unrecoverable ones (JobRejectedError: a reason code and a fixed message) as they are, any other
 * as a JobAttemptError.
 */
export function errorForQueue(error: unknown): unknown {
  if (error instanceof UnrecoverableError || isJobRejectedError(error)) return error;
  if (error instanceof Error && BULLMQ_CONTROL_ERRORS.has(error.name)) return error;
  return new JobAttemptError(error);
}

/** Errors a processor throws to steer BullMQ (move the job), not to report a failure. */
const BULLMQ_CONTROL_ERRORS = new Set([
  'DelayedError',
  'WaitingChildrenError',
  'WaitingError',
  'RateLimitError',
]);
