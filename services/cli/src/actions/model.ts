/**
 * The actions of `cxr model init | export-onnx | info` (loaded only when one runs: they load tfjs
 * and onnxruntime). `cxr model import` and `cxr model reference` have modules of their own.
 */
import { describeBundle, exportBundleToOnnx, initSeedModel, loadBundle, probeRuntimes } from '@cxr/model';
import type { ModelFormat, OutputActivation } from '@cxr/model/names';

/** The options of `cxr model init`. */
export interface InitOptions {
  readonly out: string;
  readonly size: number;
  readonly labels: string[];
  readonly activation: OutputActivation;
  readonly seed: number;
  readonly format: ModelFormat;
}

/** `cxr model init`. */
export async function modelInitCommand(options: InitOptions): Promise<void> {
  const bundle = await initSeedModel({
    outDir: options.out,
    size: options.size,
    labels: options.labels,
    activation: options.activation,
    seed: options.seed,
    format: options.format,
  });
  process.stdout.write(
    `wrote ${bundle.dir}: ${bundle.manifest.id} ${bundle.manifest.version} (${bundle.manifest.format}, ` +
      `${bundle.manifest.input.size}x${bundle.manifest.input.size}, labels ${bundle.manifest.output.labels.join(',')})\n`,
  );
}

/** `cxr model export-onnx`. */
export async function modelExportOnnxCommand(src: string, options: { out: string }): Promise<void> {
  const { bundle, export: result } = await exportBundleToOnnx(src, options.out, {});
  process.stdout.write(
    `wrote ${bundle.dir}: ${result.foldedBatchNorms.length} BatchNorms folded, input ${result.inputLayout}\n`,
  );
}

/** `cxr model info`. */
export async function modelInfoCommand(dir: string, options: { json?: boolean }): Promise<void> {
  const description = await describeBundle(dir);
  const runtimes = await probeRuntimes(await loadBundle(dir));
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ ...description, runtimes }, null, 2)}\n`);
    return;
  }
  const m = description.manifest;
  const lines = [
    `bundle        ${description.dir}`,
    `model         ${m.id} ${m.version} (${m.architecture}, ${m.format})`,
    `parameters    ${description.parameterCount.toLocaleString('en-US')}` +
      (description.sourceParameterCount !== undefined
        ? ` stored (source model: ${description.sourceParameterCount.toLocaleString('en-US')})`
        : ''),
    `weights       ${(description.weightBytes / 1024 / 1024).toFixed(1)} MiB`,
    `input         ${m.input.size}x${m.input.size}x${m.input.channels} ${m.input.layout}, crop ${m.input.crop}, ` +
      `resize ${m.input.resize}, intensity ${m.input.intensity.method}, normalization ${m.input.normalization.method}`,
    `output        ${m.output.activation} over ${m.output.labels.join(', ')}; decision ${m.output.decision}`,
    'runtimes',
    ...runtimes.map((r) => `  ${r.runtime.padEnd(14)} ${r.canLoad ? 'yes' : `no: ${r.reason ?? 'unknown'}`}`),
    'manifest',
    JSON.stringify(m, null, 2),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
