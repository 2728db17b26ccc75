/**
 * `cxr evaluate (--run ID [--store URL] | --predictions FILE) --labels FILE [--label-map FILE]
 * [--model DIR] [--group-by KEY] [--target-sensitivity 0.95] [--ci delong|bootstrap]
 * [--bootstrap-samples 2000] [--seed N] [--min-group-size 30] --out DIR`
 *
 * A retrospective study: joins a run's predictions with known findings, computes the statistics
 * and writes DIR/report.json and a self-contained DIR/report.html (@cxr/evaluation/study's
 * runEvaluation, in ../actions/evaluate.ts, loaded when the command runs). A short table (per
 * label: n, positives, AUROC [95% CI]) goes to stdout.
 */
import type { Command } from 'commander';
import { CI_METHODS, PREDICTION_TAGS } from '@cxr/evaluation/names';
import { choiceOption, integerOption } from '../options.js';
import { CliError, ExitCode } from '../output.js';
import type { EvaluateCommandOptions } from '../actions/evaluate.js';

/** A number in (0, 1]. */
function proportionOption(flag: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || value > 1) {
      throw new CliError(`${flag} must be a number in (0, 1], got "${raw}"`, ExitCode.Usage);
    }
    return value;
  };
}

/** Registers `cxr evaluate` on the program. */
export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description(
      'Retrospective study: join predictions with known findings and write report.json and a ' +
        'self-contained report.html (AUROC with CIs, operating points, calibration, per-group validation)',
    )
    .option('--run <id>', 'run id in the results store (see `cxr results runs`)')
    .option(
      '--store <url>',
      'results store for --run: sqlite:PATH or postgres://... (default: CXR_STORE_URL)',
    )
    .option('--predictions <file>', 'export of `cxr results export` (CSV, JSONL or Parquet)')
    .requiredOption(
      '--labels <file>',
      'labels CSV: a sop_instance_uid, uri or file column and one 0/1 column per label; or NIH Data_Entry_2017.csv',
    )
    .option(
      '--label-map <file>',
      'map from label-file column or NIH finding to model label (JSON object or two-column CSV)',
    )
    .option('--model <dir>', "model bundle folder: its manifest's labels, thresholds and activation")
    .option(
      '--group-by <key>',
      `per-group validation by a stored tag (${PREDICTION_TAGS.join(', ')}) or a column of the labels file; repeatable`,
      (key: string, previous: readonly string[] | undefined) => [...(previous ?? []), key],
    )
    .option(
      '--target-sensitivity <p>',
      'sensitivity the screening operating point must reach',
      proportionOption('--target-sensitivity'),
      0.95,
    )
    .option(
      '--ci <method>',
      `AUROC confidence interval (${CI_METHODS.join(' | ')})`,
      choiceOption('--ci', CI_METHODS),
      'delong',
    )
    .option(
      '--bootstrap-samples <n>',
      'bootstrap resamples (with --ci bootstrap)',
      integerOption('--bootstrap-samples', 100, 1_000_000),
      2000,
    )
    .option('--seed <n>', 'bootstrap random seed (default 1)', integerOption('--seed', 0, 2 ** 32 - 1))
    .option(
      '--min-group-size <n>',
      'groups with fewer cases are flagged too small',
      integerOption('--min-group-size', 1),
      30,
    )
    .requiredOption('--out <dir>', 'output folder for report.json and report.html')
    .action(async (options: EvaluateCommandOptions) => {
      const { evaluateCommand } = await import('../actions/evaluate.js');
      await evaluateCommand(options);
    });
}
