import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ModelBundle, ModelFormat } from '../manifest.js';
import { readOnnxSummary } from '../onnx/proto.js';
import {
  activationOfLayer,
  bundleLabel,
  checkGraphActivation,
  checkGraphInput,
  checkGraphOutput,
  type GraphDim,
} from './bundle-check.js';
import type { EngineSpec } from './engine-types.js';
import {
  isModelRuntimeError,
  ModelRuntimeError,
  RUNTIME_NAMES,
  type LoadRuntimeOptions,
  type ModelRuntime,
  type EngineRuntimeName,
  type SkippedRuntime,
} from './types.js';
import { NULL_RUNTIME, NullRuntime } from './null-runtime.js';
import { WorkerRuntime } from './worker-host.js';

/**
 * Runtime selection (`CXR_RUNTIME`). `auto` tries the runtimes that can read the bundle's format,
 * fastest first, and records why every faster one was passed over:
 * - onnx bundles: onnx only (the tfjs runtimes read tfjs-layers bundles, not ONNX graphs);
 * - tfjs-layers bundles: tfjs-node-gpu, tfjs-node, tfjs-wasm. onnx (faster than both CPU tfjs
 *   runtimes) cannot read them; `cxr model export-onnx` converts a bundle.
 */

/** Package each native tfjs runtime imports. */
export const TFJS_NATIVE_MODULES = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
} as const;

/**
 * The order `auto` tries runtimes in, fastest first, for every bundle format: runtimes that cannot
 * read the format are recorded as skipped with the reason, so the description says why a faster
 * one was not used.
 */
export const AUTO_ORDER: readonly EngineRuntimeName[] = RUNTIME_NAMES;

/** Why `runtime` cannot read bundles of `format`, or undefined if it can. */
export function formatIncompatibility(runtime: EngineRuntimeName, format: ModelFormat): string | undefined {
  if (runtime === 'onnx' && format !== 'onnx') {
    return `onnx cannot load a ${format} bundle (export it with \`cxr model export-onnx\` to use onnxruntime)`;
  }
  if (runtime !== 'onnx' && format !== 'tfjs-layers') {
    return `${runtime} cannot load an ${format} bundle (tfjs runtimes read tfjs-layers bundles)`;
  }
  return undefined;
}

const require = createRequire(import.meta.url);

/** Resolves a module specifier (package name or file: URL) to a URL, or undefined if absent. */
export function resolveModule(specifier: string): string | undefined {
  if (specifier.startsWith('file:')) return existsSync(fileURLToPath(specifier)) ? specifier : undefined;
  try {
    return pathToFileURL(require.resolve(specifier)).href;
  } catch {
    return undefined;
  }
}

function moduleSpecifier(
  runtime: 'tfjs-node-gpu' | 'tfjs-node',
  options: Pick<LoadRuntimeOptions, 'modules'>,
): string {
  return options.modules?.[runtime] ?? TFJS_NATIVE_MODULES[runtime];
}

/** Builds the engine spec for a runtime, or throws runtime_unavailable saying why it cannot. */
function engineSpec(
  runtime: EngineRuntimeName,
  bundle: ModelBundle,
  options: LoadRuntimeOptions,
): EngineSpec {
  const label = bundleLabel(bundle);
  const incompatible = formatIncompatibility(runtime, bundle.manifest.format);
  if (incompatible !== undefined)
    throw new ModelRuntimeError('runtime_unavailable', `${label}: ${incompatible}`);
  const entry = bundle.weightPaths[0];
  if (entry === undefined) throw new ModelRuntimeError('runtime_unavailable', `${label}: no weight files`);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new RangeError(`loadRuntime: threads must be a positive integer, got ${threads}`);
  }
  switch (runtime) {
    case 'onnx':
      return {
        kind: 'onnx',
        runtime,
        label,
        modelPath: entry,
        manifest: bundle.manifest,
        threads,
        onnx: options.onnx ?? {},
      };
    case 'tfjs-wasm':
      return { kind: 'tfjs', runtime, label, modelJsonPath: entry, manifest: bundle.manifest };
    case 'tfjs-node-gpu':
    case 'tfjs-node': {
      const specifier = moduleSpecifier(runtime, options);
      const url = resolveModule(specifier);
      if (url === undefined) {
        throw new ModelRuntimeError('runtime_unavailable', `${label}: ${specifier} is not installed`);
      }
      return {
        kind: 'tfjs',
        runtime,
        label,
        modelJsonPath: entry,
        manifest: bundle.manifest,
        module: { url, name: specifier },
      };
    }
  }
}

// Execution providers that failed are recorded by the engine (on its thread); log them here.
function logProviderFallback(runtime: ModelRuntime, options: LoadRuntimeOptions): void {
  const failed = runtime.describe().details.failedProviders;
  if (Array.isArray(failed) && failed.length > 0) {
    options.log?.('onnx execution provider unavailable, fell back', {
      failed,
      using: runtime.describe().backend,
    });
  }
}

/**
 * Loads the runtime `options.runtime` names, or for `auto` the fastest one that loads this bundle.
 * A bundle whose graph disagrees with its manifest is refused outright (no fallback: every
 * runtime would read the same wrong graph).
 */
export async function loadRuntime(bundle: ModelBundle, options: LoadRuntimeOptions): Promise<ModelRuntime> {
  const m = bundle.manifest;
  const identityBundle = { id: m.id, version: m.version, format: m.format };
  if (options.runtime === NULL_RUNTIME) {
    // No engine: the bundle's manifest (input shape, labels) is all it reads; weights stay unread.
    return new NullRuntime(m, {
      bundle: identityBundle,
      ...(options.nullLatencyMs !== undefined ? { latencyMs: options.nullLatencyMs } : {}),
    });
  }
  if (options.runtime !== 'auto') {
    const name = options.runtime;
    const runtime = await WorkerRuntime.start(engineSpec(name, bundle, options), {
      name,
      bundle: identityBundle,
      selection: { requested: name, reason: `CXR_RUNTIME=${name}`, skipped: [] },
    });
    logProviderFallback(runtime, options);
    return runtime;
  }
  const skipped: SkippedRuntime[] = [];
  for (const name of AUTO_ORDER) {
    try {
      const runtime = await WorkerRuntime.start(engineSpec(name, bundle, options), {
        name,
        bundle: identityBundle,
        selection: {
          requested: 'auto',
          reason:
            skipped.length === 0
              ? `fastest runtime for ${m.format} bundles`
              : `fastest runtime that loads this ${m.format} bundle`,
          skipped: [...skipped],
        },
      });
      if (skipped.length > 0) options.log?.('runtime skipped by auto', { chosen: name, skipped });
      logProviderFallback(runtime, options);
      return runtime;
    } catch (error) {
      if (isModelRuntimeError(error, 'bundle_mismatch') || !isModelRuntimeError(error)) throw error;
      // The bundle is named once, in the description; each reason is about the runtime.
      const prefix = `${bundleLabel(bundle)}: `;
      skipped.push({
        runtime: name,
        reason: error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message,
      });
    }
  }
  throw new ModelRuntimeError(
    'runtime_unavailable',
    `${bundleLabel(bundle)}: no runtime can load it: ${skipped.map((s) => `${s.runtime}: ${s.reason}`).join('; ')}`,
  );
}

/** One line of `probeRuntimes`. */
export interface RuntimeProbe {
  readonly runtime: EngineRuntimeName;
  /** Whether the runtime is installed and can read this bundle (the weights are not loaded). */
  readonly canLoad: boolean;
  readonly reason?: string;
}

interface LayersTopology {
  modelTopology?: {
    config?: {
      layers?: { name?: string; config?: Record<string, unknown> }[];
      input_layers?: [string, ...unknown[]][];
      output_layers?: [string, ...unknown[]][];
    };
  };
}

// Checks the manifest against the graph as stored on disk, without starting an engine: the ONNX
// protobuf's declared input/output, or model.json's input layer and final Dense layer.
async function staticBundleCheck(bundle: ModelBundle): Promise<void> {
  const label = bundleLabel(bundle);
  const m = bundle.manifest;
  const bytes = await readFile(bundle.weightPaths[0]!);
  if (m.format === 'onnx') {
    const summary = readOnnxSummary(bytes);
    const [input] = summary.inputs;
    const [output] = summary.outputs;
    checkGraphInput(label, m.input, input?.shape ?? []);
    checkGraphOutput(label, m, output?.shape ?? []);
    const recorded = summary.metadata['cxr.final_activation'];
    checkGraphActivation(
      label,
      m,
      recorded === 'softmax' || recorded === 'sigmoid' || recorded === 'none' ? recorded : undefined,
    );
    return;
  }
  const json = JSON.parse(new TextDecoder().decode(bytes)) as LayersTopology;
  const config = json.modelTopology?.config;
  const byName = new Map((config?.layers ?? []).map((l) => [l.name, l.config ?? {}]));
  const inputLayer = byName.get(config?.input_layers?.[0]?.[0]);
  const shape = inputLayer?.batch_input_shape;
  checkGraphInput(label, m.input, Array.isArray(shape) ? (shape as GraphDim[]) : []);
  const outputLayer = byName.get(config?.output_layers?.[0]?.[0]);
  if (typeof outputLayer?.units === 'number') checkGraphOutput(label, m, [null, outputLayer.units]);
  checkGraphActivation(label, m, activationOfLayer(outputLayer?.activation));
}

/**
 * For each runtime: can it load this bundle here, and if not, why (`cxr model info`). Cheap: it
 * checks formats, installed packages and the manifest against the stored graph, and loads no engine.
 */
export async function probeRuntimes(
  bundle: ModelBundle,
  options: Pick<LoadRuntimeOptions, 'modules'> = {},
): Promise<RuntimeProbe[]> {
  let mismatch: string | undefined;
  try {
    await staticBundleCheck(bundle);
  } catch (error) {
    mismatch = error instanceof Error ? error.message : String(error);
  }
  return RUNTIME_NAMES.map((runtime): RuntimeProbe => {
    const incompatible = formatIncompatibility(runtime, bundle.manifest.format);
    if (incompatible !== undefined) return { runtime, canLoad: false, reason: incompatible };
    if (runtime === 'tfjs-node-gpu' || runtime === 'tfjs-node') {
      const specifier = moduleSpecifier(runtime, options);
      if (resolveModule(specifier) === undefined) {
        return { runtime, canLoad: false, reason: `${specifier} is not installed` };
      }
    }
    if (mismatch !== undefined) return { runtime, canLoad: false, reason: mismatch };
    return { runtime, canLoad: true };
  });
}
