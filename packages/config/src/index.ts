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

/** Runtime names as `@cxr/model` defines them (a test keeps the two lists equal). */
export const RUNTIME_CHOICES = ['auto', 'onnx', 'tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];
export const ONNX_EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type OnnxExecutionProvider = (typeof ONNX_EXECUTION_PROVIDERS)[number];

export interface RuntimeConfig {
  /** CXR_RUNTIME: which inference runtime; `auto` picks the fastest that loads the bundle. */
  readonly runtime: RuntimeChoice;
  /** CXR_RUNTIME_THREADS: compute threads of the runtime (default: one per core). */
  readonly threads: number;
  /** CXR_ONNX_EXECUTION_PROVIDERS: tried in order, cpu always last (e.g. `tensorrt,cuda,cpu`). */
  readonly onnxExecutionProviders: readonly OnnxExecutionProvider[];
}

export interface AppConfig {
  readonly logLevel: LogLevel;
  readonly decode: DecodeConfig;
  readonly runtime: RuntimeConfig;
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

function listOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw.split(',').map((item) => {
    const match = allowed.find((candidate) => candidate === item.trim());
    if (match === undefined) {
      throw new ConfigError(`${name} must be a comma-separated list of ${allowed.join(', ')}, got "${raw}"`);
    }
    return match;
  });
}

/** Reads and validates the whole configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  return {
    logLevel: oneOf(env, 'CXR_LOG_LEVEL', LOG_LEVELS, 'info'),
    decode: { threads: positiveInt(env, 'CXR_DECODE_THREADS', availableParallelism()) },
    runtime: {
      runtime: oneOf(env, 'CXR_RUNTIME', RUNTIME_CHOICES, 'auto'),
      threads: positiveInt(env, 'CXR_RUNTIME_THREADS', availableParallelism()),
      onnxExecutionProviders: listOf(env, 'CXR_ONNX_EXECUTION_PROVIDERS', ONNX_EXECUTION_PROVIDERS, ['cpu']),
    },
  };
}
