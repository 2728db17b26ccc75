/**
 * `cxr train`'s `file` keys as the audit met them (finding 17): an archive of UID-named files
 * (`<SOP Instance UID>.dcm`) labelled by UID without the extension matched 1 of 18 and failed
 * with "split: 1 training and 0 validation images". Keys must match with and without `.dcm`, never
 * cut at their last dot, and keys that match nothing are counted and named on stderr before any
 * failure. A real process on a tiny frozen base (64 px, blocks 1/1/1/1).
 */
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicDicomPath } from '@cxr/dicom/testing';
import { initSeedModel } from '@cxr/model';
import { SYNTHETIC_LABEL, writeSyntheticTrainingSet, type SyntheticImage } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cxrWithEnv, type RunResult } from '../testing/run-cxr.js';
import type { TrainSummary } from '@cxr/training';

const IMAGES = 18;

describe('cxr train file keys (UID-named archive)', () => {
  let dir: string;
  let images: SyntheticImage[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-train-keys-'));
    images = await writeSyntheticTrainingSet({
      dir: join(dir, 'generated'),
      count: IMAGES,
      seed: 21,
    });
    // The archive names each file by its SOP Instance UID, a name full of dots.
    await mkdir(join(dir, 'archive'));
    for (const image of images) {
      await rename(image.path, join(dir, 'archive', `${image.sopInstanceUid}.dcm`));
    }
    // A CT among them: labelled, but not for the base model (audit finding 5), so never used.
    await copyFile(publicDicomPath('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm'), join(dir, 'archive', 'ct.dcm'));
    await initSeedModel({
      outDir: join(dir, 'base'),
      size: 64,
      blocks: [1, 1, 1, 1],
      format: 'tfjs-layers',
      labels: ['a', 'b'],
      seed: 5,
    });
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const train = async (labels: string, out: string): Promise<RunResult> => {
    await writeFile(join(dir, `${out}.csv`), labels);
    return cxrWithEnv(
      {
        CXR_DECODE_THREADS: '1',
        CXR_RUNTIME_THREADS: '1',
        CXR_PATIENT_ID_SALT: 'train-keys-salt-0123456789',
      },
      'train',
      '--data',
      join(dir, `${out}.csv`),
      '--images',
      `file://${join(dir, 'archive')}`,
      '--base',
      join(dir, 'base'),
      '--out',
      join(dir, out),
      '--cache',
      join(dir, 'cache'),
      '--val-split',
      '0.4',
      '--epochs',
      '2',
      '--seed',
      '3',
      '--json',
    );
  };

  it('matches UID keys without .dcm to UID-named files, and names the rows and objects left over', async () => {
    // One image has no row; two rows name no image (one of them a UID one digit off).
    const [unlabelled, ...labelled] = images;
    const rows = labelled.map((image) => `${image.sopInstanceUid},${image.positive ? 1 : 0}`);
    const labels =
      `file,${SYNTHETIC_LABEL}\n${rows.join('\n')}\nct,1\n` +
      `1.2.3.4.5,1\n${labelled[0]!.sopInstanceUid}9,0\n`;
    const run = await train(labels, 'uid-keys');
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(run.stdout) as TrainSummary;
    expect(summary.data).toMatchObject({
      listed: IMAGES + 1,
      matched: IMAGES - 1,
      withoutLabelRow: 1,
      rowsWithoutImage: { data: 2 },
      rejected: { not_applicable: 1 },
    });
    expect(run.stderr).toContain('1 labelled objects could not be used (not_applicable 1)\n');
    expect(run.stderr).toContain(
      `1 of ${IMAGES + 1} listed objects have no row in --data ${join(dir, 'uid-keys.csv')} by file (first: "${unlabelled!.sopInstanceUid}.dcm")\n`,
    );
    expect(run.stderr).toContain(
      `2 of ${IMAGES + 2} rows of --data ${join(dir, 'uid-keys.csv')} have no listed object by file (first: "1.2.3.4.5", "${labelled[0]!.sopInstanceUid}9")\n`,
    );
  }, 180_000);

  it('says which keys matched nothing before failing when no row matches', async () => {
    const rows = images.map((image, i) => `${image.sopInstanceUid.replace(/\.\d+$/, '')}-${i},1`);
    const run = await train(`file,${SYNTHETIC_LABEL}\n${rows.join('\n')}\n`, 'no-match');
    expect(run.code).toBe(2);
    const lines = run.stderr.trimEnd().split('\n');
    const objects = lines.findIndex((l) =>
      l.startsWith(`${IMAGES + 1} of ${IMAGES + 1} listed objects have no row`),
    );
    const labelRows = lines.findIndex((l) => l.startsWith(`${IMAGES} of ${IMAGES} rows of --data`));
    const failure = lines.findIndex((l) => l.includes('split: '));
    expect(
      [objects, labelRows, failure].every((i) => i >= 0),
      run.stderr,
    ).toBe(true);
    expect(objects).toBeLessThan(failure);
    expect(labelRows).toBeLessThan(failure);
    expect(lines[labelRows]).toContain(`(first: "${rows[0]!.split(',')[0]!}", `);
    expect(lines[labelRows]).toMatch(/, \.\.\.\)$/);
  }, 180_000);
});
