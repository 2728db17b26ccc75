/**
 * `cxr model import MODEL.onnx --out DIR [--preset xrv|imagenet] [--labels LIST|FILE] [--size N]
 * [--id ID] [--version V] [--test-image FILE.dcm] [--json]`: argument parsing, output and exit
 * codes around @cxr/model's importOnnxModel; the test image is decoded and preprocessed by
 * @cxr/imaging exactly as `cxr predict` does.
 */
import { loadConfig } from '@cxr/config';
import { runDecodeTask, syntheticModelInput } from '@cxr/imaging';
import {
  ModelImportError,
  acceptRulesOf,
  importOnnxModel,
  readLabelsOption,
  type ImportPreset,
  type ImportedModel,
  type ModelImportErrorCode,
} from '@cxr/model';
import { CliError, ExitCode } from '../output.js';
import { readInput } from './input.js';

export interface ModelImportOptions {
  readonly out: string;
  readonly preset?: ImportPreset;
  readonly labels?: string;
  readonly size?: number;
  readonly id?: string;
  readonly version?: string;
  readonly testImage?: string;
  readonly json?: boolean;
}

/** Exit code of an import refusal: the user's arguments (2) or the model file itself (3). */
export function importExitCode(code: ModelImportErrorCode): number {
  switch (code) {
    case 'size_required':
    case 'size_conflict':
    case 'preset_mismatch':
    case 'labels_invalid':
    case 'out_not_empty':
      return ExitCode.Usage;
    case 'not_onnx':
    case 'unsupported_graph':
    case 'check_failed':
      return ExitCode.Rejected;
  }
}

function report(result: ImportedModel): string {
  const { bundle, graph, check, labels } = result;
  const m = bundle.manifest;
  const width = Math.max(...m.output.labels.map((l) => l.length), 12) + 2;
  const lines = [
    `wrote ${bundle.dir}: ${m.id} ${m.version} (onnx)`,
    `input         "${graph.inputName}" [${graph.inputShape.map((d) => (d === '' ? '?' : String(d))).join(',')}]: ` +
      `${m.input.layout}, ${m.input.channels} channel(s), ${m.input.size}x${m.input.size}` +
      (graph.sizeFrom === 'option' ? ' (--size; the graph takes any size)' : ''),
    `output        "${graph.outputName}": ${graph.outputs} scores, activation ${m.output.activation}` +
      (graph.activationNode === undefined ? '' : ` (${graph.activationNode})`) +
      `, decision ${m.output.decision}`,
    `preset        ${result.preset}: crop ${m.input.crop}, resize ${m.input.resize}, intensity ${m.input.intensity.method}, ` +
      `normalization ${m.input.normalization.method}`,
    `labels        ${labels.source}`,
    `test run      ${check.input} on ${check.runtime}: load ${check.loadMs.toFixed(0)} ms, infer ${check.inferMs.toFixed(0)} ms`,
    ...m.output.labels.map(
      (label, i) => `  ${label.padEnd(width)} ${(check.scores[i] ?? Number.NaN).toFixed(4)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs the command; a refusal becomes a CliError with the exit code importExitCode gives. */
export async function modelImportCommand(file: string, options: ModelImportOptions): Promise<void> {
  const config = loadConfig();
  let result: ImportedModel;
  try {
    const labels = options.labels === undefined ? undefined : await readLabelsOption(options.labels);
    result = await importOnnxModel({
      modelPath: file,
      outDir: options.out,
      ...(options.preset === undefined ? {} : { preset: options.preset }),
      ...(labels === undefined ? {} : { labels }),
      ...(options.size === undefined ? {} : { size: options.size }),
      ...(options.id === undefined ? {} : { id: options.id }),
      ...(options.version === undefined ? {} : { version: options.version }),
      threads: config.runtime.threads,
      testInput: async (manifest) => {
        const testImage = options.testImage;
        if (testImage === undefined) {
          return { tensor: await syntheticModelInput(manifest.input), description: 'synthetic radiograph' };
        }
        // The bundle's own applicability rules: a test image it would refuse is refused here too.
        const decoded = await readInput(testImage, (bytes) =>
          runDecodeTask(bytes, { output: { model: manifest.input, accept: acceptRulesOf(manifest) } }),
        );
        return { tensor: decoded.pixels, description: testImage };
      },
    });
  } catch (error) {
    if (error instanceof ModelImportError) throw new CliError(error.message, importExitCode(error.code));
    throw error;
  }
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    process.stdout.write(report(result));
  }
  for (const warning of result.warnings) process.stderr.write(`cxr: warning: ${warning}\n`);
}
