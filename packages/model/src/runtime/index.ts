export {
  MODEL_RUNTIME_ERROR_CODES,
  ModelRuntimeError,
  ONNX_EXECUTION_PROVIDERS,
  RUNTIME_CHOICES,
  RUNTIME_NAMES,
  isModelRuntimeError,
  parseRuntimeChoice,
  type LoadRuntime,
  type LoadRuntimeOptions,
  type ModelRuntime,
  type ModelRuntimeErrorCode,
  type OnnxExecutionProvider,
  type OnnxRuntimeOptions,
  type RuntimeChoice,
  type RuntimeDescription,
  type RuntimeName,
  type EngineRuntimeName,
  type SkippedRuntime,
} from './types.js';
export { AUTO_ORDER, TFJS_NATIVE_MODULES, loadRuntime, probeRuntimes, type RuntimeProbe } from './select.js';
export { WorkerRuntime } from './worker-host.js';
export { ONNX_TUNED_DEFAULTS, onnxSessionOptions, providerChain } from './onnx-options.js';
export { bundleLabel, valuesPerImage } from './bundle-check.js';
export {
  DEFAULT_NULL_RUNTIME_LATENCY_MS,
  NULL_RUNTIME,
  NullRuntime,
  type NullRuntimeOptions,
} from './null-runtime.js';
