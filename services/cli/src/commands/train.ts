/**
 * `cxr train --data LABELS.csv --images SOURCE --base DIR --out DIR [...]`: trains a classifier
 * head on the frozen base of a tfjs-layers bundle (features cached per object and base model),
 * splits by patient, picks thresholds at a target sensitivity on validation and writes a complete
 * bundle (ONNX in --out, tfjs-layers in --out/tfjs-layers) with the drift reference and the
 * provenance. Progress and epoch lines go to stderr, the summary to stdout.
 */
import type { Command } from 'commander';
import type { ClassWeightsSetting } from '@cxr/model/train';
import { DEFAULT_CACHE_DIR } from '@cxr/training/defaults';
import type { TrainCommandOptions } from '../actions/train.js';
import { CliError, ExitCode } from '../output.js';
import { choiceOption, integerOption } from '../options.js';

/** A number option in an open or closed interval. */
function numberOption(flag: string, test: (x: number) => boolean, range: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || !test(value)) {
      throw new CliError(`${flag} must be a number ${range}, got "${raw}"`, ExitCode.Usage);
    }
    return value;
  };
}

function listOption(flag: string) {
  return (raw: string): string[] => {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (items.length === 0) throw new CliError(`${flag} needs at least one value`, ExitCode.Usage);
    return items;
  };
}

function classWeightsOption(raw: string): ClassWeightsSetting {
  if (raw === 'auto' || raw === 'none') return raw;
  const weights = raw.split(',').map((s) => Number(s.trim()));
  if (weights.length === 0 || weights.some((w) => !Number.isFinite(w) || w <= 0)) {
    throw new CliError(
      `--class-weights must be auto, none or positive numbers w1,w2,..., got "${raw}"`,
      ExitCode.Usage,
    );
  }
  return weights;
}

/** Registers `cxr train` on the program. */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description(
      'Train a classifier head on the frozen base of a model bundle from labelled DICOMs; write a complete bundle',
    )
    .requiredOption(
      '--data <csv>',
      'labels CSV: key column (sop_instance_uid | uri | file) + one 0/1 column per label',
    )
    .requiredOption(
      '--images <source>',
      'image source (s3://bucket/prefix, file:///dir, manifest .csv/.jsonl)',
    )
    .requiredOption('--base <dir>', 'tfjs-layers bundle whose base (up to avg_pool) is kept frozen')
    .requiredOption('--out <dir>', 'output: ONNX bundle in DIR, tfjs-layers bundle in DIR/tfjs-layers')
    .option(
      '--val-split <fraction>',
      'share of patients in validation (default 0.2; 0 with --hold-out)',
      numberOption('--val-split', (x) => x >= 0 && x < 1, 'in [0, 1)'),
    )
    .option('--val <csv>', 'validation labels CSV (instead of a split); same label columns as --data')
    .option('--group-by <column>', 'labels-file column grouping images (e.g. site); not a label')
    .option(
      '--hold-out <groups>',
      'comma-separated --group-by values whose images all go to validation (external validation)',
      listOption('--hold-out'),
    )
    .option(
      '--labels <names>',
      'comma-separated label columns to train (default: every non-key column)',
      listOption('--labels'),
    )
    .option('--epochs <n>', 'maximum epochs', integerOption('--epochs', 1, 100_000), 30)
    .option('--batch <n>', 'training batch size', integerOption('--batch', 1, 65_536), 32)
    .option(
      '--lr <x>',
      'Adam learning rate',
      numberOption('--lr', (x) => x > 0, '> 0'),
      1e-3,
    )
    .option('--loss <kind>', 'ce | focal', choiceOption('--loss', ['ce', 'focal'] as const), 'ce')
    .option(
      '--focal-gamma <x>',
      'focal loss gamma',
      numberOption('--focal-gamma', (x) => x >= 0, '>= 0'),
      2,
    )
    .option(
      '--class-weights <w>',
      'auto (balanced) | none | w1,w2,... (sigmoid: positive weight per label, or neg,pos pairs; softmax: one per class)',
      classWeightsOption,
      'auto',
    )
    .option('--oversample', 'balance each epoch by oversampling the rare class')
    .option(
      '--seed <n>',
      'seed of the split, the head initialisation and the batch order',
      integerOption('--seed', 0),
      0,
    )
    .option(
      '--patience <n>',
      'epochs without a better validation AUROC before stopping (default 5)',
      integerOption('--patience', 1),
    )
    .option(
      '--target-sensitivity <x>',
      'validation sensitivity the per-label thresholds are chosen at',
      numberOption('--target-sensitivity', (x) => x > 0 && x <= 1, 'in (0, 1]'),
      0.9,
    )
    .option('--cache <dir>', `feature cache folder (default ${DEFAULT_CACHE_DIR})`)
    .option(
      '--activation <kind>',
      'sigmoid (multi-label) | softmax (one label per image)',
      choiceOption('--activation', ['sigmoid', 'softmax'] as const),
      'sigmoid',
    )
    .option(
      '--fine-tune-epochs <n>',
      'epochs of an optional fine-tuning phase after the head: last dense block (conv5_*), bn and head trained on the images (slow on CPU; 0 = off)',
      integerOption('--fine-tune-epochs', 0, 100_000),
      0,
    )
    .option(
      '--fine-tune-lr <x>',
      'Adam learning rate of the fine-tuning phase (default --lr / 10)',
      numberOption('--fine-tune-lr', (x) => x > 0, '> 0'),
    )
    .option('--id <id>', 'model id of the output (default: <base id>-trained)')
    .option('--version <version>', 'model version of the output (default: train-<timestamp>-<random>)')
    .option('--json', 'print the summary as JSON')
    .action(async (options: TrainCommandOptions) => {
      const { trainCommand } = await import('../actions/train.js');
      await trainCommand(options);
    });
}
