/**
 * `cxr evaluate` as a user runs it: a real process over export files written by the store's own
 * export code and a labels CSV. The numbers in report.json are checked against values computed
 * here from the same synthetic data (AUROC by counting pairs), so a join that misaligns scores and
 * labels, or drops rows, fails.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationReport } from '@cxr/evaluation';
import { writeExportFile } from '@cxr/store';
import {
  CASES,
  LABELS,
  exportRows,
  pairAuroc,
  stream,
  writeStudyInputs,
} from '@cxr/evaluation/testing/study';
import { cxr } from '../testing/run-cxr.js';

let dir: string;
let labelsPath: string;
let modelDir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-evaluate-cli-'));
  for (const format of ['csv', 'jsonl', 'parquet'] as const) {
    await writeExportFile(stream(exportRows()), { format, labels: LABELS }, join(dir, `run.${format}`));
  }
  ({ labelsPath, modelDir } = await writeStudyInputs(dir));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readReport(out: string): Promise<EvaluationReport> {
  return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvaluationReport;
}

describe('cxr evaluate', () => {
  it('evaluates a CSV export with the manifest, per institution, and writes report.json and report.html', async () => {
    const out = join(dir, 'out-csv');
    const result = await cxr(
      'evaluate',
      '--predictions',
      join(dir, 'run.csv'),
      '--labels',
      labelsPath,
      '--model',
      modelDir,
      '--group-by',
      'institution',
      '--out',
      out,
    );
    expect(result.stderr).toMatch(/evaluated 80 cases/);
    expect(result.code).toBe(0);
    // The label rows that matched nothing, counted and named (audit 17); every prediction matched.
    expect(result.stderr).toContain(
      '3 of 83 label rows have no prediction by file (first: "unknown_1.dcm", "unknown_2.dcm", "unknown_3.dcm")\n',
    );
    expect(result.stderr).not.toContain('scored predictions have no label row');
    const report = await readReport(out);
    expect(report.model).toEqual({ id: 'cxr-test', version: '1.0.0', activation: 'sigmoid' });
    expect(report.inputs).toEqual({
      predictions: join(dir, 'run.csv'),
      labels: labelsPath,
      predictions_total: 82,
      labels_total: 83,
      matched: 80,
      unmatched_predictions: 0,
      unmatched_labels: 3,
      not_scored: 2,
    });
    const atelectasis = report.labels.atelectasis;
    const effusion = report.labels.effusion;
    const unknownEffusion = CASES.filter((c) => c.truth[1] === null).length;
    expect(atelectasis?.n).toBe(80);
    expect(atelectasis?.positives).toBe(CASES.filter((c) => c.truth[0] === 1).length);
    expect(effusion?.n).toBe(80 - unknownEffusion);
    expect(effusion?.positives).toBe(CASES.filter((c) => c.truth[1] === 1).length);
    expect(atelectasis?.auroc.value).toBeCloseTo(pairAuroc(0), 12);
    expect(effusion?.auroc.value).toBeCloseTo(pairAuroc(1), 12);
    expect(atelectasis?.auroc.method).toBe('delong');
    const manifestPoint = atelectasis?.operating_points.find((op) => op.name === 'manifest');
    expect(manifestPoint?.threshold).toBe(0.3);
    const tp = CASES.filter((c) => c.truth[0] === 1 && c.scores[0] >= 0.3).length;
    expect(manifestPoint?.confusion.tp).toBe(tp);
    expect(report.groups?.institution?.['Site A']).toMatchObject({ n: 60, too_small: false });
    expect(report.groups?.institution?.['Site B']).toMatchObject({ n: 20, too_small: true });
    expect(report.settings).toMatchObject({
      ci_method: 'delong',
      target_sensitivity: 0.95,
      group_by: 'institution',
    });

    // stdout: the summary table, its numbers as in report.json with three decimals.
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^label\s+n\s+positives\s+AUROC \[95% CI\]$/);
    expect(rows).toHaveLength(2);
    const auroc = atelectasis?.auroc;
    expect(rows[0]).toMatch(
      new RegExp(
        `^atelectasis\\s+80\\s+${atelectasis?.positives}\\s+${auroc?.value?.toFixed(3)} \\[${auroc?.ci_low?.toFixed(3)}, ${auroc?.ci_high?.toFixed(3)}\\]$`,
      ),
    );

    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|src=|url\(/i);
    expect(html).toContain(
      `data-key="labels.atelectasis.auroc.value" data-format="fixed">${auroc?.value?.toFixed(3)}</span>`,
    );
  });

  it('reads JSONL and Parquet exports to the same report; without a manifest it says what is missing', async () => {
    const reports: EvaluationReport[] = [];
    for (const format of ['jsonl', 'parquet']) {
      const out = join(dir, `out-${format}`);
      const result = await cxr(
        'evaluate',
        '--predictions',
        join(dir, `run.${format}`),
        '--labels',
        labelsPath,
        '--group-by',
        'reader',
        '--ci',
        'bootstrap',
        '--bootstrap-samples',
        '200',
        '--seed',
        '7',
        '--out',
        out,
      );
      expect(result.stderr).toMatch(/evaluated 80 cases/);
      expect(result.code).toBe(0);
      reports.push(await readReport(out));
    }
    const [jsonl, parquet] = reports;
    const comparable = (r: EvaluationReport | undefined): unknown => ({
      ...r,
      created_at: null,
      inputs: null,
    });
    expect(comparable(parquet)).toEqual(comparable(jsonl));
    expect(jsonl?.model).toEqual({ id: 'cxr-test', version: '1.0.0', activation: null });
    expect(jsonl?.settings).toMatchObject({
      ci_method: 'bootstrap',
      bootstrap_samples: 200,
      seed: 7,
      group_by: 'reader',
    });
    expect(jsonl?.labels.atelectasis?.auroc.method).toBe('bootstrap');
    expect(jsonl?.labels.atelectasis?.operating_points.map((op) => op.name)).not.toContain('manifest');
    expect(jsonl?.notes.join('\n')).toMatch(/no --model: .*activation unknown/);
    expect(Object.keys(jsonl?.groups?.reader ?? {}).sort()).toEqual(['r1', 'r2']);
  });

  it('fails with a usage error naming the key column and line of a duplicate label row', async () => {
    const duplicate = join(dir, 'duplicate.csv');
    await writeFile(duplicate, 'file,atelectasis\nimg_000.dcm,1\nimg_001.dcm,0\nimg_000.dcm,0\n');
    const result = await cxr(
      'evaluate',
      '--predictions',
      join(dir, 'run.csv'),
      '--labels',
      duplicate,
      '--out',
      join(dir, 'out-dup'),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`cxr: ${duplicate}: line 4: duplicate key in column file (first on line 2)\n`);
  });

  it('refuses both or neither of --run and --predictions', async () => {
    const both = await cxr(
      'evaluate',
      '--run',
      'x',
      '--predictions',
      'p.csv',
      '--labels',
      labelsPath,
      '--out',
      dir,
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --run ID or --predictions FILE/);
  });
});
