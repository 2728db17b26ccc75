/**
 * JSON-line logging for the results service: a fixed message and a data object (house style).
 * Callers pass counts, durations, codes and error class names only, never URIs' patient-bearing
 * paths, patient identifiers or raw error messages from adapters.
 */

/** Log severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A structured logger: `msg` is a constant, `data` carries the variable part. */
export type Logger = (level: LogLevel, msg: string, data?: Readonly<Record<string, unknown>>) => void;

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing one JSON object per line to stderr, dropping levels below `minLevel`. */
export function jsonLineLogger(
  minLevel: LogLevel = 'info',
  write: (line: string) => void = defaultWrite,
): Logger {
  return (level, msg, data = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, service: 'results', msg, data }) + '\n');
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(line);
}

/** A logger that discards everything (tests, library defaults). */
export const silentLogger: Logger = () => undefined;

/** The error's class name and code only: adapter messages may echo URLs or values. */
export function errorSummary(error: unknown): { errorName: string; errorCode?: string } {
  if (!(error instanceof Error)) return { errorName: typeof error };
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { errorName: error.name, errorCode: code } : { errorName: error.name };
}
