/**
 * `cxr deidentify` reading an S3 prefix (s3rver on loopback): objects under the prefix are
 * de-identified into a local folder, their keys (which may hold patient names) nowhere in the
 * output, objects outside the prefix not listed.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag, generateChestPhantom, littleEndianBytes, writeDicom } from '@cxr/dicom/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME, buildChestDataSet } from '@cxr/fixtures';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from '@cxr/storage/testing';
import { expectNoCanary, runCxr } from '../testing/run-cxr.js';

const BUCKET = 'deid-archive';

function phantom(instance: string): Uint8Array {
  const pixels = generateChestPhantom({ rows: 16, columns: 16, seed: 4, bitsStored: 12 });
  return writeDicom(
    buildChestDataSet(
      { seed: 's3', rows: 16, columns: 16, bitsAllocated: 16, bitsStored: 12 },
      { kind: 'native', bytes: littleEndianBytes(pixels) },
    ).map((e) =>
      e.tag === Tag.SopInstanceUid ? { ...e, value: `1.2.826.0.1.3680043.10.6666.${instance}` } : e,
    ),
  );
}

describe('cxr deidentify from S3', () => {
  let dir: string;
  let s3: RunningS3rver;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-deidentify-s3-'));
    s3 = await startS3rver();
    await seedBucket(createTestS3Client(s3.endpoint), BUCKET, [
      [`study/${CANARY_PATIENT_NAME}/${CANARY_PATIENT_ID}-1.dcm`, phantom('1')],
      ['study/2.dcm', phantom('2')],
      ['study/readme.txt', new Uint8Array(Buffer.from('not DICOM'))],
      ['elsewhere/3.dcm', phantom('3')],
    ]);
  }, 120_000);

  afterAll(async () => {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('de-identifies the objects under the prefix into the output folder', async () => {
    const env = Object.fromEntries(
      Object.entries(s3.env).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const out = join(dir, 'out');
    const result = await runCxr({ env }, 'deidentify', `s3://${BUCKET}/study/`, '--out', out, '--json');
    expect(result.code, result.stderr).toBe(0);
    expectNoCanary(result);
    expect(JSON.parse(result.stdout)).toMatchObject({ listed: 3, written: 2, rejected: { not_dicom: 1 } });
    const files = await readdir(out);
    expect(files).toHaveLength(2);
    for (const name of files) {
      expect(name).toMatch(/^2\.25\.\d+\.dcm$/);
      expect(await readFile(join(out, name), 'latin1')).not.toContain('CANARY');
    }
  }, 120_000);
});
