import { readFile } from 'node:fs/promises';
import { loadBundle, type ModelManifest } from './manifest.js';
import { countOnnxParameters, readOnnxSummary } from './onnx/proto.js';
import { countLayersModelParameters } from './tfjs-io.js';

/** What `cxr model info` prints about a bundle, apart from runtime availability. */
export interface BundleDescription {
  readonly dir: string;
  readonly manifest: ModelManifest;
  /**
   * Values stored in the weight files. For tfjs-layers this equals Keras count_params (BN moving
   * statistics included). For onnx it is smaller: folded BNs vanish and the others keep 2 of
   * their 4 vectors; `sourceParameterCount` then holds the count of the model it was exported from.
   */
  readonly parameterCount: number;
  readonly sourceParameterCount?: number;
  readonly weightBytes: number;
}

/** Validates a bundle and counts its parameters from the weight files' headers (no runtime). */
export async function describeBundle(dir: string): Promise<BundleDescription> {
  const bundle = await loadBundle(dir);
  const files = await Promise.all(bundle.weightPaths.map((p) => readFile(p)));
  const weightBytes = files.reduce((sum, f) => sum + f.byteLength, 0);
  const entry = files[0]!;
  switch (bundle.manifest.format) {
    case 'tfjs-layers':
      return {
        dir,
        manifest: bundle.manifest,
        parameterCount: countLayersModelParameters(entry),
        weightBytes,
      };
    case 'onnx': {
      const summary = readOnnxSummary(entry);
      const source = Number(summary.metadata['cxr.source_parameter_count']);
      return {
        dir,
        manifest: bundle.manifest,
        parameterCount: countOnnxParameters(summary),
        ...(Number.isSafeInteger(source) && source > 0 ? { sourceParameterCount: source } : {}),
        weightBytes,
      };
    }
  }
}
