/** The Secondary Capture summary checked with dciodvfy and dcmtk, and its banner's content. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { publicDicomPath, scratchDir } from '@cxr/dicom/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { interpretResult } from './interpret.js';
import { buildFindingsReport } from './report.js';
import {
  SECONDARY_CAPTURE_SOP_CLASS_UID,
  buildSummaryImage,
  summaryBanner,
  summaryImageWanted,
} from './summary.js';
import {
  argmaxManifest,
  dcmdump,
  dciodvfy,
  okResult,
  phantomSource,
  thresholdsManifest,
  topLevelValue,
} from './test-support.js';

const scratch = scratchDir('cxr-findings-sc-');
afterAll(() => {
  scratch.cleanup();
});

const NOW = new Date('2026-03-04T05:06:07Z');
const seed = argmaxManifest();
const result = okResult(seed, { normal: 0.2, pneumonia: 0.7123, further_evaluation: 0.0877 }, 'pneumonia');

// Source-dependent warnings a copied study may bring (see report.test.ts).
const ACCEPTED_WARNINGS = [
  /Missing attribute or value that would be needed to build DICOMDIR - (Patient ID|Study Date|Study Time|Study ID)$/,
  /Patient's Name .* Retired Person Name form$/,
];

/** The 8-bit pixels of a written summary, as dcmtk decodes them (dcmdump +W writes the raw value). */
function pixelsOf(name: string, bytes: Uint8Array): Buffer {
  const dir = scratch.path(`${name}.d`);
  spawnSync('mkdir', ['-p', dir]);
  dcmdump(scratch.path(`${name}.dcm`), bytes);
  spawnSync('dcmdump', ['+W', dir, scratch.path(`${name}.dcm`)], { encoding: 'utf8' });
  return readFileSync(`${dir}/${name}.dcm.0.raw`);
}

describe('buildSummaryImage', () => {
  it.each([
    ['phantom', () => phantomSource()],
    ['siim_cr_jpegbaseline', () => new Uint8Array(readFileSync(publicDicomPath('siim_cr_jpegbaseline.dcm')))],
    // No preamble, no file meta, MONOCHROME1: read through the pipeline's own parser.
    ['fuji_cr_mono1_10bit', () => readFileSync(publicDicomPath('fuji_cr_mono1_10bit.dcm'))],
  ])('%s: a valid Secondary Capture for dciodvfy, 1024 px wide plus the banner', async (name, source) => {
    const summary = await buildSummaryImage({ source: source(), result, manifest: seed, now: NOW });
    expect(summary.sopClassUid).toBe(SECONDARY_CAPTURE_SOP_CLASS_UID);
    const path = scratch.path(`${name}.sc.dcm`);
    const { errors, warnings } = dciodvfy(path, summary.bytes);
    expect(errors).toEqual([]);
    expect(warnings.filter((w) => !ACCEPTED_WARNINGS.some((a) => a.test(w)))).toEqual([]);
    const dump = dcmdump(path, summary.bytes);
    expect(topLevelValue(dump, '(0028,0004)')).toBe('[MONOCHROME2]');
    expect(topLevelValue(dump, '(0028,0301)')).toBe('[YES]');
    expect(topLevelValue(dump, '(0008,0060)')).toBe('[OT]');
    const rows = Number(topLevelValue(dump, '(0028,0010)'));
    const columns = Number(topLevelValue(dump, '(0028,0011)'));
    expect(Math.max(columns, rows - 1)).toBeGreaterThanOrEqual(1024);
    expect(columns).toBeLessThanOrEqual(1024);
  });

  it('draws the banner below the image: black with white text, the image above untouched by it', async () => {
    const summary = await buildSummaryImage({
      source: phantomSource(),
      result,
      manifest: seed,
      now: NOW,
      size: 256,
    });
    const dump = dcmdump(scratch.path('banner.dcm'), summary.bytes);
    const rows = Number(topLevelValue(dump, '(0028,0010)'));
    const columns = Number(topLevelValue(dump, '(0028,0011)'));
    // The phantom is 64 x 48: 256 rows of image, the banner below.
    expect(columns).toBe(192);
    const pixels = pixelsOf('banner', summary.bytes);
    const banner = pixels.subarray(256 * columns, rows * columns);
    const white = banner.filter((v) => v > 200).length;
    const black = banner.filter((v) => v < 30).length;
    // Text needs a font (fonts-dejavu-core): without one the banner would be all black.
    expect(white).toBeGreaterThan(100);
    expect(black).toBeGreaterThan(banner.length / 2);
  });

  it('holds only findings and model in the banner text, never patient data', () => {
    const interpreted = interpretResult(result, seed);
    const { heading, items } = summaryBanner(interpreted);
    const text = [...heading, ...items].join('\n');
    expect(text).toContain('AI screening, not a diagnosis');
    expect(text).toContain('model cxr-densenet121-seed 0.1.0');
    expect(text).toContain('Result: pneumonia');
    expect(items).toEqual(['normal 0.200', 'pneumonia 0.712 POSITIVE', 'further_evaluation 0.088']);
    expect(text).not.toContain(CANARY_PATIENT_NAME);
    expect(text).not.toContain(CANARY_PATIENT_ID);
  });

  it('states the thresholds of a thresholds model in the banner', () => {
    const manifest = thresholdsManifest();
    const r = okResult(manifest, { Atelectasis: 0.3, Cardiomegaly: 0.55, Effusion: 0.1 }, 'Cardiomegaly');
    expect(summaryBanner(interpretResult(r, manifest)).items).toContain(
      'Cardiomegaly 0.550 (threshold 0.500) POSITIVE',
    );
  });

  it('has its own deterministic UIDs, in the series next to the SR, with the same patient and study', async () => {
    const source = phantomSource();
    const a = await buildSummaryImage({ source, result, manifest: seed, now: NOW, size: 128 });
    const b = await buildSummaryImage({ source, result, manifest: seed, now: new Date(), size: 128 });
    const sr = buildFindingsReport({ source, result, manifest: seed, now: NOW });
    expect(b.sopInstanceUid).toBe(a.sopInstanceUid);
    expect(a.sopInstanceUid).not.toBe(sr.sopInstanceUid);
    expect(a.seriesInstanceUid).not.toBe(sr.seriesInstanceUid);
    expect(a.studyInstanceUid).toBe(sr.studyInstanceUid);
    const scDump = dcmdump(scratch.path('uids.sc.dcm'), a.bytes);
    const srDump = dcmdump(scratch.path('uids.sr.dcm'), sr.bytes);
    expect(Number(topLevelValue(scDump, '(0020,0011)')?.slice(1, -1))).toBe(
      Number(topLevelValue(srDump, '(0020,0011)')?.slice(1, -1)) + 1,
    );
    for (const t of ['(0010,0010)', '(0010,0020)', '(0020,000d)']) {
      expect(topLevelValue(scDump, t)).toBe(topLevelValue(srDump, t));
    }
  });

  it('is wanted when the manifest says findings.summaryImage: true', () => {
    expect(summaryImageWanted(seed)).toBe(false);
    expect(summaryImageWanted(argmaxManifest({ findings: { summaryImage: true } }))).toBe(true);
  });
});
