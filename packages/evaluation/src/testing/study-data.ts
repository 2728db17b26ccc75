/**
 * A small synthetic study shared by the `cxr evaluate` tests: 80 scored cases at two sites plus two
 * rejected objects, the export rows the store would hold for them, their labels CSV and a model
 * manifest. pairAuroc gives the AUROC these data must produce, computed independently of
 * @cxr/evaluation by counting pairs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseResultRow, type ExportRow } from '@cxr/store';

export const LABELS = ['atelectasis', 'effusion'];

export interface Case {
  readonly file: string;
  readonly institution: string;
  readonly scores: readonly [number, number];
  readonly truth: readonly [0 | 1, 0 | 1 | null];
}

// 80 scored cases (60 at Site A, 20 at Site B): labels alternate in a fixed pattern, scores lean
// towards the label with overlap, a few effusion labels are unknown.
export const CASES: Case[] = Array.from({ length: 80 }, (_, i): Case => {
  const a: 0 | 1 = i % 3 === 0 ? 1 : 0;
  const e: 0 | 1 | null = i % 11 === 5 ? null : i % 4 === 1 ? 1 : 0;
  const jitter = ((i * 37) % 100) / 100;
  return {
    file: `img_${String(i).padStart(3, '0')}.dcm`,
    institution: i < 60 ? 'Site A' : 'Site B',
    scores: [Math.min(1, 0.45 * a + 0.6 * jitter), Math.min(1, 0.35 * (e ?? 0) + 0.5 * ((jitter * 7) % 1))],
    truth: [a, e],
  };
});

/** AUROC by counting (positive, negative) pairs, ties counting one half. */
export function pairAuroc(label: 0 | 1): number {
  const known = CASES.filter((c) => c.truth[label] !== null);
  const positives = known.filter((c) => c.truth[label] === 1).map((c) => c.scores[label]);
  const negatives = known.filter((c) => c.truth[label] === 0).map((c) => c.scores[label]);
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

export function exportRows(): ExportRow[] {
  const scored = CASES.map((c, i) =>
    parseResultRow({
      runId: 'study-1',
      uri: `s3://archive/${c.institution === 'Site A' ? 'a' : 'b'}/${c.file}`,
      sopInstanceUid: `1.2.826.0.1.${i + 1}`,
      institution: c.institution,
      manufacturer: 'ACME',
      modality: 'DX',
      viewPosition: 'PA',
      modelId: 'cxr-test',
      modelVersion: '1.0.0',
      scores: { atelectasis: c.scores[0], effusion: c.scores[1] },
      decision: 'thresholds',
      outcome: 'ok',
    }),
  );
  const rejected = [0, 1].map((i) =>
    parseResultRow({
      runId: 'study-1',
      uri: `s3://archive/b/broken_${i}.dcm`,
      modelId: 'cxr-test',
      modelVersion: '1.0.0',
      outcome: 'rejected',
      reason: 'not_dicom',
    }),
  );
  return [...scored, ...rejected];
}

export async function* stream(rows: readonly ExportRow[]): AsyncGenerator<ExportRow> {
  for (const row of rows) {
    await Promise.resolve();
    yield row;
  }
}

export const MANIFEST = {
  id: 'cxr-test',
  version: '1.0.0',
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 512,
    channels: 3,
    layout: 'NCHW',
    crop: 'center-square',
    resize: 'bilinear',
    intensity: { method: 'percentiles', low: 0.5, high: 99.5 },
    normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  },
  output: {
    activation: 'sigmoid',
    labels: LABELS,
    thresholds: { atelectasis: 0.3, effusion: 0.6 },
    decision: 'thresholds',
  },
};

/**
 * Writes the labels CSV (keyed by file name, column names differing in case from the labels, a
 * `reader` column, three rows that match nothing) and a model folder; returns their paths.
 */
export async function writeStudyInputs(dir: string): Promise<{ labelsPath: string; modelDir: string }> {
  const lines = [
    'file,Atelectasis,Effusion,reader',
    ...CASES.map((c, i) => `${c.file},${c.truth[0]},${c.truth[1] ?? ''},${i % 2 === 0 ? 'r1' : 'r2'}`),
    'unknown_1.dcm,1,0,r1',
    'unknown_2.dcm,0,0,r1',
    'unknown_3.dcm,0,1,r2',
  ];
  const labelsPath = join(dir, 'labels.csv');
  await writeFile(labelsPath, `${lines.join('\n')}\n`);
  const modelDir = join(dir, 'model');
  await mkdir(modelDir);
  await writeFile(join(modelDir, 'manifest.json'), JSON.stringify(MANIFEST));
  return { labelsPath, modelDir };
}
