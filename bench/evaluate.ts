/**
 * `pnpm bench evaluate [--rows 100000] [--labels 14] [--sites 5] [--runs 3] [--bootstrap 200]`
 *
 * Time of `evaluate()` (@cxr/evaluation) on seeded synthetic predictions shaped like a
 * ChestX-ray14 run: `--rows` cases x `--labels` sigmoid labels (prevalences 0.2% to 18%, 2% of
 * labels unknown), with DeLong intervals, then with per-site groups, then with a bootstrap
 * interval. Baselines in the same run: sorting every label's scores once (the floor for any
 * rank statistic), and DeLong by its definition (the O(m n) comparison matrix) on a 5,000-row
 * subset of one label, scaled by (rows / 5,000)^2 x labels to the full problem. The issue's
 * target ("in seconds") is reported, never enforced: the process exits 0 either way.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { delong, evaluate, mulberry32, sortClasses } from '@cxr/evaluation';
import type { EvaluationCase, EvaluationInput, EvaluationSettings } from '@cxr/evaluation';
import { delongByDefinition } from '@cxr/evaluation/testing';
import { median } from './lib/stats.js';

// ChestX-ray14 label prevalences (Wang et al. 2017, NIH): Hernia 0.2% ... Infiltration 18%.
const PREVALENCES = [0.18, 0.12, 0.1, 0.05, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03, 0.02, 0.02, 0.015, 0.002];
const SUBSET = 5000;

function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench evaluate: ${name} must be a positive integer, got ${value}`);
  return n;
}

/** Seeded synthetic cases: score = sigmoid(1.6 y + N(0, 1) - 2), a model with AUROC ~ 0.87. */
function syntheticInput(rows: number, labels: number, sites: number): EvaluationInput {
  const random = mulberry32(20260601);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const names = Array.from({ length: labels }, (_, l) => `label_${String(l).padStart(2, '0')}`);
  const cases: EvaluationCase[] = [];
  for (let i = 0; i < rows; i++) {
    const caseLabels: (0 | 1 | null)[] = [];
    const scores: number[] = [];
    for (let l = 0; l < labels; l++) {
      const y = random() < (PREVALENCES[l % PREVALENCES.length] ?? 0.05) ? 1 : 0;
      caseLabels.push(random() < 0.02 ? null : y);
      // Rounded to 4 decimals, as exports are: realistic ties.
      scores.push(Math.round(10_000 / (1 + Math.exp(-(1.6 * y + normal() - 2)))) / 10_000);
    }
    cases.push({
      labels: caseLabels,
      scores,
      groups: { site: `site_${String(Math.floor(random() * sites))}` },
    });
  }
  return {
    labels: names,
    cases,
    activation: 'sigmoid',
    thresholds: Object.fromEntries(names.map((name) => [name, 0.5])),
    created_at: new Date(0).toISOString(),
  };
}

function timeRuns(runs: number, body: () => void): number[] {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    body();
    times.push((performance.now() - start) / 1000);
  }
  return times;
}

function line(name: string, times: readonly number[], note = ''): void {
  const shown = times.map((t) => t.toFixed(3)).join(' ');
  process.stdout.write(
    `${name.padEnd(48)} median ${median(times).toFixed(3)} s   runs: ${shown}${note === '' ? '' : `   ${note}`}\n`,
  );
}

/** Runs the evaluate benchmark (see the module comment). */
export function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      rows: { type: 'string' },
      labels: { type: 'string' },
      sites: { type: 'string' },
      runs: { type: 'string' },
      bootstrap: { type: 'string' },
    },
  });
  const rows = positiveInteger(values.rows, '--rows', 100_000);
  const labels = positiveInteger(values.labels, '--labels', 14);
  const sites = positiveInteger(values.sites, '--sites', 5);
  const runs = positiveInteger(values.runs, '--runs', 3);
  const bootstrap = positiveInteger(values.bootstrap, '--bootstrap', 200);

  process.stdout.write(
    `evaluate: ${String(rows)} rows x ${String(labels)} labels, ${String(sites)} sites, ${String(runs)} runs; ` +
      `${cpus()[0]?.model ?? 'cpu'} x${String(cpus().length)}, load ${loadavg()[0]?.toFixed(2) ?? '?'}\n`,
  );
  let start = performance.now();
  const input = syntheticInput(rows, labels, sites);
  process.stdout.write(
    `synthetic data generated in ${((performance.now() - start) / 1000).toFixed(3)} s (not timed below)\n\n`,
  );

  // Warm-up (JIT) on a slice, then the timed runs.
  evaluate({ ...input, cases: input.cases.slice(0, 5000) });
  let report = evaluate(input);
  line(
    'evaluate, DeLong',
    timeRuns(runs, () => (report = evaluate(input))),
  );
  const withGroups = { ...input, group_by: 'site' };
  line(
    `evaluate, DeLong + ${String(sites)} site groups`,
    timeRuns(runs, () => (report = evaluate(withGroups))),
  );
  const settings: EvaluationSettings = { ci_method: 'bootstrap', bootstrap_samples: bootstrap, seed: 1 };
  line(
    `evaluate, bootstrap ${String(bootstrap)} resamples`,
    timeRuns(runs, () => evaluate(input, settings)),
  );

  // Baselines: the sort floor and the O(m n) definition.
  const columns = input.labels.map((_, l) => ({
    scores: Float64Array.from(input.cases, (c) => c.scores[l] ?? Number.NaN),
    labels: Int8Array.from(input.cases, (c) => c.labels[l] ?? -1),
  }));
  line(
    'baseline: sort every label once',
    timeRuns(runs, () => {
      for (const c of columns) Float64Array.from(c.scores).sort();
    }),
  );
  line(
    'baseline: DeLong, sorted + binary search, all',
    timeRuns(runs, () => {
      for (const c of columns) delong(sortClasses(c.scores, c.labels));
    }),
  );
  const first = columns[0];
  if (first !== undefined) {
    const subsetRows = Math.min(SUBSET, rows);
    const subset = {
      scores: first.scores.subarray(0, subsetRows),
      labels: first.labels.subarray(0, subsetRows),
    };
    start = performance.now();
    const slow = delongByDefinition(subset.scores, subset.labels);
    const seconds = (performance.now() - start) / 1000;
    const fast = delong(sortClasses(subset.scores, subset.labels));
    const scaled = seconds * (rows / subsetRows) ** 2 * labels;
    process.stdout.write(
      `baseline: DeLong by definition, ${String(subsetRows)} rows   ${seconds.toFixed(3)} s -> scaled to ${String(rows)} x ${String(labels)}: ~${scaled.toFixed(1)} s` +
        `   (agrees with the fast one: |dAUC| ${Math.abs((fast.auc ?? 0) - slow.auc).toExponential(1)}, var ratio ${((fast.variance ?? 0) / slow.variance).toFixed(12)})\n`,
    );
  }

  const total = median(timeRuns(1, () => JSON.stringify(report)));
  const sample = report.labels[input.labels[0] ?? ''];
  process.stdout.write(
    `\nreport.json: ${(JSON.stringify(report).length / 1e6).toFixed(2)} MB, stringified in ${total.toFixed(3)} s; ` +
      `label_00 AUROC ${sample?.auroc.value?.toFixed(4) ?? '-'} [${sample?.auroc.ci_low?.toFixed(4) ?? '-'}, ${sample?.auroc.ci_high?.toFixed(4) ?? '-'}]\n`,
  );
  process.stdout.write('target (issue 6): 100,000 x 14 "in seconds": reported, not enforced\n');
  return Promise.resolve();
}
