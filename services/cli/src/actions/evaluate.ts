/**
 * The action of `cxr evaluate` (loaded only when the command runs): options to
 * @cxr/evaluation/study's runEvaluation, the report files, the summary table on stdout and the
 * unmatched-keys lines on stderr; input errors become one-line usage errors (exit code 2).
 */
import { CsvFormatError } from '@cxr/csv';
import { loadConfig } from '@cxr/config';
import type { CiMethod, EvaluationReport } from '@cxr/evaluation';
import { formatNumber, missingAurocInterval } from '@cxr/evaluation/html';
import {
  StudyInputError,
  runEvaluation,
  unmatchedKeyLines,
  writeStudyReport,
  type StudyOptions,
  type StudyResult,
} from '@cxr/evaluation/study';
import { readManifest } from '@cxr/model/manifest';
import { openStore } from '@cxr/store';
import { CliError, ExitCode } from '../output.js';

export interface EvaluateCommandOptions {
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

/** Runs the study; with --run, on the store opened for it (and closed after). */
async function study(
  options: EvaluateCommandOptions,
  common: Omit<StudyOptions, 'predictions'>,
): Promise<StudyResult> {
  if (options.predictions !== undefined) {
    return runEvaluation({ ...common, predictions: { file: options.predictions } });
  }
  const store = await openStore(options.store ?? loadConfig().store.url, { mustExist: true });
  try {
    return await runEvaluation({ ...common, predictions: { store, runId: options.run ?? '' } });
  } finally {
    await store.close();
  }
}

/** `cxr evaluate`. */
export async function evaluateCommand(options: EvaluateCommandOptions): Promise<void> {
  if ((options.run === undefined) === (options.predictions === undefined)) {
    throw new CliError('give exactly one of --run ID or --predictions FILE', ExitCode.Usage);
  }
  if (options.store !== undefined && options.run === undefined) {
    throw new CliError('--store goes with --run', ExitCode.Usage);
  }
  const manifest = options.model === undefined ? undefined : await readManifest(options.model);
  let result: StudyResult;
  try {
    result = await study(options, {
      labels: options.labels,
      labelMap: options.labelMap,
      model: manifest,
      groupBy: options.groupBy,
      settings: {
        ci_method: options.ci,
        bootstrap_samples: options.bootstrapSamples,
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        target_sensitivity: options.targetSensitivity,
        min_group_size: options.minGroupSize,
      },
      // Which keys failed to match, before anything can fail: a wrong key column or naming shows here.
      onJoined: (joined, keyKind) => {
        for (const line of unmatchedKeyLines(joined, keyKind)) process.stderr.write(`${line}\n`);
      },
    });
  } catch (error) {
    if (error instanceof StudyInputError || error instanceof CsvFormatError) {
      throw new CliError(error.message, ExitCode.Usage);
    }
    throw error;
  }
  const written = await writeStudyReport(options.out, result);
  process.stdout.write(`${summaryTable(result.report)}\n`);
  const c = result.report.inputs;
  process.stderr.write(
    `evaluated ${c.matched} cases (${c.unmatched_predictions} predictions and ${c.unmatched_labels} label rows unmatched, ` +
      `${c.not_scored} not scored); wrote ${written.json} and ${written.html}\n`,
  );
}
