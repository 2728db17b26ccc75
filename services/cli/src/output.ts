/**
 * Output conventions of the command line: errors to one stderr line and an exit code. Only the
 * packages' error modules are imported here (`cxr --help` must not load a decoder, a driver or
 * an SDK to know how to report a failure).
 */
import { CommanderError } from 'commander';
import { ConfigError } from '@cxr/config';
import { isDicomRejectedError } from '@cxr/dicom/errors';
import { ObjectListError, ObjectSourceConfigError } from '@cxr/storage/errors';
import { StoreNotFoundError } from '@cxr/store/errors';

/** Exit codes: 1 unexpected error, 2 bad configuration or usage, 3 input rejected. */
export const ExitCode = { Failure: 1, Usage: 2, Rejected: 3 } as const;

/** An error whose message is already fit for a person: printed as is, without a stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
  ) {
    super(message);
  }
}

/** Bad usage or configuration (a missing or invalid option, a source that does not exist): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

/** Input that was rejected: carries the file so the one-line message can name it. */
export class RejectedInputError extends Error {
  override readonly name = 'RejectedInputError';
  constructor(
    readonly file: string,
    readonly rejection: Error & { reason: string },
  ) {
    super(`${file}: rejected (${rejection.reason}): ${rejection.message}`);
  }
}

/** Prints one line on stderr for an error and returns the exit code to use. */
export function reportFailure(error: unknown): number {
  if (error instanceof RejectedInputError) {
    process.stderr.write(`cxr: ${error.message}\n`);
    return ExitCode.Rejected;
  }
  if (isDicomRejectedError(error)) {
    process.stderr.write(`cxr: rejected (${error.reason}): ${error.message}\n`);
    return ExitCode.Rejected;
  }
  if (error instanceof CliError) {
    process.stderr.write(`cxr: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`cxr: configuration: ${error.message}\n`);
    return ExitCode.Usage;
  }
  if (error instanceof CommanderError) {
    // Commander printed its one-line error (and the usage) already; --help ends here with 0.
    return error.exitCode === 0 ? 0 : ExitCode.Usage;
  }
  if (error instanceof StoreNotFoundError) {
    process.stderr.write(`cxr: ${error.message} (check --store or CXR_STORE_URL)\n`);
    return ExitCode.Usage;
  }
  if (isSourceUsageError(error)) {
    process.stderr.write(`cxr: ${error.message.split('\n')[0] ?? ''}\n`);
    return ExitCode.Usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cxr: ${message.split('\n')[0] ?? 'unknown error'}\n`);
  return ExitCode.Failure;
}

/**
 * A source the user named that cannot be used as given: an unsupported URI, or a listing that
 * failed for a reason retrying will not fix (no such folder, bucket or manifest, access denied,
 * a malformed manifest line). A transient listing failure stays an unexpected failure (1).
 */
function isSourceUsageError(error: unknown): error is Error {
  return error instanceof ObjectSourceConfigError || (error instanceof ObjectListError && !error.transient);
}
