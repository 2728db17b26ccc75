/**
 * Typed configuration: the one module that reads `process.env`. Every setting has a name, a
 * default, a parser that fails with a message naming the variable, and a line in the README's
 * configuration table.
 */
import { availableParallelism } from 'node:os';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface DecodeConfig {
  /** Worker threads decoding DICOM (CXR_DECODE_THREADS; default: one per core). */
  readonly threads: number;
}

export interface AppConfig {
  readonly logLevel: LogLevel;
  readonly decode: DecodeConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = allowed.find((candidate) => candidate === raw.trim());
  if (match === undefined) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return match;
}

/** Reads and validates the whole configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  return {
    logLevel: oneOf(env, 'CXR_LOG_LEVEL', LOG_LEVELS, 'info'),
    decode: { threads: positiveInt(env, 'CXR_DECODE_THREADS', availableParallelism()) },
  };
}
