/**
 * De-identification of real files (the public chest CRs and test files of
 * /work/shared/data/public-dicom) and of every generated fixture: dciodvfy finds no error in the
 * output that it did not find in the input, the Pixel Data element is the same bytes, the patient's
 * name and ID (the fixtures' canary) are nowhere in the output, and inputs that are not DICOM are
 * rejected with the pipeline's reasons.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDicomBytes } from '@cxr/dicom';
import { publicDicomPath } from '@cxr/dicom/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME, loadFixtureManifest } from '@cxr/fixtures';
import { deidentifyObject } from './deidentify.js';
import { isDeidRejectedError } from './errors.js';
import { DeidSession, generateKey } from './session.js';
import { dciodvfyErrors, occurrences } from './testing/index.js';

/** Every public DICOM file: the chest CRs and the other real-world test files. */
const PUBLIC_FILES = [
  'fuji_cr_mono1_10bit.dcm',
  'philips_cr_rg1_j2ki.dcm',
  'siim_cr_jpegbaseline.dcm',
  'siim_fake_mono1.dcm',
  'nih_dx_implicit.dcm',
  'fo_CR-ModalitySequenceLUT.dcm',
  'fo_D_CLUNIE_CT1_RLE_FRAGS.dcm',
  'fo_GH177_D_CLUNIE_CT1_IVRLE_BigEndian_ELE_undefinded_length.dcm',
  'fo_GH538-jpeg14sv1.dcm',
  'fo_IM-0001-0001-0001.dcm',
  'fo_JPEGwithIcon.dcm',
  'fo_TestPattern_Palette.dcm',
  'fo_multiframe.dcm',
  'other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
  'other_jpeg_2000_ybr_color_space.dcm',
];

/** The Pixel Data element's value bytes (native) or fragments (encapsulated), as the shared parser finds them. */
function pixelData(bytes: Uint8Array): Buffer[] {
  const { dataSet } = parseDicomBytes(bytes);
  const element = dataSet.elements.x7fe00010;
  if (element === undefined) return [];
  const array = dataSet.byteArray;
  if (element.encapsulatedPixelData === true) {
    return (element.fragments ?? []).map((f) =>
      Buffer.from(array.subarray(f.position, f.position + f.length)),
    );
  }
  return [Buffer.from(array.subarray(element.dataOffset, element.dataOffset + element.length))];
}

/** The input's patient name and ID values, to look for in the output. */
function patientValues(bytes: Uint8Array): string[] {
  const { dataSet } = parseDicomBytes(bytes);
  return ['x00100010', 'x00100020']
    .map((key) => (dataSet.string(key) ?? '').trim())
    .filter((value) => value.length >= 4);
}

function newErrors(input: Uint8Array, output: Uint8Array): string[] {
  const before = new Set(dciodvfyErrors(input));
  return dciodvfyErrors(output).filter((line) => !before.has(line));
}

const session = new DeidSession(generateKey(), { retain: [], clean: [] });

describe('public DICOM files', () => {
  it.each(PUBLIC_FILES)('%s: no new dciodvfy error, the same Pixel Data, no patient name or ID', (name) => {
    const input = new Uint8Array(readFileSync(publicDicomPath(name)));
    const out = deidentifyObject(input, session);
    expect(newErrors(input, out.bytes)).toEqual([]);
    const before = pixelData(input);
    expect(before.length).toBeGreaterThan(0);
    expect(pixelData(out.bytes)).toEqual(before);
    for (const value of patientValues(input)) expect(occurrences(out.bytes, value), value).toBe(0);
  });
});

describe('public chest radiographs with every option', () => {
  const withOptions = new DeidSession(generateKey(), {
    retain: ['modified-dates', 'device', 'institution', 'patient-characteristics', 'safe-private'],
    clean: ['descriptors'],
  });

  it.each(PUBLIC_FILES.slice(0, 6))('%s: no new dciodvfy error, the same Pixel Data', (name) => {
    const input = new Uint8Array(readFileSync(publicDicomPath(name)));
    const out = deidentifyObject(input, withOptions);
    expect(newErrors(input, out.bytes)).toEqual([]);
    expect(pixelData(out.bytes)).toEqual(pixelData(input));
  });
});

describe('generated fixtures', () => {
  const { fixtures } = loadFixtureManifest();
  const readable = fixtures.filter(
    (f) => f.kind === 'decode' || !['not_dicom', 'truncated'].includes(f.reason),
  );
  const unreadable = fixtures.filter(
    (f) => f.kind === 'reject' && ['not_dicom', 'truncated'].includes(f.reason),
  );

  it('covers every kind of fixture', () => {
    expect(readable.length).toBeGreaterThan(25);
    expect(unreadable.map((f) => f.name).sort()).toEqual(['empty', 'not-dicom', 'truncated']);
  });

  it.each(readable.map((f) => [f.name, f.path] as const))(
    '%s: no new dciodvfy error, the same Pixel Data, no canary',
    (_name, path) => {
      const input = new Uint8Array(readFileSync(path));
      const out = deidentifyObject(input, session);
      expect(newErrors(input, out.bytes)).toEqual([]);
      expect(pixelData(out.bytes)).toEqual(pixelData(input));
      expect(occurrences(out.bytes, CANARY_PATIENT_NAME)).toBe(0);
      expect(occurrences(out.bytes, CANARY_PATIENT_ID)).toBe(0);
      expect(occurrences(out.bytes, 'CANARY')).toBe(0);
    },
  );

  it.each(unreadable.map((f) => [f.name, f.path, f.kind === 'reject' ? f.reason : ''] as const))(
    '%s: rejected as %s',
    (_name, path, reason) => {
      let error: unknown;
      try {
        deidentifyObject(new Uint8Array(readFileSync(path)), session);
      } catch (thrown) {
        error = thrown;
      }
      expect(isDeidRejectedError(error) ? error.reason : error).toBe(reason);
    },
  );
});
