/**
 * `cxr predict FILE --model DIR`: one image through the same applicability rules, decode,
 * preprocessing, runtime and decision rule as the pipeline, printed in the seed's response shape.
 * An image the model does not apply to is rejected (`not_applicable`, exit code 3) unscored; a
 * bundle's provenance warning (the seed model's random weights) goes to stderr. `--save-input`
 * writes the tensor the runtime was given, so another framework can be run on exactly that input.
 * The timings split the command's time: start-up (process start to the command's first line of
 * work), loading the action's modules, model load, read and decode, preprocessing, inference.
 */
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { RUNTIME_CHOICES } from '@cxr/config';
import type { PredictOptions } from '../actions/predict.js';
import { choiceOption } from '../options.js';

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('Classify one DICOM file with a model bundle (decode, preprocess, infer, decide)')
    .argument('<file>', 'DICOM file')
    .requiredOption('--model <dir>', 'model bundle folder')
    .option(
      '--runtime <name>',
      `inference runtime (${RUNTIME_CHOICES.join(' | ')}; default: CXR_RUNTIME or auto)`,
      choiceOption('--runtime', RUNTIME_CHOICES),
    )
    .option(
      '--save-input <file>',
      'also write the preprocessed input tensor as raw little-endian float32, in the manifest layout',
    )
    .option('--json', 'print JSON')
    .action(async (file: string, options: PredictOptions) => {
      const startedAt = performance.now();
      const { predictCommand } = await import('../actions/predict.js');
      await predictCommand(file, options, startedAt);
    });
}
