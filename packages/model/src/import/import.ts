import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_ACCEPT,
  writeBundle,
  type ManifestInput,
  type ManifestOutput,
  type ModelBundle,
  type ModelManifest,
} from '../manifest.js';
import { ONNX_MODEL_FILE } from '../onnx/export-bundle.js';
import { readOnnxSummary, type OnnxSummary } from '../onnx/proto.js';
import { loadRuntime } from '../runtime/select.js';
import { isModelRuntimeError } from '../runtime/types.js';
import { ModelImportError } from './errors.js';
import { architectureDoubt, describeClassifierGraph, type ClassifierGraph } from './graph.js';
import { resolveImportLabels, type ImportLabels } from './labels.js';
import { defaultPreset, presetInput, presetRecipe, type ImportPreset } from './presets.js';

/**
 * `cxr model import`: a bundle from a foreign ONNX image classifier (e.g. a PyTorch export). The
 * graph says what it takes and returns; a preset says how images are prepared for it; labels come
 * from the caller, the preset or placeholders. The bundle is written to a staging folder, run on
 * one test image, and only then moved to its place, so a bundle that fails never appears.
 */

/** The test image as the bundle's input tensor, made by the caller (decoding lives in @cxr/imaging). */
export interface ImportTestInput {
  /** One image, laid out as manifest.input says. */
  readonly tensor: Float32Array;
  /** What the image was, for the report: a file name or "synthetic radiograph". */
  readonly description: string;
}

export interface ImportOnnxModelOptions {
  /** The .onnx file. */
  readonly modelPath: string;
  /** Bundle folder to create; it must not exist or be empty. */
  readonly outDir: string;
  /** Default: xrv for a 1-channel graph, imagenet for a 3-channel one. */
  readonly preset?: ImportPreset;
  /** One per output, in output order; default: the preset's list, else placeholders. */
  readonly labels?: readonly string[];
  /** Input side for graphs whose height and width are dynamic. */
  readonly size?: number;
  /** Default: the file name without `.onnx`. */
  readonly id?: string;
  /** Default: `sha256-` and the first 12 hex digits of the file's SHA-256. */
  readonly version?: string;
  /** provenance.date; default now. */
  readonly date?: Date;
  /** onnxruntime compute threads for the test run. */
  readonly threads?: number;
  /** Makes the test image's tensor for the written manifest (see ImportTestInput). */
  readonly testInput: (manifest: ModelManifest) => Promise<ImportTestInput>;
}

/** The test run of a freshly written bundle. */
export interface ImportCheck {
  readonly input: string;
  /** One per label, manifest order. */
  readonly scores: readonly number[];
  /** e.g. `onnx (onnxruntime-node 1.30.0, cpu)`. */
  readonly runtime: string;
  readonly loadMs: number;
  readonly inferMs: number;
}

/** What `importOnnxModel` wrote and found. */
export interface ImportedModel {
  readonly bundle: ModelBundle;
  readonly graph: ClassifierGraph;
  readonly preset: ImportPreset;
  readonly labels: ImportLabels;
  /** Everything a person should check before using the bundle, one sentence each. */
  readonly warnings: readonly string[];
  readonly check: ImportCheck;
}

/** Facts about the source file that go into provenance. */
export interface ImportSource {
  /** Base name only: a folder path may say more than it should. */
  readonly file: string;
  readonly sha256: string;
  readonly summary: Pick<OnnxSummary, 'producerName' | 'producerVersion' | 'opsetVersion' | 'irVersion'>;
}

/** Default manifest id from a file name: `densenet121-res224-all.onnx` -> `densenet121-res224-all`. */
export function importedModelId(file: string): string {
  const id = path
    .basename(file)
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return id === '' ? 'imported-model' : id;
}

const THRESHOLD_NOTE = 'operating thresholds are 0.5 for every label, not calibrated on a validation set';

/**
 * The manifest of an imported graph. Sigmoid outputs are multi-label (decision by thresholds),
 * softmax outputs single-label (argmax); both get 0.5 thresholds, which provenance says are not
 * calibrated. Raw scores (activation none) get argmax and no thresholds: 0.5 means nothing there.
 * Also returns the warnings it puts into provenance.warning (what the import could not know).
 */
export function importedManifest(options: {
  readonly graph: ClassifierGraph;
  readonly preset: ImportPreset;
  /** The preset's input block for the graph (presetInput). */
  readonly input: ManifestInput;
  readonly labels: ImportLabels;
  readonly source: ImportSource;
  readonly id: string;
  readonly version: string;
  readonly date: Date;
}): { manifest: ModelManifest; warnings: string[] } {
  const { graph, preset, labels, source } = options;
  const warnings: string[] = [];
  if (graph.activation === 'none') {
    warnings.push(
      'the graph ends with no sigmoid or softmax: its scores are raw and decided by argmax, with no thresholds',
    );
  } else {
    warnings.push(THRESHOLD_NOTE);
  }
  switch (labels.kind) {
    case 'given':
      break;
    case 'preset':
      warnings.push(`labels are assumed to be ${labels.source}: check that the weights use this order`);
      break;
    case 'placeholder':
      warnings.push(`labels are ${labels.source}: give the real ones with --labels`);
      break;
  }
  const doubt = architectureDoubt(graph);
  if (doubt !== undefined) warnings.push(doubt);
  const output: ManifestOutput =
    graph.activation === 'none'
      ? { activation: 'none', labels: [...labels.labels], decision: 'argmax' }
      : {
          activation: graph.activation,
          labels: [...labels.labels],
          thresholds: Object.fromEntries(labels.labels.map((label) => [label, 0.5])),
          decision: graph.activation === 'sigmoid' ? 'thresholds' : 'argmax',
        };
  const { summary } = source;
  const manifest: ModelManifest = {
    id: options.id,
    version: options.version,
    architecture: 'densenet121',
    format: 'onnx',
    weights: [ONNX_MODEL_FILE],
    // Written out, so the bundle says which images it is for rather than relying on a default.
    accept: structuredClone(DEFAULT_ACCEPT),
    input: options.input,
    output,
    provenance: {
      warning: `imported model: ${warnings.join('; ')}`,
      trainingData: 'unknown: imported with `cxr model import`; record what the weights were trained on',
      date: options.date.toISOString(),
      importedFrom: {
        file: source.file,
        sha256: source.sha256,
        producer: `${summary.producerName} ${summary.producerVersion}`.trim(),
        irVersion: summary.irVersion,
        ...(summary.opsetVersion === undefined ? {} : { opset: summary.opsetVersion }),
        input: { name: graph.inputName, shape: graph.inputShape },
        output: { name: graph.outputName, activationNode: graph.activationNode ?? null },
      },
      preset: { name: preset, recipe: presetRecipe(preset) },
      labels: labels.source,
      ...(graph.activation === 'none' ? {} : { thresholds: THRESHOLD_NOTE }),
    },
  };
  return { manifest, warnings };
}

/**
 * Throws check_failed unless a test run's scores fit the manifest: one finite score per label,
 * within [0,1] for sigmoid and softmax, summing to 1 for softmax.
 */
export function checkImportedScores(scores: ArrayLike<number>, output: ManifestOutput, label: string): void {
  const n = output.labels.length;
  if (scores.length !== n) {
    throw new ModelImportError(
      'check_failed',
      `${label}: the test run gave ${scores.length} scores, expected ${n}`,
    );
  }
  for (let i = 0; i < n; i++) {
    const score = scores[i]!;
    const name = output.labels[i]!;
    if (!Number.isFinite(score)) {
      throw new ModelImportError('check_failed', `${label}: the test run scored "${name}" ${score}`);
    }
    if (output.activation !== 'none' && (score < 0 || score > 1)) {
      throw new ModelImportError(
        'check_failed',
        `${label}: the test run scored "${name}" ${score}, outside [0,1] although the graph ends with a ${output.activation}`,
      );
    }
  }
  if (output.activation === 'softmax') {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += scores[i]!;
    // float32 softmax outputs sum to 1 within a few ulps per class.
    if (Math.abs(sum - 1) > 1e-4) {
      throw new ModelImportError(
        'check_failed',
        `${label}: the test run's softmax scores sum to ${sum}, not 1 (is the softmax over the classes?)`,
      );
    }
  }
}

/** Throws out_not_empty when `dir` exists and holds anything; true when it exists (empty). */
async function checkOutDir(dir: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw new ModelImportError(
      'out_not_empty',
      `${dir}: cannot use it as the bundle folder (${code ?? 'error'})`,
      {
        cause: error,
      },
    );
  }
  if (entries.length > 0) {
    throw new ModelImportError('out_not_empty', `${dir}: already holds files; give an empty or new folder`);
  }
  return true;
}

/** Loads the staged bundle on onnxruntime and runs the test image through it. */
async function runTestImage(
  staged: ModelBundle,
  label: string,
  options: Pick<ImportOnnxModelOptions, 'testInput' | 'threads'>,
): Promise<ImportCheck> {
  const input = await options.testInput(staged.manifest);
  const t0 = performance.now();
  let runtime;
  try {
    runtime = await loadRuntime(staged, {
      runtime: 'onnx',
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
  } catch (error) {
    if (!isModelRuntimeError(error)) throw error;
    throw new ModelImportError(
      'check_failed',
      `${label}: the written bundle does not load: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  try {
    const t1 = performance.now();
    let scores: Float32Array;
    try {
      scores = await runtime.predict(input.tensor, 1);
    } catch (error) {
      if (!isModelRuntimeError(error)) throw error;
      throw new ModelImportError('check_failed', `${label}: the test run failed: ${error.message}`, {
        cause: error,
      });
    }
    const t2 = performance.now();
    checkImportedScores(scores, staged.manifest.output, label);
    const d = runtime.describe();
    return {
      input: input.description,
      scores: [...scores],
      runtime: `${d.name} (${d.version}, ${d.backend.join(', ')})`,
      loadMs: t1 - t0,
      inferMs: t2 - t1,
    };
  } finally {
    await runtime.close();
  }
}

/**
 * Imports an ONNX image classifier as a bundle in `outDir` (see the module comment). Throws
 * ModelImportError naming the file and the reason when the graph, the arguments or the test run
 * do not fit; errors of `testInput` (an unreadable or rejected test image) pass through unchanged.
 * Nothing is left in `outDir` on failure.
 */
export async function importOnnxModel(options: ImportOnnxModelOptions): Promise<ImportedModel> {
  const file = options.modelPath;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'read error';
    throw new ModelImportError('not_onnx', `${file}: cannot read (${code})`, { cause });
  }
  let summary: OnnxSummary;
  try {
    summary = readOnnxSummary(bytes);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ModelImportError('not_onnx', `${file}: not an ONNX model (${detail})`, { cause });
  }
  if (summary.nodes.length === 0) {
    throw new ModelImportError('not_onnx', `${file}: not an ONNX model (its graph has no nodes)`);
  }
  const graph = describeClassifierGraph(summary, {
    file,
    ...(options.size === undefined ? {} : { size: options.size }),
  });
  const preset = options.preset ?? defaultPreset(graph.channels);
  const input = presetInput(preset, graph, file);
  const labels = resolveImportLabels({ given: options.labels, preset, outputs: graph.outputs, file });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const { manifest, warnings } = importedManifest({
    graph,
    preset,
    input,
    labels,
    source: { file: path.basename(file), sha256, summary },
    id: options.id ?? importedModelId(file),
    version: options.version ?? `sha256-${sha256.slice(0, 12)}`,
    date: options.date ?? new Date(),
  });

  const outDir = path.resolve(options.outDir);
  const existed = await checkOutDir(outDir);
  // A sibling, so the final rename stays on one file system.
  const staging = path.join(path.dirname(outDir), `.${path.basename(outDir)}.importing-${process.pid}`);
  await mkdir(path.dirname(outDir), { recursive: true });
  await rm(staging, { recursive: true, force: true });
  try {
    const staged = await writeBundle(staging, manifest, { [ONNX_MODEL_FILE]: bytes });
    // Messages name the folder the user asked for, not the staging one.
    const check = await runTestImage({ ...staged, dir: options.outDir }, file, options);
    if (existed) await rmdir(outDir);
    await rename(staging, outDir);
    return {
      bundle: {
        dir: options.outDir,
        manifest: staged.manifest,
        weightPaths: staged.manifest.weights.map((name) => path.join(options.outDir, name)),
      },
      graph,
      preset,
      labels,
      warnings: [...graph.warnings, ...warnings],
      check,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
