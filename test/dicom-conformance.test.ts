/**
 * Decoder conformance against the generated fixture set (packages/fixtures/src/generate.ts): every
 * transfer syntax and pixel-module variant must decode to the generator's source array (exactly
 * for lossless ones, within the stated tolerance for lossy ones), and every rejection fixture
 * must fail with its reason code and a one-line message free of patient data.
 */
import { readFileSync } from 'node:fs';
import { decodeFrame, DicomRejectedError, type FrameSamples } from '@cxr/dicom';
import { describe, expect, inject, it } from 'vitest';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  frameOf,
  loadFixtureManifest,
  loadRawSamples,
  type DecodeFixture,
  type RawSamples,
  type RejectFixture,
  type SampleArray,
  type Tolerance,
} from '@cxr/fixtures';

const fixtureSet = loadFixtureManifest(inject('fixtureManifestPath'));
const decodeFixtures = fixtureSet.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode');
const rejectFixtures = fixtureSet.fixtures.filter((f): f is RejectFixture => f.kind === 'reject');

/**
 * The stored value the standard defines for a raw sample: bits above BitsStored ignored, and for
 * PixelRepresentation 1 the value sign-extended from the high bit (PS3.5 8.1.1, PS3.3 C.7.6.3.1).
 */
function storedValue(raw: number, bitsStored: number, signed: boolean): number {
  if (bitsStored >= 32) return signed ? raw | 0 : raw >>> 0;
  const masked = (raw >>> 0) & (2 ** bitsStored - 1);
  return signed && masked >= 2 ** (bitsStored - 1) ? masked - 2 ** bitsStored : masked;
}

interface Difference {
  readonly length: number;
  readonly mismatches: number;
  readonly firstMismatch?: { index: number; decoded: number; expected: number };
  readonly maxAbs: number;
  readonly meanAbs: number;
}

function compare(
  decoded: FrameSamples,
  expected: SampleArray,
  bitsStored: number,
  signed: boolean,
): Difference {
  if (decoded.length !== expected.length) {
    return {
      length: decoded.length,
      mismatches: Math.abs(decoded.length - expected.length),
      maxAbs: Infinity,
      meanAbs: Infinity,
    };
  }
  let mismatches = 0;
  let maxAbs = 0;
  let sum = 0;
  let firstMismatch: Difference['firstMismatch'];
  for (let i = 0; i < expected.length; i++) {
    const want = storedValue(expected[i]!, bitsStored, signed);
    const got = decoded[i]!;
    const diff = Math.abs(got - want);
    if (diff !== 0) {
      mismatches++;
      firstMismatch ??= { index: i, decoded: got, expected: want };
      if (diff > maxAbs) maxAbs = diff;
      sum += diff;
    }
  }
  return { length: decoded.length, mismatches, firstMismatch, maxAbs, meanAbs: sum / expected.length };
}

function expectWithin(diff: Difference, tolerance: Tolerance, against: string): void {
  const summary = `${against}: max ${diff.maxAbs}, mean ${diff.meanAbs.toFixed(3)} (allowed ${tolerance.maxAbs}, ${tolerance.meanAbs})`;
  expect(diff.maxAbs, summary).toBeLessThanOrEqual(tolerance.maxAbs);
  expect(diff.meanAbs, summary).toBeLessThanOrEqual(tolerance.meanAbs);
}

const rawCache = new Map<string, SampleArray>();
function rawSamples(raw: RawSamples): SampleArray {
  let samples = rawCache.get(raw.rawPath);
  if (samples === undefined) {
    samples = loadRawSamples(raw);
    rawCache.set(raw.rawPath, samples);
  }
  return samples;
}

describe('fixture set', () => {
  it('covers every transfer syntax the decoder claims and every rejection reason we generate', () => {
    const syntaxes = new Set(decodeFixtures.map((f) => f.transferSyntaxUid));
    expect(syntaxes.size).toBeGreaterThanOrEqual(14);
    expect(new Set(rejectFixtures.map((f) => f.reason))).toEqual(
      new Set([
        'not_dicom',
        'truncated',
        'no_pixel_data',
        'pixel_data_short',
        'corrupt_stream',
        'unsupported_transfer_syntax',
        'frame_out_of_range',
      ]),
    );
  });
});

describe.each(decodeFixtures.map((f) => [f.name, f] as const))('decode %s', (_name, fixture) => {
  const frames = Array.from({ length: fixture.expected.frames }, (_, i) => i);

  it.each(frames)('frame %i matches the source', async (frameIndex) => {
    const bytes = new Uint8Array(readFileSync(fixture.path));
    const { info, frame, frameIndex: returnedIndex } = await decodeFrame(bytes, { frame: frameIndex });
    const want = fixture.expected;

    expect(returnedIndex).toBe(frameIndex);
    expect(info.transferSyntaxUid).toBe(fixture.transferSyntaxUid);
    expect({ hadPreamble: info.hadPreamble, hadFileMeta: info.hadFileMeta }).toEqual({
      hadPreamble: want.hadPreamble,
      hadFileMeta: want.hadFileMeta,
    });
    expect(info.pixel.rows).toBe(want.rows);
    expect(info.pixel.columns).toBe(want.columns);
    expect(info.pixel.numberOfFrames).toBe(want.frames);
    if (want.modality !== undefined) expect(info.technical.modality).toBe(want.modality);
    if (want.sopClassUid !== undefined) expect(info.technical.sopClassUid).toBe(want.sopClassUid);
    if (want.modalityLutKind !== undefined) expect(info.modalityLut.kind).toBe(want.modalityLutKind);
    if (want.voiLutFunction !== undefined) expect(info.voi.function).toBe(want.voiLutFunction);
    // The patient ID is carried for salted hashing; the name is never read (types.ts).
    expect(info.patientId).toBe(CANARY_PATIENT_ID);
    expect(JSON.stringify(info)).not.toContain(CANARY_PATIENT_NAME);

    expect({
      rows: frame.rows,
      columns: frame.columns,
      samplesPerPixel: frame.samplesPerPixel,
      photometricInterpretation: frame.photometricInterpretation,
      bitsStored: frame.bitsStored,
      signed: frame.signed,
      length: frame.samples.length,
    }).toEqual({
      rows: want.rows,
      columns: want.columns,
      samplesPerPixel: want.samplesPerPixel,
      photometricInterpretation: want.photometricInterpretation,
      bitsStored: want.bitsStored,
      signed: want.signed,
      length: want.rows * want.columns * want.samplesPerPixel,
    });

    const source = frameOf(rawSamples(fixture.source), fixture.source, frameIndex);
    const vsSource = compare(frame.samples, source, want.bitsStored, want.signed);
    if (fixture.lossless) {
      expect({ mismatches: vsSource.mismatches, first: vsSource.firstMismatch }).toEqual({
        mismatches: 0,
        first: undefined,
      });
      return;
    }
    const tolerance = fixture.tolerance;
    expect(tolerance, 'lossy fixtures state a tolerance').toBeDefined();
    if (tolerance === undefined) return;
    expectWithin(vsSource, tolerance.vsSource, 'vs source');
    if (fixture.reference !== undefined && tolerance.vsReference !== undefined) {
      const reference = frameOf(rawSamples(fixture.reference), fixture.reference, frameIndex);
      expectWithin(
        compare(frame.samples, reference, want.bitsStored, want.signed),
        tolerance.vsReference,
        `vs ${fixture.reference.tool}`,
      );
    }
  });
});

describe.each(rejectFixtures.map((f) => [f.name, f] as const))('reject %s', (_name, fixture) => {
  it(`throws DicomRejectedError(${fixture.reason}) with a one-line message free of patient data`, async () => {
    const bytes = new Uint8Array(readFileSync(fixture.path));
    const error: unknown = await decodeFrame(
      bytes,
      fixture.frame === undefined ? undefined : { frame: fixture.frame },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DicomRejectedError);
    if (!(error instanceof DicomRejectedError)) return;
    expect(error.reason).toBe(fixture.reason);
    expect(error.message.length).toBeGreaterThan(0);
    expect(error.message).not.toMatch(/[\r\n]/);
    for (const text of [error.message, String(error)]) {
      expect(text).not.toContain(CANARY_PATIENT_NAME);
      expect(text).not.toContain(CANARY_PATIENT_ID);
      // Also no fragment of them (the truncation fixture ends inside the name).
      expect(text).not.toContain('CANARY');
    }
  });
});
