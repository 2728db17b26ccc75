/**
 * JSON-line logging shared by the services: one object per line with a fixed `msg` and a `data`
 * object (house style), so log pipelines filter on `msg` without parsing sentences. Callers pass
 * ids, URIs, reason codes, counts and durations only: never a DICOM string, a Patient ID or a raw
 * error message from an adapter (those may echo values; use `errorSummary`). Object names may
 * carry patient data (`DOE^JOHN_MRN-998877.dcm` is common in exported archives), so the logger
 * writes a `uri` field as its `uriHash`, and keeps the URI itself only when asked to
 * (CXR_LOG_URIS=1).
 */
import { createHash } from 'node:crypto';
import type { LogFormat, LogLevel } from './index.js';

/** A structured logger: `msg` is a constant, `data` carries the variable part. */
export type Logger = (level: LogLevel, msg: string, data?: Readonly<Record<string, unknown>>) => void;

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLineLoggerOptions {
  /** CXR_LOG_URIS: keep `uri` fields next to their hash (default false: the hash only). */
  readonly logUris?: boolean;
}

/** A logger writing one JSON object per line (stderr by default), dropping levels below `minLevel`. */
export function jsonLineLogger(
  service: string,
  minLevel: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
  options: JsonLineLoggerOptions = {},
): Logger {
  const logUris = options.logUris === true;
  return (level, msg, data = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const safe = redactUris(data, logUris);
    write(`${JSON.stringify({ time: new Date().toISOString(), level, service, msg, data: safe })}\n`);
  };
}

/**
 * A short, stable, non-reversible name of an object URI: the first 16 hex digits (64 bits) of its
 * SHA-256. Logs, the queue dashboard and metrics name an object by it; whoever holds the URI (the
 * store, an export) computes it to find the object's log lines.
 */
export function uriHash(uri: string): string {
  return createHash('sha256').update(uri).digest('hex').slice(0, 16);
}

/**
 * A copy of `value` in which every string `uri` field, at any depth of plain objects and arrays,
 * is replaced by `uriHash` (both are kept with `keepUris`). Other values are left as they are.
 */
export function redactUris<T>(value: T, keepUris = false): T {
  return redact(value, keepUris) as T;
}

function redact(value: unknown, keepUris: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, keepUris));
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === 'uri' && typeof item === 'string') {
      out.uriHash = uriHash(item);
      if (keepUris) out.uri = item;
    } else {
      out[key] = redact(item, keepUris);
    }
  }
  return out;
}

/** A logger that discards everything (tests, library defaults). */
export const silentLogger: Logger = () => undefined;

/** The part of a writable stream the log output uses (process.stderr, or a fake in tests). */
export interface TextStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width; the progress line is cut to it (a wrapped line cannot be redrawn in place). */
  readonly columns?: number;
}

/** Where the long commands report progress: a line redrawn in place, or nothing (then they log it). */
export interface ProgressOutput {
  /** True when a human progress line is drawn; false: report progress as log lines instead. */
  readonly drawsProgress: boolean;
  /** Writes one complete line (ending in a newline) above the progress line. */
  writeLine(line: string): void;
  /** Replaces the progress line (ignored when `drawsProgress` is false). */
  progress(text: string): void;
  /** Leaves the last progress line on screen, ended: what follows goes below it. */
  endProgress(): void;
}

// \r back to column 0, then erase the whole line (ECMA-48 EL 2).
const CLEAR_LINE = '\r\x1b[2K';

/**
 * stderr of a command, shared by its log lines and one progress line. On a terminal (unless
 * CXR_LOG_FORMAT=json) the progress line stays at the bottom, redrawn in place, and each log line
 * is printed above it: clear the line, write the log line, redraw the progress. Otherwise there is
 * no progress line (`drawsProgress` false) and the log lines are written as they come, so every
 * line of the stream is one JSON object.
 */
export class LogOutput implements ProgressOutput {
  readonly drawsProgress: boolean;
  readonly #stream: TextStream;
  /** The progress line on screen, still to be ended; undefined when there is none. */
  #shown: string | undefined;

  constructor(stream: TextStream = process.stderr, format: LogFormat = 'auto') {
    this.#stream = stream;
    this.drawsProgress = format === 'auto' && stream.isTTY === true;
  }

  writeLine(line: string): void {
    if (this.#shown === undefined) {
      this.#stream.write(line);
      return;
    }
    this.#stream.write(`${CLEAR_LINE}${line}${this.#shown}`);
  }

  progress(text: string): void {
    if (!this.drawsProgress) return;
    const columns = this.#stream.columns ?? 0;
    const line = columns > 1 && text.length >= columns ? text.slice(0, columns - 1) : text;
    this.#shown = line;
    this.#stream.write(`${CLEAR_LINE}${line}`);
  }

  endProgress(): void {
    if (this.#shown === undefined) return;
    this.#shown = undefined;
    this.#stream.write('\n');
  }

  /** A JSON-line logger for `service` writing through this output. */
  logger(service: string, minLevel: LogLevel = 'info', options: JsonLineLoggerOptions = {}): Logger {
    return jsonLineLogger(
      service,
      minLevel,
      (line) => {
        this.writeLine(line);
      },
      options,
    );
  }
}

/** A duration for a progress line: `45s`, `3m05s`, `2h04m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

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
