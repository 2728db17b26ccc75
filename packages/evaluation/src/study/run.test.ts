/**
 * runEvaluation as a script calls it, without the command line: an export file or a store run in,
 * the report (checked against AUROCs counted pair by pair) and report.html out; input problems
 * are StudyInputErrors with one-line messages.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseResultRow, writeExportFile } from '@cxr/store';
import {
  CASES,
  LABELS,
  MANIFEST,
  exportRows,
  pairAuroc,
  stream,
  writeStudyInputs,
} from '../testing/study-data.js';
import {
  StudyInputError,
  runEvaluation,
  unmatchedKeyLines,
  writeStudyReport,
  type JoinResult,
  type StudyModel,
} from './index.js';

let dir: string;
let labelsPath: string;
let csvPath: string;
const model: StudyModel = {
  id: MANIFEST.id,
  version: MANIFEST.version,
  output: { ...MANIFEST.output, activation: 'sigmoid', decision: 'thresholds' },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-study-'));
  csvPath = join(dir, 'run.csv');
  await writeExportFile(stream(exportRows()), { format: 'csv', labels: LABELS }, csvPath);
  ({ labelsPath } = await writeStudyInputs(dir));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runEvaluation', () => {
  it('evaluates an export file against a labels file and reports which keys matched nothing', async () => {
    const joins: { joined: JoinResult; keyKind: string }[] = [];
    const result = await runEvaluation({
      predictions: { file: csvPath },
      labels: labelsPath,
      model,
      groupBy: ['institution'],
      onJoined: (joined, keyKind) => joins.push({ joined, keyKind }),
    });
    expect(result.report.labels.atelectasis?.auroc.value).toBeCloseTo(pairAuroc(0), 12);
    expect(result.report.labels.effusion?.auroc.value).toBeCloseTo(pairAuroc(1), 12);
    expect(result.report.labels.atelectasis?.n).toBe(CASES.length);
    expect(result.report.inputs).toMatchObject({ matched: 80, unmatched_labels: 3, not_scored: 2 });
    expect(result.report.groups?.institution?.['Site B']).toMatchObject({ n: 20 });
    expect(result.html).toContain('data-key="labels.atelectasis.auroc.value"');
    expect(joins).toHaveLength(1);
    const [join0] = joins;
    expect(join0?.keyKind).toBe('file');
    expect(unmatchedKeyLines(join0!.joined, 'file')).toEqual([
      '3 of 83 label rows have no prediction by file (first: "unknown_1.dcm", "unknown_2.dcm", "unknown_3.dcm")',
    ]);

    const out = join(dir, 'report');
    const written = await writeStudyReport(out, result);
    expect(written).toEqual({ json: join(out, 'report.json'), html: join(out, 'report.html') });
    expect((await readdir(out)).sort()).toEqual(['report.html', 'report.json']);
    expect(JSON.parse(await readFile(written.json, 'utf8'))).toEqual(result.report);
  });

  it('reads a run of an open store the same way as its export', async () => {
    const store = await openStore(`sqlite:${join(dir, 'store.sqlite')}`);
    try {
      await store.upsertResults(exportRows());
      const fromStore = await runEvaluation({
        predictions: { store, runId: 'study-1' },
        labels: labelsPath,
        model,
        settings: { ci_method: 'bootstrap', bootstrap_samples: 200, seed: 7 },
      });
      const fromFile = await runEvaluation({
        predictions: { file: csvPath },
        labels: labelsPath,
        model,
        settings: { ci_method: 'bootstrap', bootstrap_samples: 200, seed: 7 },
      });
      expect(fromStore.report.labels).toEqual(fromFile.report.labels);
      expect(fromStore.report.inputs.predictions).toBe('store run study-1');
    } finally {
      await store.close();
    }
  });

  it('refuses what it cannot evaluate with a StudyInputError naming the file', async () => {
    const otherLabels = join(dir, 'other-labels.csv');
    await writeFile(otherLabels, 'file,edema\nimg_000.dcm,1\n');
    const noLabel: unknown = await runEvaluation({
      predictions: { file: csvPath },
      labels: otherLabels,
      model,
    }).catch((e: unknown) => e);
    // A labels file error (LabelsError) is a StudyInputError too.
    expect(noLabel).toBeInstanceOf(StudyInputError);
    expect((noLabel as Error).message).toContain(`${otherLabels}: `);

    const twoModels = join(dir, 'two-models.csv');
    const rows = exportRows().map((row, i) =>
      i === 0 ? parseResultRow({ ...row, modelVersion: '2.0.0' }) : row,
    );
    await writeExportFile(stream(rows), { format: 'csv', labels: LABELS }, twoModels);
    const error: unknown = await runEvaluation({
      predictions: { file: twoModels },
      labels: labelsPath,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StudyInputError);
    expect((error as Error).message).toMatch(/two-models\.csv: scored rows of 2 model versions/);
  });
});
