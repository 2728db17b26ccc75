/**
 * JSON-line logging shared by the services: one object per line with a fixed `msg` and a `data`
 * object (house style), so log pipelines filter on `msg` without parsing sentences. Callers pass
 * ids, URIs, reason codes, counts and durations only: never a DICOM string, a Patient ID or a raw
 * error message from an adapter (those may echo values; use `errorSummary`).
 */
import type { LogLevel } from './index.js';

/** A structured logger: `msg` is a constant, `data` carries the variable part. */
export type Logger = (level: LogLevel, msg: string, data?: Readonly<Record<string, unknown>>) => void;

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing one JSON object per line (stderr by default), dropping levels below `minLevel`. */
export function jsonLineLogger(
  service: string,
  minLevel: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  return (level, msg, data = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, service, msg, data })}\n`);
  };
}

/** A logger that discards everything (tests, library defaults). */
export const silentLogger: Logger = () => undefined;

/** The error's class name and code only: adapter messages may echo URLs or values. */
export function errorSummary(error: unknown): { errorName: string; errorCode?: string } {
  if (!(error instanceof Error)) return { errorName: typeof error };
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { errorName: error.name, errorCode: code } : { errorName: error.name };
}

/** Where signals come from: the process, or an EventEmitter in tests. */
export interface SignalSource {
  once(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/**
 * A service's shutdown: on the first SIGTERM or SIGINT, log it and run `stop` once; a failed
 * stop is logged (class name and code only) and sets a non-zero exit code.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger, signals: SignalSource = process): void {
  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    log('info', 'shutdown requested', { signal });
    stop().then(
      () => {
        log('info', 'shutdown complete', {});
      },
      (error: unknown) => {
        log('error', 'shutdown failed', errorSummary(error));
        process.exitCode = 1;
      },
    );
  };
  signals.once('SIGTERM', shutdown);
  signals.once('SIGINT', shutdown);
}
