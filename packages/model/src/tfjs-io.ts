import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * tfjs-layers model.json + weights.bin on disk without tfjs-node: `model.save('file://...')` needs
 * the native binding (absent here, see DEPENDENCY_NOTES.md), so artifacts pass through
 * `tf.io.withSaveHandler` / `tf.io.fromMemory` and node:fs. The layout is the standard one that
 * `tensorflowjs_converter` writes and `tf.loadLayersModel` reads.
 */

export const LAYERS_MODEL_FILE = 'model.json';
export const LAYERS_WEIGHTS_FILE = 'weights.bin';

/** The two files of a tfjs-layers model: model.json (topology + weights manifest) and one shard. */
export interface LayersModelFiles {
  readonly modelJson: Uint8Array;
  readonly weightsBin: Uint8Array;
}

/** The parts of model.json this module reads and writes. */
interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Runs one-time tfjs setup: the pure-JS cpu backend, which builders and reference predictions use. */
export async function useCpuBackend(): Promise<void> {
  if (tf.getBackend() !== 'cpu') {
    const ok = await tf.setBackend('cpu');
    if (!ok) throw new Error('tfjs: cannot select the cpu backend');
  }
  await tf.ready();
  // The cpu backend prints a banner recommending tfjs-node on its first tensor in Node. tfjs-node
  // cannot be installed here (see README, Runtimes) and the banner would pollute CLI output.
  const backend = tf.backend() as unknown as { firstUse?: boolean };
  if (backend.firstUse === true) backend.firstUse = false;
}

/** Serializes a layers model to model.json + a single weights.bin shard (deterministic bytes). */
export async function serializeLayersModel(model: tf.LayersModel): Promise<LayersModelFiles> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      captured = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } });
    }),
  );
  if (captured?.modelTopology === undefined || captured.weightSpecs === undefined) {
    throw new Error('tfjs: model.save produced no topology or weight specs');
  }
  const weightData = captured.weightData ?? new ArrayBuffer(0);
  const joined = tf.io.CompositeArrayBuffer.join(weightData);
  const modelJson: ModelJson = {
    modelTopology: captured.modelTopology,
    format: captured.format ?? 'layers-model',
    generatedBy: captured.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: captured.convertedBy ?? null,
    weightsManifest: [{ paths: [LAYERS_WEIGHTS_FILE], weights: captured.weightSpecs }],
  };
  return {
    modelJson: new TextEncoder().encode(JSON.stringify(modelJson)),
    weightsBin: new Uint8Array(joined),
  };
}

/** Writes model.json and weights.bin into `dir`; returns the file names, model.json first. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<[string, string]> {
  const files = await serializeLayersModel(model);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, LAYERS_WEIGHTS_FILE), files.weightsBin);
  await writeFile(path.join(dir, LAYERS_MODEL_FILE), files.modelJson);
  return [LAYERS_MODEL_FILE, LAYERS_WEIGHTS_FILE];
}

function parseModelJson(bytes: Uint8Array, source: string): ModelJson {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ModelJson> | null;
  if (json === null || typeof json !== 'object' || typeof json.modelTopology !== 'object') {
    throw new Error(`${source}: not a tfjs-layers model.json (no modelTopology)`);
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new Error(`${source}: not a tfjs-layers model.json (no weightsManifest)`);
  }
  return json as ModelJson;
}

/**
 * Builds a layers model from model.json bytes and a shard reader; shards are concatenated in
 * weightsManifest order, as tfjs's own loaders do.
 */
export async function deserializeLayersModel(
  modelJsonBytes: Uint8Array,
  readShard: (name: string) => Promise<Uint8Array>,
  source = LAYERS_MODEL_FILE,
): Promise<tf.LayersModel> {
  const json = parseModelJson(modelJsonBytes, source);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const shards: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const name of group.paths) {
      if (path.isAbsolute(name) || name.split(/[\\/]/).includes('..')) {
        throw new Error(`${source}: weightsManifest path "${name}" points outside the model folder`);
      }
      const shard = await readShard(name);
      // Copy into an exact-size ArrayBuffer: Node Buffers can be views into a larger pool.
      const copy = new ArrayBuffer(shard.byteLength);
      new Uint8Array(copy).set(shard);
      shards.push(copy);
    }
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: tf.io.CompositeArrayBuffer.join(shards),
  };
  if (json.format !== undefined) artifacts.format = json.format;
  if (json.generatedBy !== undefined) artifacts.generatedBy = json.generatedBy;
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** Loads a layers model from a model.json path, reading its shards from the same folder. */
export async function loadLayersModelFile(modelJsonPath: string): Promise<tf.LayersModel> {
  const dir = path.dirname(modelJsonPath);
  const bytes = await readFile(modelJsonPath);
  return deserializeLayersModel(
    bytes,
    async (name) => new Uint8Array(await readFile(path.join(dir, name))),
    path.basename(modelJsonPath),
  );
}

/** Sums the element counts of a model.json's weight specs (no weights are read). */
export function countLayersModelParameters(modelJsonBytes: Uint8Array, source = LAYERS_MODEL_FILE): number {
  const json = parseModelJson(modelJsonBytes, source);
  let total = 0;
  for (const group of json.weightsManifest) {
    for (const spec of group.weights) total += spec.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}
