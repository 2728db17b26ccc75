/**
 * The inputs of `cxr evaluate`: export files in each format (written by the store's own export
 * code, so the reader follows the writer), label files with each key kind, NIH ChestX-ray14's
 * Data_Entry_2017.csv with a label map and by name, the join's counting rules and the errors.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseResultRow, writeExportFile, type ExportRow, type ResultRowInput } from '@cxr/store';
import { JoinError, MISSING_GROUP, joinPredictionsAndLabels } from './join.js';
import { LabelsError, readLabelMap, readLabelsFile } from './labels.js';
import {
  PredictionsError,
  detectPredictionsFormat,
  readPredictionsFile,
  readStorePredictions,
  type Predictions,
} from './predictions.js';

const LABELS = ['normal', 'pneumonia', 'further_evaluation'];

function result(uri: string, overrides: Partial<ResultRowInput> = {}): ExportRow {
  return parseResultRow({
    runId: 'run-1',
    uri,
    sopInstanceUid: `1.2.3.${uri.length}`,
    modality: 'DX',
    viewPosition: 'PA',
    manufacturer: 'ACME, "Imaging"',
    institution: 'Site A',
    modelId: 'seed-densenet121',
    modelVersion: '1.0.0',
    scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
    decision: 'normal',
    outcome: 'ok',
    timings: { fetch: null, decode: null, preprocess: null, batch_wait: null, infer: null, store: null },
    ...overrides,
  });
}

// Four scored rows (one URI with a comma, quotes and a line break), one rejected, one failed.
const ROWS: ExportRow[] = [
  result('s3://archive/site-a/00000001_000.dcm', { sopInstanceUid: '1.2.3.1' }),
  result('s3://archive/site-a/00000002_000.dcm', {
    sopInstanceUid: '1.2.3.2',
    scores: { normal: 0.1, pneumonia: 0.85, further_evaluation: 0.05 },
  }),
  result('s3://archive/site-b/a,"b"\nc.dcm', { sopInstanceUid: '1.2.3.3', institution: null }),
  result('s3://archive/site-b/00000004_000.dcm', { sopInstanceUid: '1.2.3.4', institution: 'Site B' }),
  result('s3://archive/site-b/00000005_000.dcm', {
    sopInstanceUid: null,
    outcome: 'rejected',
    reason: 'not_dicom',
    scores: null,
    decision: null,
  }),
  result('s3://archive/site-b/00000006_000.dcm', {
    sopInstanceUid: '1.2.3.6',
    outcome: 'failed',
    reason: 's3_timeout',
    scores: null,
    decision: null,
  }),
];

async function* stream(rows: readonly ExportRow[]): AsyncGenerator<ExportRow> {
  for (const row of rows) {
    await Promise.resolve();
    yield row;
  }
}

let dir: string;
const files: Record<'csv' | 'jsonl' | 'parquet', string> = { csv: '', jsonl: '', parquet: '' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-evaluate-io-'));
  for (const format of ['csv', 'jsonl', 'parquet'] as const) {
    files[format] = join(dir, `run.${format === 'jsonl' ? 'jsonl' : format}`);
    await writeExportFile(stream(ROWS), { format, labels: LABELS }, files[format]);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, 'utf8');
  return path;
}

describe('readPredictionsFile', () => {
  it('recognises each export format by content', async () => {
    expect(await detectPredictionsFormat(files.csv)).toBe('csv');
    expect(await detectPredictionsFormat(files.jsonl)).toBe('jsonl');
    expect(await detectPredictionsFormat(files.parquet)).toBe('parquet');
  });

  it('reads the same rows from CSV, JSONL and Parquet exports', async () => {
    const read = await Promise.all([files.csv, files.jsonl, files.parquet].map(readPredictionsFile));
    for (const predictions of read) {
      expect(predictions.labels).toEqual(LABELS);
      expect(predictions.rows.map((r) => r.uri)).toEqual(ROWS.map((r) => r.uri));
      expect(predictions.rows.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'rejected', 'failed']);
      const second = predictions.rows[1];
      expect(second?.sopInstanceUid).toBe('1.2.3.2');
      expect(second?.scores).toEqual([0.1, 0.85, 0.05]);
      expect(second?.tags).toEqual({
        institution: 'Site A',
        manufacturer: 'ACME, "Imaging"',
        modality: 'DX',
        view_position: 'PA',
      });
      expect(predictions.rows[2]?.tags.institution).toBeNull();
      expect(predictions.rows[4]?.scores).toEqual([null, null, null]);
      expect(predictions.rows[0]?.modelId).toBe('seed-densenet121');
    }
    const [csv, jsonl, parquet] = read;
    const comparable = (p: Predictions | undefined): unknown =>
      p?.rows.map(({ position: _position, ...rest }) => rest);
    expect(comparable(jsonl)).toEqual(comparable(csv));
    expect(comparable(parquet)).toEqual(comparable(csv));
    // CSV positions are lines: the third row's URI holds a line break, so the fourth row starts on line 6.
    expect(csv?.rows.map((r) => r.position)).toEqual([2, 3, 4, 6, 7, 8]);
  });

  it('refuses a file that is not an export, and a score that is not a number', async () => {
    const other = await file('other.csv', 'name,score\nx,1\n');
    await expect(readPredictionsFile(other)).rejects.toThrow(PredictionsError);
    await expect(readPredictionsFile(other)).rejects.toThrow(/no "uri" column/);
    const bad = await file('bad-score.csv', 'uri,outcome,score_pneumonia\ns3://a/x.dcm,ok,high\n');
    await expect(readPredictionsFile(bad)).rejects.toThrow(/line 2: column score_pneumonia is not a number/);
  });
});

describe('readStorePredictions', () => {
  it('reads a run of a SQLite store; without manifest labels, labels in first-appearance order', async () => {
    const store = await openStore(`sqlite:${join(dir, 'store.sqlite')}`);
    try {
      await store.upsertResults([
        ...ROWS.map((row) => ({ ...row, runId: 'run-s' })),
        // A later label only this row carries: earlier rows have no score for it.
        result('s3://archive/z/late.dcm', { runId: 'run-s', scores: { pneumonia: 0.4, edema: 0.9 } }),
      ]);
      const inferred = await readStorePredictions(store, 'run-s');
      expect(inferred.source).toBe('store run run-s');
      expect(inferred.labels).toEqual([...LABELS, 'edema']);
      expect(inferred.rows).toHaveLength(ROWS.length + 1);
      const byUri = new Map(inferred.rows.map((r) => [r.uri, r]));
      expect(byUri.get('s3://archive/z/late.dcm')?.scores).toEqual([null, 0.4, null, 0.9]);
      expect(byUri.get(ROWS[1]?.uri ?? '')?.scores).toEqual([0.1, 0.85, 0.05]);
      const fixed = await readStorePredictions(store, 'run-s', ['pneumonia']);
      expect(fixed.labels).toEqual(['pneumonia']);
      expect(fixed.rows.find((r) => r.uri.endsWith('late.dcm'))?.scores).toEqual([0.4]);
      await expect(readStorePredictions(store, 'no-such-run')).rejects.toThrow(
        /run no-such-run has no results in the store/,
      );
    } finally {
      await store.close();
    }
  });
});

describe('readLabelsFile (columns layout)', () => {
  it('reads a sop_instance_uid-keyed file: 1, 0, empty and explicit unknowns; columns matched by name', async () => {
    const path = await file(
      'by-sop.csv',
      'SOP_Instance_UID,Pneumonia,further evaluation,site,notes\n' +
        '1.2.3.1,0,0,north,\n1.2.3.2,1,,north,x\n1.2.3.3,-1,1,south,\n1.2.3.4,0,0,,\n',
    );
    const table = await readLabelsFile(path, { modelLabels: LABELS, groupColumns: ['Site'] });
    expect(table.layout).toBe('columns');
    expect(table.keyKind).toBe('sop_instance_uid');
    expect(table.labels).toEqual(['pneumonia', 'further_evaluation']);
    expect(table.missing).toEqual(['normal']);
    expect(table.rows.map((r) => [r.line, r.key, r.values, r.groups])).toEqual([
      [2, '1.2.3.1', [0, 0], { Site: 'north' }],
      [3, '1.2.3.2', [1, null], { Site: 'north' }],
      [4, '1.2.3.3', [null, 1], { Site: 'south' }],
      [5, '1.2.3.4', [0, 0], { Site: null }],
    ]);
    expect(table.unknownCells).toEqual({ pneumonia: 1, further_evaluation: 1 });
  });

  it('reads uri and file keys; a file key is reduced to its base name', async () => {
    const byUri = await readLabelsFile(
      await file('by-uri.csv', 'uri,pneumonia\ns3://archive/site-a/00000001_000.dcm,1\n'),
      {
        modelLabels: LABELS,
      },
    );
    expect([byUri.keyKind, byUri.rows[0]?.key]).toEqual(['uri', 's3://archive/site-a/00000001_000.dcm']);
    const byFile = await readLabelsFile(
      await file('by-file.csv', 'file,pneumonia\nimages/00000002_000.dcm,1\n'),
      {
        modelLabels: LABELS,
      },
    );
    expect([byFile.keyKind, byFile.rows[0]?.key]).toEqual(['file', '00000002_000.dcm']);
  });

  it('maps columns through a label map (JSON or CSV)', async () => {
    const json = await readLabelMap(
      await file('map.json', '{"Lung Opacity": "pneumonia", "No Finding": "normal"}'),
      LABELS,
    );
    const csv = await readLabelMap(
      await file('map.csv', 'source,label\nLung Opacity,pneumonia\nNo Finding,normal\n'),
      LABELS,
    );
    expect([...csv]).toEqual([...json]);
    const table = await readLabelsFile(
      await file('mapped.csv', 'uri,lung_opacity,no finding,pneumonia\ns3://a/1.dcm,1,0,0\n'),
      {
        modelLabels: LABELS,
        labelMap: json,
      },
    );
    // With a map, only mapped columns count: the `pneumonia` column is not in the map.
    expect(table.labels).toEqual(['normal', 'pneumonia']);
    expect(table.rows[0]?.values).toEqual([0, 1]);
    await expect(readLabelMap(await file('bad-map.json', '{"X": "not_a_label"}'), LABELS)).rejects.toThrow(
      /maps to "not_a_label", which is not a model label/,
    );
  });

  it('refuses a duplicate key naming the key column and both lines', async () => {
    const path = await file('dup.csv', 'sop_instance_uid,pneumonia\n1.2.3.1,1\n1.2.3.2,0\n1.2.3.1,0\n');
    const read = readLabelsFile(path, { modelLabels: LABELS });
    await expect(read).rejects.toThrow(LabelsError);
    await expect(readLabelsFile(path, { modelLabels: LABELS })).rejects.toThrow(
      /dup\.csv: line 4: duplicate key in column sop_instance_uid \(first on line 2\)/,
    );
  });

  it('refuses a label value that is not 1, 0 or unknown, without quoting it', async () => {
    const path = await file('bad-value.csv', 'uri,pneumonia\ns3://a/1.dcm,1\ns3://a/2.dcm,Smith^John\n');
    const error = await readLabelsFile(path, { modelLabels: LABELS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LabelsError);
    expect(String(error)).toMatch(/line 3: column pneumonia: expected 1, 0 or empty/);
    expect(String(error)).not.toContain('Smith');
  });

  it('refuses files without a key column or without any label column, and identifying group columns', async () => {
    await expect(
      readLabelsFile(await file('nokey.csv', 'image,pneumonia\nx,1\n'), { modelLabels: LABELS }),
    ).rejects.toThrow(/no key column: expected one of sop_instance_uid, uri, file/);
    await expect(
      readLabelsFile(await file('nolabel.csv', 'uri,cancer\nx,1\n'), { modelLabels: LABELS }),
    ).rejects.toThrow(/no column matches a model label/);
    await expect(
      readLabelsFile(await file('pid.csv', 'uri,pneumonia,Patient ID\nx,1,7\n'), {
        modelLabels: LABELS,
        groupColumns: ['Patient ID'],
      }),
    ).rejects.toThrow(/refused, it would put patient identifiers in the report/);
  });
});

// Data_Entry_2017.csv as published (https://nihcc.app.box.com/v/ChestXray-NIHCC): the bracketed
// names split into two columns each, and header and rows end with a comma (an empty column).
const NIH_HEADER =
  'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,' +
  'OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n';
const NIH_ROWS = [
  '00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.14300000000000002,0.14300000000000002,',
  '00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171,',
  '00000003_000.png,Pneumonia|Effusion,0,3,74,F,AP,2500,2048,0.168,0.168,',
  '00000004_000.png,Consolidation,1,3,75,F,PA,2500,2048,0.168,0.168,',
];

describe('readLabelsFile (NIH ChestX-ray14 layout)', () => {
  const nihModel = ['Atelectasis', 'cardiomegaly', 'effusion', 'pneumonia', 'pleural thickening'];

  async function nihFile(): Promise<string> {
    return file('Data_Entry_2017.csv', NIH_HEADER + NIH_ROWS.join('\n') + '\n');
  }

  it('is recognised by its header and mapped by name (case, spaces and underscores ignored)', async () => {
    const table = await readLabelsFile(await nihFile(), {
      modelLabels: nihModel,
      groupColumns: ['view position'],
    });
    expect(table.layout).toBe('nih');
    expect(table.keyKind).toBe('file');
    // Pleural_Thickening matches "pleural thickening"; Atelectasis is listed by NIH though no row has it.
    expect(table.labels).toEqual([
      'Atelectasis',
      'cardiomegaly',
      'effusion',
      'pneumonia',
      'pleural thickening',
    ]);
    expect(table.rows.map((r) => [r.key, r.values, r.groups['view position']])).toEqual([
      ['00000001_000.png', [0, 1, 0, 0, 0], 'PA'],
      ['00000002_000.png', [0, 0, 0, 0, 0], 'PA'],
      ['00000003_000.png', [0, 0, 1, 1, 0], 'AP'],
      ['00000004_000.png', [0, 0, 0, 0, 0], 'PA'],
    ]);
    expect(table.notes.join(' ')).toMatch(/not mapped to a model label \(ignored\): .*Consolidation/);
  });

  it('maps findings through a label map, several findings to one label', async () => {
    const map = await readLabelMap(
      await file(
        'nih-map.json',
        '{"Pneumonia": "pneumonia", "Consolidation": "pneumonia", "No Finding": "normal"}',
      ),
      LABELS,
    );
    const table = await readLabelsFile(await nihFile(), { modelLabels: LABELS, labelMap: map });
    expect(table.labels).toEqual(['normal', 'pneumonia']);
    expect(table.missing).toEqual(['further_evaluation']);
    expect(table.rows.map((r) => r.values)).toEqual([
      [0, 0],
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
  });

  it('refuses a duplicate image naming the Image Index column', async () => {
    const path = await file('nih-dup.csv', NIH_HEADER + [NIH_ROWS[0], NIH_ROWS[1], NIH_ROWS[0]].join('\n'));
    await expect(readLabelsFile(path, { modelLabels: nihModel })).rejects.toThrow(
      /line 4: duplicate key in column Image Index \(first on line 2\)/,
    );
  });
});

describe('joinPredictionsAndLabels', () => {
  it('matches by sop_instance_uid and counts unmatched and not-scored rows', async () => {
    const predictions = await readPredictionsFile(files.csv);
    const labels = await file(
      'join-sop.csv',
      // 1.2.3.1 and 1.2.3.2 match ok rows; 1.2.3.6 matches the failed row; 9.9 matches nothing.
      'sop_instance_uid,pneumonia,normal\n1.2.3.1,0,1\n1.2.3.2,1,0\n1.2.3.6,1,0\n9.9,0,1\n',
    );
    const table = await readLabelsFile(labels, { modelLabels: LABELS });
    const joined = joinPredictionsAndLabels(predictions, table, { groupBy: ['institution'] });
    expect(joined.labels).toEqual(['normal', 'pneumonia']);
    expect(joined.counts).toEqual({
      predictions_total: 6,
      labels_total: 4,
      matched: 2,
      unmatched_predictions: 2,
      unmatched_labels: 1,
      not_scored: 2,
    });
    expect(joined.cases).toEqual([
      { labels: [1, 0], scores: [0.7, 0.2], groups: { institution: 'Site A' } },
      { labels: [0, 1], scores: [0.1, 0.85], groups: { institution: 'Site A' } },
    ]);
    expect(joined.notes).toEqual(
      expect.arrayContaining([
        '2 scored predictions have no label row',
        '1 label rows have no prediction',
        '2 predictions were rejected or failed and are not scored',
        'label further_evaluation has no ground truth in the labels file: not evaluated',
      ]),
    );
  });

  it('matches by uri, by file name and by file name without extension; groups by a labels column', async () => {
    const predictions = await readPredictionsFile(files.jsonl);
    const byUri = await readLabelsFile(
      await file('join-uri.csv', `uri,pneumonia\n"${ROWS[2]?.uri.replaceAll('"', '""') ?? ''}",1\n`),
      { modelLabels: LABELS },
    );
    expect(joinPredictionsAndLabels(predictions, byUri).counts.matched).toBe(1);
    const byFile = await readLabelsFile(
      await file('join-file.csv', 'file,pneumonia,reader\n00000001_000.dcm,0,r1\n00000002_000.png,1,\n'),
      { modelLabels: LABELS, groupColumns: ['reader'] },
    );
    const joined = joinPredictionsAndLabels(predictions, byFile, { groupBy: ['reader', 'institution'] });
    expect(joined.counts.matched).toBe(2);
    expect(joined.cases.map((c) => [c.labels, c.groups])).toEqual([
      [[0], { reader: 'r1', institution: 'Site A' }],
      [[1], { reader: MISSING_GROUP, institution: 'Site A' }],
    ]);
  });

  it('matches UID-named files and x.jpeg_ls_lossless names by file, and names the keys that did not match (audit 17)', async () => {
    const uid = '1.2.840.113619.2.55.3.604688119.969.1268071029.320';
    const uris = [
      `s3://a/${uid}.dcm`,
      's3://a/other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
      's3://a/1.2.840.113619.2.55.3.604688119.969.1268071029.321.dcm',
      's3://a/unlabelled.dcm',
    ];
    const predictions: Predictions = {
      source: 'p.csv',
      labels: ['pneumonia'],
      positionUnit: 'line',
      rows: uris.map((uri, i) => ({
        position: i + 2,
        uri,
        sopInstanceUid: null,
        outcome: 'ok',
        scores: [0.1 * (i + 1)],
        tags: { institution: null, manufacturer: null, modality: null, view_position: null },
        modelId: null,
        modelVersion: null,
      })),
    };
    const table = await readLabelsFile(
      await file(
        'join-uids.csv',
        `file,pneumonia\n${uid},1\nother_TestPattern_Palette_16.jpeg_ls_lossless,0\n` +
          '1.2.840.113619.2.55.3.604688119.969.1268071029.322,1\nmissing.dcm,0\n',
      ),
      { modelLabels: ['pneumonia'] },
    );
    const joined = joinPredictionsAndLabels(predictions, table);
    // Cut at the last dot, ...320 and ...321 both became ...1268071029 and neither matched.
    expect(joined.cases.map((c) => c.labels)).toEqual([[1], [0]]);
    expect(joined.counts).toMatchObject({ matched: 2, unmatched_predictions: 2, unmatched_labels: 2 });
    expect(joined.unmatched).toEqual({
      predictions: {
        count: 2,
        first: ['1.2.840.113619.2.55.3.604688119.969.1268071029.321.dcm', 'unlabelled.dcm'],
      },
      labels: { count: 2, first: ['1.2.840.113619.2.55.3.604688119.969.1268071029.322', 'missing.dcm'] },
    });
  });

  it('refuses two predictions that match one label row by file name, naming rows and line only', async () => {
    const predictions: Predictions = {
      source: 'p.csv',
      labels: ['pneumonia'],
      positionUnit: 'line',
      rows: ['s3://a/site-1/x.dcm', 's3://a/site-2/x.dcm'].map((uri, i) => ({
        position: i + 2,
        uri,
        sopInstanceUid: null,
        outcome: 'ok',
        scores: [0.5],
        tags: { institution: null, manufacturer: null, modality: null, view_position: null },
        modelId: null,
        modelVersion: null,
      })),
    };
    const table = await readLabelsFile(await file('join-dup.csv', 'file,pneumonia\nx.dcm,1\n'), {
      modelLabels: ['pneumonia'],
    });
    expect(() => joinPredictionsAndLabels(predictions, table)).toThrow(JoinError);
    expect(() => joinPredictionsAndLabels(predictions, table)).toThrow(
      /p\.csv: lines 2 and 3 both match .*join-dup\.csv line 2 by file/,
    );
  });
});
