/**
 * `cxr model init | export-onnx | import | info | reference`: build, convert, import and describe
 * model bundles, and compute their drift reference. This module registers the commands; their
 * actions (../actions/model*.ts) load tfjs, onnxruntime and the store when one runs.
 */
import type { Command } from 'commander';
import { ACTIVATIONS, IMPORT_PRESETS, MODEL_FORMATS, SEED_MODEL_LABELS } from '@cxr/model/names';
import type { InitOptions } from '../actions/model.js';
import type { ModelImportOptions } from '../actions/model-import.js';
import type { ModelReferenceOptions } from '../actions/model-reference.js';
import { CliError, ExitCode } from '../output.js';
import { choiceOption, integerOption } from '../options.js';

function parseLabels(raw: string): string[] {
  const labels = raw.split(',').map((l) => l.trim());
  if (labels.some((l) => l === '') || new Set(labels).size !== labels.length) {
    throw new CliError(
      `--labels must be distinct, non-empty, comma-separated names, got "${raw}"`,
      ExitCode.Usage,
    );
  }
  return labels;
}

export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('Build, convert and describe model bundles');

  model
    .command('init')
    .description(
      'Build the seed model: DenseNet121 + global average pooling + Dense(256, relu) + Dropout(0.5) + ' +
        'Dense(labels), with seeded weights (no weights are downloaded)',
    )
    .requiredOption('--out <dir>', 'bundle folder to write')
    .option('--size <pixels>', 'input size (square)', integerOption('--size', 32), 512)
    .option('--labels <list>', 'comma-separated output labels', parseLabels, [...SEED_MODEL_LABELS])
    .option(
      '--activation <fn>',
      `output activation (${ACTIVATIONS.join(' | ')})`,
      choiceOption('--activation', ACTIVATIONS),
      'softmax',
    )
    .option('--seed <n>', 'weight seed (same seed, same weights)', integerOption('--seed', 0), 0)
    .option(
      '--format <format>',
      `weights format (${MODEL_FORMATS.join(' | ')})`,
      choiceOption('--format', MODEL_FORMATS),
      'onnx',
    )
    .action(async (options: InitOptions) => {
      const { modelInitCommand } = await import('../actions/model.js');
      await modelInitCommand(options);
    });

  model
    .command('export-onnx')
    .description('Convert a tfjs-layers bundle to ONNX (BatchNorm folded where exact) and copy its manifest')
    .argument('<src>', 'tfjs-layers bundle folder')
    .requiredOption('--out <dir>', 'ONNX bundle folder to write')
    .action(async (src: string, options: { out: string }) => {
      const { modelExportOnnxCommand } = await import('../actions/model.js');
      await modelExportOnnxCommand(src, options);
    });

  model
    .command('import')
    .description(
      'Make a bundle from an ONNX image classifier (e.g. a PyTorch export): read its input, output and ' +
        'final activation, fill preprocessing from a preset, write and validate the manifest, and run ' +
        'one image through it (nothing is written if that fails)',
    )
    .argument('<model>', '.onnx file')
    .requiredOption('--out <dir>', 'bundle folder to create (new or empty)')
    .option(
      '--preset <name>',
      `preprocessing recipe (${IMPORT_PRESETS.join(' | ')}; default: xrv for 1-channel graphs, imagenet for 3-channel ones)`,
      choiceOption('--preset', IMPORT_PRESETS),
    )
    .option(
      '--labels <list|file>',
      "output labels in output order: a,b,c, or a file with one per line or a JSON array (default: the preset's " +
        'list when the output width matches, else label_0..label_N)',
    )
    .option(
      '--size <pixels>',
      'input size, for graphs whose height and width are dynamic',
      integerOption('--size', 1),
    )
    .option('--id <id>', 'model id (default: the file name without .onnx)')
    .option(
      '--version <version>',
      "model version (default: sha256- and the first 12 hex digits of the file's hash)",
    )
    .option('--test-image <file>', 'DICOM file for the test run (default: a synthetic radiograph)')
    .option('--json', 'print JSON')
    .action(async (file: string, options: ModelImportOptions) => {
      const { modelImportCommand } = await import('../actions/model-import.js');
      await modelImportCommand(file, options);
    });

  model
    .command('info')
    .description('Print the manifest, the parameter count and which runtimes can load the bundle')
    .argument('<dir>', 'bundle folder')
    .option('--json', 'print JSON')
    .action(async (dir: string, options: { json?: boolean }) => {
      const { modelInfoCommand } = await import('../actions/model.js');
      await modelInfoCommand(dir, options);
    });

  model
    .command('reference')
    .description(
      "Compute the drift reference (score and input-feature distributions) from a run's ok results " +
        'and write it into the manifest as `reference` (the rest of manifest.json is left as it is)',
    )
    .argument('<dir>', 'bundle folder')
    .option('--from <run>', 'run id whose ok results become the reference (see `cxr results runs`)')
    .option(
      '--from-source <uri>',
      'screen this source (file:///dir, s3://bucket/prefix, manifest) with the bundle first and use its results',
    )
    .option(
      '--store <url>',
      'with --from: results store, sqlite:PATH or postgres://... (default: CXR_STORE_URL)',
    )
    .option(
      '--force',
      "with --from: use the run's ok results even if another model id or version produced them",
    )
    .action(async (dir: string, options: Partial<ModelReferenceOptions> & { fromSource?: string }) => {
      const { from, fromSource, ...rest } = options;
      if ((from === undefined) === (fromSource === undefined)) {
        throw new CliError(
          'cxr model reference needs exactly one of --from RUN_ID and --from-source URI',
          ExitCode.Usage,
        );
      }
      const { modelReferenceCommand, modelReferenceFromSource } =
        await import('../actions/model-reference.js');
      if (fromSource !== undefined) await modelReferenceFromSource(dir, fromSource);
      else if (from !== undefined) await modelReferenceCommand(dir, { ...rest, from });
    });
}
