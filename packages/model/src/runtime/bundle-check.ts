import type { ManifestInput, ModelManifest, OutputActivation } from '../manifest.js';
import { ModelRuntimeError } from './types.js';

/**
 * Pure checks shared by every adapter: the manifest is the single truth about the input tensor,
 * so a graph that disagrees with it is refused at load, naming the bundle and the mismatch,
 * rather than producing scores for a silently mis-shaped input.
 */

/** A graph dimension: a number, or a symbolic/unknown one (`batch`, null). */
export type GraphDim = number | string | null;

/** How error messages name a bundle: id, version and folder (never patient data). */
export function bundleLabel(bundle: { readonly dir: string; readonly manifest: ModelManifest }): string {
  return `bundle ${bundle.manifest.id}@${bundle.manifest.version} (${bundle.dir})`;
}

/** Float32 values per image: channels x size x size. */
export function valuesPerImage(input: ManifestInput): number {
  return input.channels * input.size * input.size;
}

/** The input tensor shape the manifest promises, batch first (symbolic). */
export function manifestInputShape(input: ManifestInput): GraphDim[] {
  return input.layout === 'NCHW'
    ? ['batch', input.channels, input.size, input.size]
    : ['batch', input.size, input.size, input.channels];
}

function formatShape(shape: readonly GraphDim[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Throws input_invalid unless batch holds exactly batchSize images of manifest.input's shape. */
export function checkBatch(input: ManifestInput, batch: Float32Array, batchSize: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ModelRuntimeError(
      'input_invalid',
      `predict: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const expected = batchSize * valuesPerImage(input);
  if (batch.length !== expected) {
    throw new ModelRuntimeError(
      'input_invalid',
      `predict: batch has ${batch.length} values, expected ${expected} = ${batchSize} x ${formatShape(manifestInputShape(input).slice(1))} (${input.layout})`,
    );
  }
}

/** A dimension the graph leaves open: symbolic, unknown, or a non-positive placeholder. */
function isDynamicDim(dim: GraphDim | undefined): boolean {
  return typeof dim !== 'number' || dim <= 0;
}

/**
 * Throws bundle_mismatch unless the graph's input shape equals the manifest's: the batch
 * dimension is free; height and width equal manifest.input.size or are dynamic (a fully
 * convolutional graph with global pooling runs at any size, and the manifest names the one the
 * model was trained at); channels are fixed and equal.
 */
export function checkGraphInput(label: string, input: ManifestInput, graphShape: readonly GraphDim[]): void {
  const expected = manifestInputShape(input);
  const spatial = input.layout === 'NCHW' ? [2, 3] : [1, 2];
  const same =
    graphShape.length === expected.length &&
    graphShape.every(
      (dim, i) => i === 0 || dim === expected[i] || (spatial.includes(i) && isDynamicDim(dim)),
    );
  if (!same) {
    throw new ModelRuntimeError(
      'bundle_mismatch',
      `${label}: graph input ${formatShape(graphShape)} does not match manifest.input (size ${input.size}, channels ${input.channels}, layout ${input.layout} => ${formatShape(expected)})`,
    );
  }
}

/** Throws bundle_mismatch unless the graph's output is [batch, labels]. */
export function checkGraphOutput(
  label: string,
  manifest: ModelManifest,
  graphShape: readonly GraphDim[],
): void {
  const labels = manifest.output.labels.length;
  if (graphShape.length !== 2 || graphShape[1] !== labels) {
    throw new ModelRuntimeError(
      'bundle_mismatch',
      `${label}: graph output ${formatShape(graphShape)} does not match manifest.output.labels (${labels} labels => [batch,${labels}])`,
    );
  }
}

/** Throws bundle_mismatch when the graph says which activation it applies and it is not the manifest's. */
export function checkGraphActivation(
  label: string,
  manifest: ModelManifest,
  graphActivation: OutputActivation | undefined,
): void {
  if (graphActivation !== undefined && graphActivation !== manifest.output.activation) {
    throw new ModelRuntimeError(
      'bundle_mismatch',
      `${label}: graph applies activation "${graphActivation}" but manifest.output.activation says "${manifest.output.activation}"`,
    );
  }
}

/** Maps a Keras/tfjs layer activation name to what the pipeline calls it. */
export function activationOfLayer(name: unknown): OutputActivation | undefined {
  switch (name) {
    case 'softmax':
    case 'sigmoid':
      return name;
    case 'linear':
    case 'relu':
    case 'tanh':
      return 'none';
    default:
      return undefined;
  }
}
