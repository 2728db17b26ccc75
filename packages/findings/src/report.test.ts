/**
 * The findings SR checked by independent readers: dciodvfy (dicom3tools) for the Enhanced SR IOD,
 * dsrdump (dcmtk) for the content tree, dcmdump for references and copied attributes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { publicDicomPath, scratchDir, tag } from '@cxr/dicom/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { ENHANCED_SR_SOP_CLASS_UID, buildFindingsReport } from './report.js';
import { FindingsError } from './errors.js';
import { isValidUid } from './uids.js';
import {
  Tag,
  argmaxManifest,
  dcmdump,
  dciodvfy,
  dsrdump,
  okResult,
  phantomSource,
  thresholdsManifest,
  topLevelValue,
  withElement,
} from './test-support.js';

const scratch = scratchDir('cxr-findings-sr-');
afterAll(() => {
  scratch.cleanup();
});

const NOW = new Date('2026-03-04T05:06:07Z');
const seed = argmaxManifest();
const seedResult = okResult(
  seed,
  { normal: 0.2, pneumonia: 0.7123456789012345, further_evaluation: 0.0876543210987655 },
  'pneumonia',
);

// What dciodvfy may still say about a findings SR, and why it is acceptable:
// - the private coding scheme 99CXR is not one of the designators it knows (PS3.16 8 allows it);
// - a source without Study Date/Time/ID or with a single-component name: copied as they are.
const ACCEPTED_WARNINGS = [
  /Unrecognized defined term <99CXR> for value 1 of attribute <Coding Scheme Designator>/,
  /Missing attribute or value that would be needed to build DICOMDIR - (Study Date|Study Time|Study ID)$/,
  /Patient's Name .* Retired Person Name form$/,
];

function unexpectedWarnings(warnings: readonly string[]): string[] {
  return warnings.filter((w) => !ACCEPTED_WARNINGS.some((accepted) => accepted.test(w)));
}

describe('buildFindingsReport: a phantom CR (canary patient)', () => {
  const source = phantomSource();
  const report = buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW });
  const path = scratch.path('phantom.sr.dcm');

  it('is a valid Enhanced SR for dciodvfy: no errors, only the accepted warnings', () => {
    const { errors, warnings } = dciodvfy(path, report.bytes);
    expect(errors).toEqual([]);
    expect(unexpectedWarnings(warnings)).toEqual([]);
    expect(report.sopClassUid).toBe(ENHANCED_SR_SOP_CLASS_UID);
  });

  it('parses in dsrdump without complaint, showing each finding, probability and decision', () => {
    const { tree, complaints } = dsrdump(path, report.bytes);
    expect(complaints).toBe('');
    expect(tree).toContain('Enhanced SR Document');
    expect(tree).toContain('Verification Flag   : UNVERIFIED');
    expect(tree).toContain('<CONTAINER:(,,"Imaging Measurement Report")=SEPARATE>');
    expect(tree).toContain('<has obs context CODE:(,,"Observer Type")=(121007,DCM,"Device")>');
    expect(tree).toContain('<has obs context TEXT:(,,"Device Observer Name")="cxr-pipeline">');
    expect(tree).toContain('<has concept mod TEXT:(,,"Algorithm Name")="cxr-densenet121-seed">');
    expect(tree).toContain('<has concept mod TEXT:(,,"Algorithm Version")="0.1.0">');
    expect(tree).toContain('<contains CODE:(,,"Finding")=(pneumonia,99CXR,"pneumonia")>');
    // Labels longer than 16 characters are Long Code Values.
    expect(tree).toContain('<contains CODE:(,,"Finding")=(further_evaluation,99CXR,"further_evaluation")>');
    expect(tree).toContain('<contains NUM:(,,"Probability")="0.2" ({probability},UCUM,"probability")>');
    expect(tree).toContain(
      '<contains NUM:(,,"Probability")="0.71234567890123" ({probability},UCUM,"probability")>',
    );
    expect(tree).toContain('<contains CODE:(,,"pneumonia")=(10828004,SCT,"Positive")>');
    expect(tree).toContain('<contains CODE:(,,"normal")=(260385009,SCT,"Negative")>');
    expect(tree).toContain('<contains CODE:(,,"AI screening decision")=(pneumonia,99CXR,"pneumonia")>');
    expect(tree.match(/"Measurement Group"/g)).toHaveLength(3);
  });

  it('keeps the exact score in Floating Point Value (Numeric Value is a 16-character DS)', () => {
    const dump = dcmdump(path, report.bytes);
    const floats = [...dump.matchAll(/\(0040,a161\) FD (\S+)/g)].map((m) => Number(m[1]));
    expect(floats).toContain(0.7123456789012345);
    expect(dump).toContain('DS [0.71234567890123]');
  });

  it('references the screened image in Current Requested Procedure Evidence Sequence and the Image Library', () => {
    const dump = dcmdump(path, report.bytes);
    const sourceDump = dcmdump(scratch.path('phantom.dcm'), source);
    const uid = (t: string): string => topLevelValue(sourceDump, t)!;
    const evidence = dump.slice(dump.indexOf('CurrentRequestedProcedureEvidenceSequence'));
    expect(evidence).toContain(`UI ${uid('(0020,000d)')}`);
    expect(evidence).toContain(`UI ${uid('(0020,000e)')}`);
    expect(evidence).toContain(`UI ${uid('(0008,0018)')}`);
    expect(evidence).toContain('UI =ComputedRadiographyImageStorage');
    const image = dsrdump(path, report.bytes).tree;
    expect(image).toContain('<contains IMAGE:(,,"Source")=(CR image,)>');
  });

  it('repeats the Patient and Study attributes of the source, so the PACS files it in the same study', () => {
    const dump = dcmdump(path, report.bytes);
    const sourceDump = dcmdump(scratch.path('phantom.dcm'), source);
    // Patient's Name, ID, Birth Date, Sex; Study Instance UID, Study Date, Time, ID, Accession, Referring Physician.
    for (const t of [
      '(0010,0010)',
      '(0010,0020)',
      '(0010,0030)',
      '(0010,0040)',
      '(0020,000d)',
      '(0008,0020)',
    ]) {
      expect(topLevelValue(dump, t), t).toBe(topLevelValue(sourceDump, t));
    }
    for (const t of ['(0008,0030)', '(0020,0010)', '(0008,0050)', '(0008,0090)']) {
      expect(topLevelValue(dump, t), t).toBe('(no value available)');
    }
    expect(topLevelValue(dump, '(0010,0010)')).toBe(`[${CANARY_PATIENT_NAME}]`);
    expect(topLevelValue(dump, '(0008,0060)')).toBe('[SR]');
    expect(topLevelValue(dump, '(0008,103e)')).toBe(
      '[AI screening (cxr-densenet121-seed 0.1.0), not a diagnosis]',
    );
    expect(topLevelValue(dump, '(0008,0070)')).toBe('[cxr-pipeline]');
    expect(topLevelValue(dump, '(0018,1020)')).toBe('[cxr-pipeline 0.1.0\\cxr-densenet121-seed 0.1.0]');
    // A new series, not the image's.
    expect(topLevelValue(dump, '(0020,000e)')).not.toBe(topLevelValue(sourceDump, '(0020,000e)'));
  });

  it('carries the canary to the PACS by design, but writes nothing to the console', () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    const out = vi.spyOn(process.stdout, 'write');
    const err = vi.spyOn(process.stderr, 'write');
    try {
      const again = buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW });
      expect(Buffer.from(again.bytes).includes(Buffer.from(CANARY_PATIENT_ID))).toBe(true);
      for (const spy of [...spies, out, err]) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of [...spies, out, err]) spy.mockRestore();
    }
  });
});

describe('buildFindingsReport: UIDs', () => {
  const source = phantomSource();
  const build = (overrides: Partial<Parameters<typeof buildFindingsReport>[0]> = {}) =>
    buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW, ...overrides });

  it('derives the same SOP Instance and Series UIDs every time (a re-send replaces the report)', () => {
    const first = build();
    const later = build({ now: new Date('2027-01-01T00:00:00Z') });
    expect(later.sopInstanceUid).toBe(first.sopInstanceUid);
    expect(later.seriesInstanceUid).toBe(first.seriesInstanceUid);
  });

  it('gives another model version another instance and another series', () => {
    const v2 = argmaxManifest({ version: '0.2.0' });
    const other = build({ manifest: v2, result: { ...seedResult, modelVersion: '0.2.0' } });
    expect(other.sopInstanceUid).not.toBe(build().sopInstanceUid);
    expect(other.seriesInstanceUid).not.toBe(build().seriesInstanceUid);
  });

  it('puts every image of one study under one model version in the same new series', () => {
    const sibling = phantomSource({}, (elements) =>
      withElement(elements, Tag.SopInstanceUid, '1.2.826.0.1.3680043.9.9999.1.2'),
    );
    const a = build();
    const b = build({ source: sibling });
    expect(b.sopInstanceUid).not.toBe(a.sopInstanceUid);
    expect(b.seriesInstanceUid).toBe(a.seriesInstanceUid);
  });

  it('writes valid UIDs: 2.25 UUID-derived, at most 64 characters, no leading zeros', () => {
    const report = build();
    for (const uid of [report.sopInstanceUid, report.seriesInstanceUid]) {
      expect(isValidUid(uid)).toBe(true);
      expect(uid.startsWith('2.25.')).toBe(true);
    }
  });
});

describe('buildFindingsReport: a thresholds model', () => {
  const manifest = thresholdsManifest();

  it('states each threshold and decides each label against it; none positive is Negative overall', () => {
    const result = okResult(
      manifest,
      { Atelectasis: 0.3, Cardiomegaly: 0.55, Effusion: 0.1 },
      'Cardiomegaly',
    );
    const report = buildFindingsReport({ source: phantomSource(), result, manifest, now: NOW });
    const path = scratch.path('thresholds.sr.dcm');
    expect(dciodvfy(path, report.bytes).errors).toEqual([]);
    const { tree, complaints } = dsrdump(path, report.bytes);
    expect(complaints).toBe('');
    expect(tree).toContain('<contains CODE:(,,"Cardiomegaly")=(10828004,SCT,"Positive")>');
    expect(tree).toContain(
      '<has properties NUM:(,,"Threshold Value")="0.5" ({probability},UCUM,"probability")>',
    );
    expect(tree).toContain('<contains CODE:(,,"Atelectasis")=(260385009,SCT,"Negative")>');
    expect(tree).toContain(
      '<has properties NUM:(,,"Threshold Value")="0.4" ({probability},UCUM,"probability")>',
    );
    expect(tree).toContain('<contains CODE:(,,"AI screening decision")=(Cardiomegaly,99CXR,"Cardiomegaly")>');

    const negative = okResult(manifest, { Atelectasis: 0.1, Cardiomegaly: 0.2, Effusion: 0.3 }, 'negative');
    const none = buildFindingsReport({ source: phantomSource(), result: negative, manifest, now: NOW });
    expect(dsrdump(path, none.bytes).tree).toContain(
      '<contains CODE:(,,"AI screening decision")=(260385009,SCT,"Negative")>',
    );
  });

  it("uses the manifest's standard codes for labels that have one", () => {
    const coded = thresholdsManifest({
      findings: { codes: { Cardiomegaly: { value: '287272002', scheme: 'SCT', meaning: 'Cardiomegaly' } } },
    });
    const result = okResult(coded, { Atelectasis: 0.3, Cardiomegaly: 0.55, Effusion: 0.1 }, 'Cardiomegaly');
    const report = buildFindingsReport({ source: phantomSource(), result, manifest: coded, now: NOW });
    const { tree } = dsrdump(scratch.path('coded.sr.dcm'), report.bytes);
    expect(tree).toContain('<contains CODE:(,,"Finding")=(287272002,SCT,"Cardiomegaly")>');
    expect(tree).toContain('<contains CODE:(,,"Finding")=(Effusion,99CXR,"Effusion")>');
  });
});

describe('buildFindingsReport: real chest radiographs from public sets', () => {
  // Both carry Patient's Age without its unit ("62", "81"): copied as is it made dciodvfy report
  // "Value invalid for this VR"; an invalid value is left out of the report now.
  it.each(['siim_cr_jpegbaseline.dcm', 'nih_dx_implicit.dcm'])('%s: dciodvfy finds no errors', (name) => {
    const source = new Uint8Array(readFileSync(publicDicomPath(name)));
    const report = buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW });
    const path = scratch.path(`${name}.sr.dcm`);
    const { errors, warnings } = dciodvfy(path, report.bytes);
    expect(errors).toEqual([]);
    expect(unexpectedWarnings(warnings)).toEqual([]);
    expect(dsrdump(path, report.bytes).complaints).toBe('');
    const dump = dcmdump(path, report.bytes);
    const sourceDump = dcmdump(scratch.path(name), source);
    for (const t of ['(0010,0010)', '(0010,0020)', '(0010,0040)', '(0020,000d)']) {
      expect(topLevelValue(dump, t), t).toBe(topLevelValue(sourceDump, t));
    }
    expect(topLevelValue(dump, '(0010,1010)')).toBeUndefined();
  });
});

describe('buildFindingsReport: character sets', () => {
  it('declares UTF-8 when a copied name is not ASCII (dcmjs writes strings as UTF-8)', () => {
    const source = phantomSource({ patientName: 'M\u00fcller^J\u00fcrgen' }, (elements) => [
      ...elements,
      { tag: tag(0x0008, 0x0005), vr: 'CS', value: 'ISO_IR 100' },
    ]);
    const report = buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW });
    const path = scratch.path('latin1.sr.dcm');
    const dump = dcmdump(path, report.bytes);
    expect(topLevelValue(dump, '(0008,0005)')).toBe('[ISO_IR 192]');
    expect(topLevelValue(dump, '(0010,0010)')).toBe('[M\u00fcller^J\u00fcrgen]');
    expect(dciodvfy(path, report.bytes).errors).toEqual([]);
  });

  it('writes no Specific Character Set for an all-ASCII report', () => {
    const report = buildFindingsReport({
      source: phantomSource(),
      result: seedResult,
      manifest: seed,
      now: NOW,
    });
    expect(topLevelValue(dcmdump(scratch.path('ascii.sr.dcm'), report.bytes), '(0008,0005)')).toBeUndefined();
  });
});

describe('buildFindingsReport: what cannot have a report', () => {
  function failure(run: () => unknown): FindingsError {
    try {
      run();
    } catch (error) {
      if (error instanceof FindingsError) return error;
      throw error;
    }
    throw new Error('expected a FindingsError');
  }
  function expectNoPatientData(error: FindingsError): void {
    expect(error.message).not.toContain(CANARY_PATIENT_NAME);
    expect(error.message).not.toContain(CANARY_PATIENT_ID);
    expect(error.message).not.toContain('\n');
  }

  it.each([
    ['SOP Instance UID', Tag.SopInstanceUid],
    ['Study Instance UID', Tag.StudyInstanceUid],
    ['Series Instance UID', Tag.SeriesInstanceUid],
  ])('a source without %s: source_missing_uid, naming the attribute only', (name, t) => {
    const source = phantomSource({}, (elements) => withElement(elements, t, undefined));
    const error = failure(() =>
      buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW }),
    );
    expect(error.code).toBe('source_missing_uid');
    expect(error.message).toContain(name);
    expectNoPatientData(error);
  });

  it('a source whose UID holds a name: source_missing_uid without quoting it', () => {
    const source = phantomSource({}, (elements) =>
      withElement(elements, Tag.SopInstanceUid, CANARY_PATIENT_NAME),
    );
    const error = failure(() =>
      buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW }),
    );
    expect(error.code).toBe('source_missing_uid');
    expectNoPatientData(error);
  });

  it('bytes that are not Part 10: source_unreadable', () => {
    const bytes = new Uint8Array(Buffer.from(`not dicom ${CANARY_PATIENT_NAME}`));
    const error = failure(() =>
      buildFindingsReport({ source: bytes, result: seedResult, manifest: seed, now: NOW }),
    );
    expect(error.code).toBe('source_unreadable');
    expectNoPatientData(error);
  });

  it.each([
    ['result_not_ok', { ...seedResult, outcome: 'rejected' as const, scores: null, decision: null }],
    ['model_mismatch', { ...seedResult, modelVersion: '9.9.9' }],
    ['scores_mismatch', { ...seedResult, scores: { normal: 0.2, pneumonia: 0.8 } }],
    ['scores_mismatch', { ...seedResult, scores: { ...seedResult.scores, extra: 0.1 } }],
    ['decision_mismatch', { ...seedResult, decision: 'normal' }],
  ])('%s', (code, result) => {
    const error = failure(() =>
      buildFindingsReport({ source: phantomSource(), result, manifest: seed, now: NOW }),
    );
    expect(error.code).toBe(code);
    expectNoPatientData(error);
  });
});

describe('buildFindingsReport: how the source bytes arrive', () => {
  it('reads a Node Buffer that is a view into a larger (pooled) buffer', () => {
    // Buffer.slice() is a view: copying the source with it once handed dcmjs the whole pool.
    const source = phantomSource();
    const pooled = Buffer.concat([Buffer.from('junk before the object'), source]).subarray(22);
    const report = buildFindingsReport({ source: pooled, result: seedResult, manifest: seed, now: NOW });
    expect(report.sopInstanceUid).toBe(
      buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW }).sopInstanceUid,
    );
  });

  it('reads an object written without preamble and file meta (fuji_cr_mono1_10bit.dcm)', () => {
    const source = readFileSync(publicDicomPath('fuji_cr_mono1_10bit.dcm'));
    const report = buildFindingsReport({ source, result: seedResult, manifest: seed, now: NOW });
    const path = scratch.path('fuji.sr.dcm');
    expect(dciodvfy(path, report.bytes).errors).toEqual([]);
    expect(dsrdump(path, report.bytes).tree).toContain('<contains IMAGE:(,,"Source")=(CR image,)>');
  });
});
