/**
 * `cxr model reference DIR --from RUN` as a user runs it: a store filled through the store API, a
 * bundle folder with a hand-formatted manifest, the reference written in place.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '@cxr/model/manifest';
import { hashPatientId, openStore, parseResultRow, type ResultRow, type ResultRowInput } from '@cxr/store';
import { CANARY_PATIENT_ID } from '@cxr/fixtures';
import { cxr, expectNoCanary } from '../testing/run-cxr.js';

let dir: string;
let storeUrl: string;

const MANIFEST = {
  id: 'seed-densenet121',
  version: '1.0.0',
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 32,
    channels: 3,
    layout: 'NHWC',
    crop: 'center-square',
    resize: 'bilinear',
    intensity: { method: 'dicom-window' },
    normalization: { method: 'unit' },
  },
  output: { activation: 'softmax', labels: ['normal', 'pneumonia'], decision: 'argmax' },
};
// Not JSON.stringify's layout: the command must keep it byte for byte.
const MANIFEST_TEXT = JSON.stringify(MANIFEST, null, 4).replace('"id": ', '"id":  ') + '\n';

function row(runId: string, i: number, overrides: Partial<ResultRowInput> = {}): ResultRow {
  // pneumonia 0.05 for i < 15, 0.95 otherwise; normal the rest.
  const p = i < 15 ? 0.05 : 0.95;
  return parseResultRow({
    runId,
    uri: `s3://archive/${runId}/${i}.dcm`,
    patientIdHash: hashPatientId(CANARY_PATIENT_ID, 'model-reference-test-salt'),
    modality: 'DX',
    manufacturer: i < 16 ? 'ACME' : 'GE',
    photometric: 'MONOCHROME2',
    rows: 2048,
    columns: 2048,
    imageMean: 1000 + i,
    imageStd: 200,
    bitsStored: 12,
    modelId: 'seed-densenet121',
    modelVersion: '1.0.0',
    scores: { normal: 1 - p, pneumonia: p },
    decision: p > 0.5 ? 'pneumonia' : 'normal',
    outcome: 'ok',
    ...overrides,
  });
}

async function bundle(name: string): Promise<string> {
  const out = join(dir, name);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'manifest.json'), MANIFEST_TEXT);
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-model-reference-'));
  storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
  const store = await openStore(storeUrl);
  try {
    await store.upsertResults([
      ...Array.from({ length: 20 }, (_, i) => row('val', i)),
      row('val', 20, { outcome: 'rejected', reason: 'not_dicom', scores: null, decision: null }),
      ...Array.from({ length: 5 }, (_, i) => row('other-model', i, { modelVersion: '0.9.0' })),
    ]);
  } finally {
    await store.close();
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cxr model reference', () => {
  it("writes the reference of a run's ok results and keeps every other byte of the manifest", async () => {
    const out = await bundle('ok');
    const result = await cxr('model', 'reference', out, '--from', 'val', '--store', storeUrl);
    expect(result.code, result.stderr).toBe(0);
    expectNoCanary(result);
    expect(result.stderr).toContain(`wrote reference to ${out}/manifest.json: 20 ok results of run val`);
    expect(result.stderr).toContain('note: fewer than 1000 results');
    const text = await readFile(join(out, 'manifest.json'), 'utf8');
    const cut = MANIFEST_TEXT.lastIndexOf('\n}');
    expect(text.slice(0, cut)).toBe(MANIFEST_TEXT.slice(0, cut));
    expect(text.slice(cut)).toMatch(/^,\n {4}"reference": \{\n {8}"version": 1,/);
    const reference = parseManifest(JSON.parse(text)).reference!;
    expect(reference).toMatchObject({
      version: 1,
      n: 20,
      source: { kind: 'run', runId: 'val', modelId: 'seed-densenet121', modelVersion: '1.0.0' },
    });
    // pneumonia: 15 x 0.05 (bin 0), 5 x 0.95 (bin 9) -> 0.75 / 0.25.
    expect(reference.scores.pneumonia?.probabilities).toEqual([0.75, 0, 0, 0, 0, 0, 0, 0, 0, 0.25]);
    expect(reference.scores.normal?.probabilities).toEqual([0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0.75]);
    // ACME 16 of 20, GE 4 of 20 (both above the 1 % share).
    expect(reference.categorical.manufacturer).toEqual({
      probabilities: { ACME: 0.8, GE: 0.2, other: 0 },
      n: 20,
    });
    // image_mean 1000..1019: deciles at ranks 2, 4, ..., 18 -> 1002, 1004, ..., 1018; ends 1000, 1019.
    expect(reference.numeric.image_mean?.edges).toEqual([
      1000, 1002, 1004, 1006, 1008, 1010, 1012, 1014, 1016, 1018, 1019,
    ]);
    expect(reference.numeric.bits_stored).toEqual({
      edges: [11, 11.5, 12.5, 13],
      probabilities: [0, 1, 0],
      n: 20,
    });

    // Again: the existing reference is replaced, the rest still untouched.
    const again = await cxr('model', 'reference', out, '--from', 'val', '--store', storeUrl);
    expect(again.code, again.stderr).toBe(0);
    const second = await readFile(join(out, 'manifest.json'), 'utf8');
    expect(second.slice(0, cut)).toBe(MANIFEST_TEXT.slice(0, cut));
    expect(parseManifest(JSON.parse(second)).reference?.scores).toEqual(reference.scores);
  });

  it('refuses a run of another model version unless --force', async () => {
    const out = await bundle('other');
    const refused = await cxr('model', 'reference', out, '--from', 'other-model', '--store', storeUrl);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      "cxr: run other-model holds ok results of another model (seed-densenet121 0.9.0: 5), not only of this bundle's " +
        'seed-densenet121 1.0.0; --force uses them anyway\n',
    );
    expect(await readFile(join(out, 'manifest.json'), 'utf8')).toBe(MANIFEST_TEXT);

    const forced = await cxr(
      'model',
      'reference',
      out,
      '--from',
      'other-model',
      '--store',
      storeUrl,
      '--force',
    );
    expect(forced.code, forced.stderr).toBe(0);
    const reference = parseManifest(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'))).reference;
    expect(reference?.source).toMatchObject({ runId: 'other-model', modelVersion: '0.9.0' });
    expect(reference?.n).toBe(5);
  });

  it('names an unknown run', async () => {
    const out = await bundle('unknown');
    const result = await cxr('model', 'reference', out, '--from', 'nope', '--store', storeUrl);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('cxr: run nope has no results in the store\n');
    expect(await readFile(join(out, 'manifest.json'), 'utf8')).toBe(MANIFEST_TEXT);
  });
});
