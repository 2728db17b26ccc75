/**
 * `cxr evaluate (--run ID [--store URL] | --predictions FILE) --labels FILE [--label-map FILE]
 * [--model DIR] [--group-by KEY] [--target-sensitivity 0.95] [--ci delong|bootstrap]
 * [--bootstrap-samples 2000] [--seed N] [--min-group-size 30] --out DIR`
 *
 * A retrospective study: joins a run's predictions with known findings, computes the statistics
 * (@cxr/evaluation) and writes DIR/report.json and a self-contained DIR/report.html. A short
 * table (per label: n, positives, AUROC [95% CI]) goes to stdout.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@cxr/config';
import { evaluate, type EvaluationReport } from '@cxr/evaluation';
import { readManifest, type ModelManifest } from '@cxr/model/manifest';
import { openStore } from '@cxr/store';
import { CsvFormatError } from '@cxr/csv';
import { JoinError, joinPredictionsAndLabels, type JoinResult } from '../evaluate/join.js';
import { LabelsError, readLabelMap, readLabelsFile, type LabelKeyKind } from '../evaluate/labels.js';
import {
  PREDICTION_TAGS,
  PredictionsError,
  readPredictionsFile,
  readStorePredictions,
  type Predictions,
} from '../evaluate/predictions.js';
import { formatNumber, missingAurocInterval, renderReportHtml } from '../evaluate/report-html.js';
import { unmatchedLine } from '../label-keys.js';
import { choiceOption, integerOption } from '../options.js';
import { CliError, ExitCode } from '../output.js';

export const CI_METHODS = ['delong', 'bootstrap'] as const;
export type CiMethod = (typeof CI_METHODS)[number];

interface EvaluateCommandOptions {
  readonly run?: string;
  readonly store?: string;
  readonly predictions?: string;
  readonly labels: string;
  readonly labelMap?: string;
  readonly model?: string;
  readonly groupBy?: readonly string[];
  readonly targetSensitivity: number;
  readonly ci: CiMethod;
  readonly bootstrapSamples: number;
  readonly seed?: number;
  readonly minGroupSize: number;
  readonly out: string;
}

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

/** Input errors of the loaders become one-line usage errors (exit code 2). */
async function inputStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (
      error instanceof LabelsError ||
      error instanceof PredictionsError ||
      error instanceof CsvFormatError ||
      error instanceof JoinError
    ) {
      throw new CliError(error.message, ExitCode.Usage);
    }
    throw error;
  }
}

async function loadPredictions(
  options: EvaluateCommandOptions,
  manifest: ModelManifest | undefined,
): Promise<Predictions> {
  if (options.predictions !== undefined) {
    const file = options.predictions;
    return inputStep(() => readPredictionsFile(file));
  }
  const runId = options.run ?? '';
  const store = await openStore(options.store ?? loadConfig().store.url, { mustExist: true });
  try {
    return await inputStep(() => readStorePredictions(store, runId, manifest?.output.labels));
  } finally {
    await store.close();
  }
}

/** The model of the predictions: the manifest's, else the one model_id/model_version of the scored rows. */
function modelOf(
  predictions: Predictions,
  manifest: ModelManifest | undefined,
): { id: string | null; version: string | null } {
  if (manifest !== undefined) return { id: manifest.id, version: manifest.version };
  const models = new Set<string>();
  let found: { id: string | null; version: string | null } = { id: null, version: null };
  for (const row of predictions.rows) {
    if (row.outcome !== 'ok') continue;
    const key = `${row.modelId ?? ''}@${row.modelVersion ?? ''}`;
    if (!models.has(key)) {
      models.add(key);
      found = { id: row.modelId, version: row.modelVersion };
    }
  }
  if (models.size > 1) {
    throw new CliError(
      `${predictions.source}: scored rows of ${models.size} model versions (${[...models].join(', ')}): evaluate one model at a time`,
      ExitCode.Usage,
    );
  }
  return found;
}

/** The per-label summary printed to stdout. */
export function summaryTable(report: EvaluationReport): string {
  const header = ['label', 'n', 'positives', 'AUROC [95% CI]'];
  const rows = Object.entries(report.labels).map(([name, label]) => {
    const { value, ci_low, ci_high } = label.auroc;
    const missing = missingAurocInterval(label);
    const interval =
      ci_low === null || ci_high === null
        ? missing === undefined
          ? ''
          : ` ${missing}`
        : ` [${formatNumber(ci_low, 'fixed')}, ${formatNumber(ci_high, 'fixed')}]`;
    return [
      name,
      formatNumber(label.n, 'int'),
      formatNumber(label.positives, 'int'),
      `${formatNumber(value, 'fixed')}${interval}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** stderr lines naming how many predictions and label rows did not match, and the first few keys. */
export function unmatchedKeyLines(joined: JoinResult, keyKind: LabelKeyKind): string[] {
  const { counts, unmatched } = joined;
  const lines = [
    unmatchedLine(
      unmatched.predictions,
      counts.predictions_total - counts.not_scored,
      `scored predictions have no label row by ${keyKind}`,
    ),
    unmatchedLine(unmatched.labels, counts.labels_total, `label rows have no prediction by ${keyKind}`),
  ];
  return lines.filter((line): line is string => line !== undefined);
}

/** Writes a file under a temporary name and renames it, so a failed run leaves no half report. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.partial`;
  await writeFile(temporary, content, 'utf8');
  await rename(temporary, path);
}

async function evaluateCommand(options: EvaluateCommandOptions): Promise<void> {
  if ((options.run === undefined) === (options.predictions === undefined)) {
    throw new CliError('give exactly one of --run ID or --predictions FILE', ExitCode.Usage);
  }
  if (options.store !== undefined && options.run === undefined) {
    throw new CliError('--store goes with --run', ExitCode.Usage);
  }
  const manifest = options.model === undefined ? undefined : await readManifest(options.model);
  const predictions = await loadPredictions(options, manifest);
  const modelLabels = manifest?.output.labels ?? predictions.labels;
  if (modelLabels.length === 0) {
    throw new CliError(
      `${predictions.source}: no score_<label> columns and no --model to name the labels`,
      ExitCode.Usage,
    );
  }
  const groupBy = options.groupBy ?? [];
  const isTag = (key: string): boolean => (PREDICTION_TAGS as readonly string[]).includes(key);
  const labelMapPath = options.labelMap;
  const labelMap =
    labelMapPath === undefined ? undefined : await inputStep(() => readLabelMap(labelMapPath, modelLabels));
  const table = await inputStep(() =>
    readLabelsFile(options.labels, {
      modelLabels,
      ...(labelMap === undefined ? {} : { labelMap }),
      groupColumns: groupBy.filter((key) => !isTag(key)),
    }),
  );
  const joined: JoinResult = await inputStep(() =>
    Promise.resolve(joinPredictionsAndLabels(predictions, table, { groupBy })),
  );
  // Which keys failed to match, before anything can fail: a wrong key column or naming shows here.
  for (const line of unmatchedKeyLines(joined, table.keyKind)) process.stderr.write(`${line}\n`);
  if (joined.labels.length === 0) {
    throw new CliError(`${options.labels}: no label is both scored and labelled`, ExitCode.Usage);
  }
  const model = modelOf(predictions, manifest);
  const notes = [...joined.notes];
  if (manifest === undefined) {
    notes.push(
      'no --model: labels inferred from the score columns; activation unknown, so binary per-label metrics only and no manifest operating point',
    );
  }
  const report = evaluate(
    {
      labels: joined.labels,
      cases: joined.cases,
      activation: manifest?.output.activation ?? null,
      decision: manifest?.output.decision ?? null,
      thresholds: manifest?.output.thresholds ?? {},
      model,
      inputs: {
        predictions: predictions.source,
        labels: table.source,
        ...joined.counts,
      },
      group_by: groupBy,
      notes,
    },
    {
      ci_method: options.ci,
      bootstrap_samples: options.bootstrapSamples,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      target_sensitivity: options.targetSensitivity,
      min_group_size: options.minGroupSize,
    },
  );
  await mkdir(options.out, { recursive: true });
  await writeAtomically(join(options.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeAtomically(join(options.out, 'report.html'), renderReportHtml(report));
  process.stdout.write(`${summaryTable(report)}\n`);
  const c = report.inputs;
  process.stderr.write(
    `evaluated ${c.matched} cases (${c.unmatched_predictions} predictions and ${c.unmatched_labels} label rows unmatched, ` +
      `${c.not_scored} not scored); wrote ${join(options.out, 'report.json')} and ${join(options.out, 'report.html')}\n`,
  );
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
    .action(evaluateCommand);
}
