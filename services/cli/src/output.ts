import { isDicomRejectedError } from '@cxr/dicom';
import { ConfigError } from '@cxr/config';

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
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cxr: ${message.split('\n')[0] ?? 'unknown error'}\n`);
  return ExitCode.Failure;
}
