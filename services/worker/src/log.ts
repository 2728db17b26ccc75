/**
 * JSON-lines logging for the worker: a fixed message and a data object per line (Medplum style),
 * so log pipelines can filter on `msg` without parsing sentences. Callers pass only URIs, job ids,
 * reason codes and numbers: never a DICOM string, an error message from a decoder, or a Patient ID.
 */
import type { LogLevel } from '@cxr/config';

/** One structured log call. */
export type WorkerLog = (level: LogLevel, message: string, data?: Readonly<Record<string, unknown>>) => void;

const LEVEL_ORDER: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger writing one JSON object per line to stderr, dropping levels below `minLevel`. */
export function jsonLineLog(minLevel: LogLevel, write: (line: string) => void = defaultWrite): WorkerLog {
  return (level, message, data = {}) => {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[minLevel]) return;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, service: 'worker', msg: message, data })}\n`,
    );
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(line);
}

/** A logger that drops everything (library-style default for tests and embedding). */
export const silentLog: WorkerLog = () => undefined;
