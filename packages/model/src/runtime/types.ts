import type { ModelBundle } from '../manifest.js';

/**
 * The `ModelRuntime` port: one interface in front of every inference engine (ARCHITECTURE.md,
 * "Runtimes"). A runtime takes the preprocessed input tensor exactly as the bundle manifest's
 * `input` describes it and returns what the graph produces; it never applies an activation (the
 * manifest's `output.activation` says what the graph already applied).
 */

/** Adapters of real engines, fastest first on the hardware each one targets. */
export const RUNTIME_NAMES = ['onnx', 'tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm'] as const;
/** A runtime that runs an engine (every runtime but `null`). */
export type EngineRuntimeName = (typeof RUNTIME_NAMES)[number];
/**
 * Every runtime: the engines, and `null` (./null-runtime.ts: no model, fixed latency,
 * deterministic scores; benchmarks and tests of the orchestration only, never chosen by `auto`).
 */
export type RuntimeName = EngineRuntimeName | 'null';

/** Values of `CXR_RUNTIME`. */
export const RUNTIME_CHOICES = ['auto', ...RUNTIME_NAMES, 'null'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];

/** onnxruntime execution providers the onnx adapter knows how to request. */
export const ONNX_EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type OnnxExecutionProvider = (typeof ONNX_EXECUTION_PROVIDERS)[number];

/** onnxruntime session tuning; every field has a default chosen by `pnpm bench runtime`. */
export interface OnnxRuntimeOptions {
  /**
   * Tried in order; a provider that fails to initialise is dropped with a logged reason and the
   * next is tried. `cpu` is always appended last. Default `['cpu']`.
   */
  readonly executionProviders?: readonly OnnxExecutionProvider[];
  /** Default `all` (constant folding, node fusions, layout optimisations). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Threads between independent nodes; default 1 (DenseNet is a chain: nothing to overlap). */
  readonly interOpNumThreads?: number;
  /** Default `sequential` (see interOpNumThreads). */
  readonly executionMode?: 'sequential' | 'parallel';
  /** Default true. */
  readonly enableCpuMemArena?: boolean;
  /** Default true: reuses the activation buffer plan between runs of the same shape. */
  readonly enableMemPattern?: boolean;
  /**
   * Whether idle intra-op threads spin-wait for work (`session.intra_op.allow_spinning`). Spinning
   * saves microseconds per operator when the cores are otherwise idle, but burns CPU that a decode
   * pool in the same process needs (`pnpm bench pipeline --spin-ablation` measures both).
   * Default true, as onnxruntime's own default.
   */
  readonly allowSpinning?: boolean;
  /**
   * Images per onnxruntime run when the CPU provider runs the graph: a larger batch is run as
   * consecutive runs of at most this many, so the arena (which keeps the largest run's
   * activations for the life of the session) holds one small run's, not the whole batch's.
   * DenseNet121 at 512 px: about 1.4 GB of peak RSS for a run of 8, about 0.55 GB for runs of 2,
   * at the same CPU time per image (docs/benchmarks.md#memory). GPU providers always run the
   * whole batch. Default 2; 0 runs the whole batch.
   */
  readonly cpuRunBatch?: number;
}

/** Options of `loadRuntime`. */
export interface LoadRuntimeOptions {
  /** `CXR_RUNTIME`: a runtime name, or `auto` for the fastest one that loads this bundle. */
  readonly runtime: RuntimeChoice;
  /** Compute threads (onnx intra-op threads). Default: os.availableParallelism(). */
  readonly threads?: number;
  readonly onnx?: OnnxRuntimeOptions;
  /**
   * Module specifiers (package names or file: URLs) of the native tfjs packages. For tests and
   * unusual installs; defaults `@tensorflow/tfjs-node-gpu` and `@tensorflow/tfjs-node`.
   */
  readonly modules?: { readonly 'tfjs-node-gpu'?: string; readonly 'tfjs-node'?: string };
  /** The `null` runtime's latency per batch in milliseconds (CXR_NULL_RUNTIME_LATENCY_MS; default 1). */
  readonly nullLatencyMs?: number;
  /** Receives one JSON-ready log record per notable event (provider fallback, runtime skipped). */
  readonly log?: (message: string, data: Readonly<Record<string, unknown>>) => void;
}

/** Why a runtime was not used for a bundle. */
export interface SkippedRuntime {
  readonly runtime: RuntimeName;
  readonly reason: string;
}

/** What a loaded runtime is and why it was chosen (logs, `cxr_model_info`, `cxr model info`). */
export interface RuntimeDescription {
  readonly name: RuntimeName;
  /** Engine version, e.g. `onnxruntime-node 1.30.0` or `@tensorflow/tfjs 4.22.0`. */
  readonly version: string;
  /** onnx: execution providers in use, best first; tfjs: the backend (`wasm`, `tensorflow`). */
  readonly backend: readonly string[];
  /** Compute threads the engine uses. */
  readonly threads: number;
  /** Whether inference runs on a worker thread (always true today, see runtime/README). */
  readonly workerThread: boolean;
  /** Engine-specific facts: SIMD, session options, providers that failed and why. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly bundle: { readonly id: string; readonly version: string; readonly format: string };
  /** The requested choice, and for `auto` every faster runtime that was passed over and why. */
  readonly selection: {
    readonly requested: RuntimeChoice;
    readonly reason: string;
    readonly skipped: readonly SkippedRuntime[];
  };
}

/** The port every inference adapter implements. */
export interface ModelRuntime {
  readonly name: RuntimeName;
  /** What runs and why it was chosen. */
  describe(): RuntimeDescription;
  /**
   * Runs `batchSize` preprocessed images laid out as manifest.input says (size, channels, layout)
   * and resolves with `batchSize x labels` scores in manifest.output.labels order.
   */
  predict(batch: Float32Array, batchSize: number): Promise<Float32Array>;
  /** Releases the engine and its worker thread; later predicts reject. Idempotent. */
  close(): Promise<void>;
}

/** Loads a runtime for a bundle; the signature `loadRuntime` in ./select.ts implements. */
export type LoadRuntime = (bundle: ModelBundle, options: LoadRuntimeOptions) => Promise<ModelRuntime>;

export const MODEL_RUNTIME_ERROR_CODES = [
  /** The runtime is not installed, cannot read this bundle format, or failed to start. */
  'runtime_unavailable',
  /** The bundle's graph disagrees with its manifest (input shape, layout, labels, activation). */
  'bundle_mismatch',
  /** predict() got a batch whose length does not match batchSize and manifest.input. */
  'input_invalid',
  /** predict() after close(). */
  'runtime_closed',
  /** The worker thread died; the runtime cannot be used any more. */
  'worker_crashed',
  /** The engine itself failed while running a batch. */
  'inference_failed',
] as const;
export type ModelRuntimeErrorCode = (typeof MODEL_RUNTIME_ERROR_CODES)[number];

/** A runtime could not load or run; `code` is stable, the message one line without patient data. */
export class ModelRuntimeError extends Error {
  override readonly name = 'ModelRuntimeError';
  readonly code: ModelRuntimeErrorCode;

  constructor(code: ModelRuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.code = code;
  }
}

/** True for a ModelRuntimeError, optionally with the given code. */
export function isModelRuntimeError(
  error: unknown,
  code?: ModelRuntimeErrorCode,
): error is ModelRuntimeError {
  return error instanceof ModelRuntimeError && (code === undefined || error.code === code);
}

/** Parses a `CXR_RUNTIME` value; throws a one-line error listing the accepted values. */
export function parseRuntimeChoice(value: string): RuntimeChoice {
  const found = RUNTIME_CHOICES.find((choice) => choice === value);
  if (found === undefined) {
    throw new RangeError(`CXR_RUNTIME: expected one of ${RUNTIME_CHOICES.join(' | ')}, got "${value}"`);
  }
  return found;
}
