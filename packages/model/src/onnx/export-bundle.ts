import {
  loadBundle,
  ModelBundleError,
  writeBundle,
  type ModelBundle,
  type ModelManifest,
} from '../manifest.js';
import { loadLayersModelFile } from '../tfjs-io.js';
import { exportLayersModelToOnnx, type OnnxExportOptions, type OnnxExportResult } from './export.js';

export const ONNX_MODEL_FILE = 'model.onnx';

/**
 * Rewrites a manifest for an exported ONNX graph: format onnx, the one weights file, and
 * input.layout set to the graph's input layout (the manifest is the single truth about the input
 * tensor). Everything else, including output.activation, is carried over unchanged: the graph
 * applies exactly the activation the source model applied.
 */
export function onnxManifestFrom(source: ModelManifest, result: OnnxExportResult): ModelManifest {
  return {
    ...source,
    format: 'onnx',
    weights: [ONNX_MODEL_FILE],
    input: { ...source.input, layout: result.inputLayout },
  };
}

/** Converts a tfjs-layers bundle folder to an ONNX bundle folder (`cxr model export-onnx`). */
export async function exportBundleToOnnx(
  srcDir: string,
  outDir: string,
  options: OnnxExportOptions = {},
): Promise<{ bundle: ModelBundle; export: OnnxExportResult }> {
  const src = await loadBundle(srcDir);
  const m = src.manifest;
  if (m.format !== 'tfjs-layers') {
    throw new ModelBundleError(
      'manifest_invalid',
      `manifest.json: format: expected "tfjs-layers" to export, got "${m.format}"`,
    );
  }
  const model = await loadLayersModelFile(src.weightPaths[0]!);
  try {
    // The manifest must describe the graph it ships with; refuse a bundle where it does not.
    const inShape = model.inputs[0]?.shape ?? [];
    if (inShape[1] !== m.input.size || inShape[2] !== m.input.size || inShape[3] !== m.input.channels) {
      throw new ModelBundleError(
        'manifest_invalid',
        `manifest.json: input: size ${m.input.size} x channels ${m.input.channels} does not match model input [${inShape.join(',')}]`,
      );
    }
    if (m.input.layout !== 'NHWC') {
      throw new ModelBundleError(
        'manifest_invalid',
        'manifest.json: input.layout: tfjs-layers models are NHWC',
      );
    }
    const units = model.outputs[0]?.shape[1];
    if (units !== m.output.labels.length) {
      throw new ModelBundleError(
        'manifest_invalid',
        `manifest.json: output.labels: ${m.output.labels.length} labels but the model has ${String(units)} outputs`,
      );
    }
    const result = exportLayersModelToOnnx(model, {
      ...options,
      metadata: { 'cxr.model_id': m.id, 'cxr.model_version': m.version, ...options.metadata },
    });
    if (result.finalActivation !== m.output.activation) {
      throw new ModelBundleError(
        'manifest_invalid',
        `manifest.json: output.activation: says "${m.output.activation}" but the graph applies "${result.finalActivation}"`,
      );
    }
    const bundle = await writeBundle(outDir, onnxManifestFrom(m, result), {
      [ONNX_MODEL_FILE]: result.bytes,
    });
    return { bundle, export: result };
  } finally {
    model.dispose();
  }
}
