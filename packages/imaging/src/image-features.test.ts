import type { DecodedFrame, ModalityLut, StoredSamples } from '@cxr/dicom';
import { describe, expect, it } from 'vitest';
import { DecodePool } from './decode-pool.js';
import { runDecodeTask } from './decode-task.js';
import { imageFeatures } from './image-features.js';
import { writeNativeDicom } from './testing/native-dicom.js';
import { SopClass, writeNativeImage } from '@cxr/dicom/testing';

const IDENTITY: ModalityLut = { kind: 'identity' };

function mono(samples: StoredSamples, bitsStored = 12): DecodedFrame {
  return {
    rows: 1,
    columns: samples.length,
    samplesPerPixel: 1,
    photometricInterpretation: 'MONOCHROME2',
    samples,
    bitsStored,
    signed: false,
  };
}

describe('imageFeatures', () => {
  it('identity: mean and population standard deviation of the stored values', () => {
    // [1, 2, 3, 4]: mean 2.5; deviations -1.5 -0.5 0.5 1.5 -> squares 2.25 0.25 0.25 2.25 = 5
    // variance 5 / 4 = 1.25, std sqrt(1.25) = 1.1180340
    const f = imageFeatures(mono(new Uint16Array([1, 2, 3, 4]), 10), IDENTITY);
    expect(f.imageMean).toBe(2.5);
    expect(f.imageStd).toBeCloseTo(1.1180339887, 10);
    expect(f.bitsStored).toBe(10);
  });

  it('rescale: mean -2 x 2.5 + 100 = 95, std |-2| x 1.1180340 = 2.2360680', () => {
    const f = imageFeatures(mono(new Uint16Array([1, 2, 3, 4])), {
      kind: 'rescale',
      slope: -2,
      intercept: 100,
    });
    expect(f.imageMean).toBe(95);
    expect(f.imageStd).toBeCloseTo(2.2360679775, 10);
  });

  it('Modality LUT table, clamped at both ends as PS3.3 C.11.1.1.1 says', () => {
    // firstMapped 2, data [10, 20, 30]: 0 -> 10 (below), 2 -> 10, 3 -> 20, 4 -> 30, 9 -> 30 (beyond)
    // values [10, 10, 20, 30, 30]: mean 20; squares of deviations 100 100 0 100 100 -> variance 80
    // std sqrt(80) = 8.9442719
    const lut: ModalityLut = {
      kind: 'table',
      lut: { firstMapped: 2, bitsPerEntry: 16, data: new Uint16Array([10, 20, 30]) },
    };
    const f = imageFeatures(mono(new Uint16Array([0, 2, 3, 4, 9])), lut);
    expect(f.imageMean).toBe(20);
    expect(f.imageStd).toBeCloseTo(8.94427191, 8);
  });

  it('RGB: all stored samples, no Modality LUT', () => {
    // [0, 255, 0, 255, 0, 0]: mean 85; deviations^2: 7225 x 4 + 28900 x 2 = 86700; / 6 = 14450
    // std sqrt(14450) = 120.2081528
    const frame: DecodedFrame = {
      rows: 1,
      columns: 2,
      samplesPerPixel: 3,
      photometricInterpretation: 'RGB',
      samples: new Uint8Array([0, 255, 0, 255, 0, 0]),
      bitsStored: 8,
      signed: false,
    };
    const f = imageFeatures(frame, { kind: 'rescale', slope: 1000, intercept: 5 });
    expect(f.imageMean).toBe(85);
    expect(f.imageStd).toBeCloseTo(120.2081528, 6);
  });

  it('stays exact for a large mean and a small spread (no sum-of-squares cancellation)', () => {
    // 4e9 and 4e9 + 2 alternating: mean 4e9 + 1, std exactly 1. Plain sums of squares would need
    // 1.6e19 per pixel, beyond float64's 2^53 integer range, and lose the spread entirely.
    const samples = new Uint32Array(1000).map((_, i) => 4_000_000_000 + (i % 2) * 2);
    const f = imageFeatures(mono(samples, 32), IDENTITY);
    expect(f.imageMean).toBe(4_000_000_001);
    expect(f.imageStd).toBe(1);
  });

  it('a constant image has standard deviation 0', () => {
    expect(imageFeatures(mono(new Uint16Array(50).fill(700)), IDENTITY)).toEqual({
      imageMean: 700,
      imageStd: 0,
      bitsStored: 12,
    });
  });

  it('refuses an empty frame', () => {
    expect(() => imageFeatures(mono(new Uint16Array(0)), IDENTITY)).toThrow(/empty/);
  });
});

describe('decode task features', () => {
  // 2 x 2 CR, 12 bits stored, no rescale tags: identity. [100, 200, 300, 400] -> mean 250,
  // std sqrt((150^2 + 50^2 + 50^2 + 150^2) / 4) = sqrt(12500) = 111.8033989
  const bytes = writeNativeDicom({
    rows: 2,
    columns: 2,
    bitsStored: 12,
    samples: new Uint16Array([100, 200, 300, 400]),
  });
  const model = {
    size: 4,
    channels: 1,
    layout: 'NHWC',
    crop: 'none',
    resize: 'bilinear',
    intensity: { method: 'min-max' },
    normalization: { method: 'unit' },
  } as const;

  it('model and modality outputs carry the features, in this thread and through the pool', async () => {
    const expected = { imageMean: 250, imageStd: Math.sqrt(12_500), bitsStored: 12 };
    const local = await runDecodeTask(bytes, { output: { model, accept: null } });
    expect(local.features?.imageMean).toBe(expected.imageMean);
    expect(local.features?.imageStd).toBeCloseTo(expected.imageStd, 9);
    expect(local.features?.bitsStored).toBe(12);
    expect((await runDecodeTask(bytes, { output: 'modality' })).features).toEqual(local.features);
    expect((await runDecodeTask(bytes, { output: 'stored' })).features).toBeUndefined();
    const pool = new DecodePool({ threads: 1 });
    try {
      const pooled = await pool.decode(bytes.slice(), { output: { model, accept: null } });
      expect(pooled.features).toEqual(local.features);
    } finally {
      await pool.close();
    }
  });
});

describe('drift features of a model input rendered with the box shrink (decodeResolution auto)', () => {
  // 320 x 240: enough pixels for the code-table renderer (2^16 codes); 8-bit, 12-bit and signed
  // 16-bit samples, pseudo-random. Input sizes 30, 80 and 120 take the general, the 4-wide and
  // the 2x2 box loops (boxes 10x8, 4x3, 2x2), each covering the whole frame.
  const rows = 240;
  const columns = 320;
  let seed = 7;
  const next = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    return seed >>> 8;
  };
  const n = rows * columns;
  const twelve = Uint16Array.from({ length: n }, () => next() % 4096);
  const eight = Uint8Array.from({ length: n }, () => next() % 256);
  const signed = Int16Array.from({ length: n }, () => (next() % 60_000) - 30_000);
  const image = (
    samples: Uint8Array | Uint16Array | Int16Array,
    bitsStored: number,
    window?: { center: number; width: number },
  ): Uint8Array =>
    writeNativeImage(
      {
        rows,
        columns,
        samplesPerPixel: 1,
        bitsAllocated: samples instanceof Uint8Array ? 8 : 16,
        bitsStored,
        pixelRepresentation: samples instanceof Int16Array ? 1 : 0,
        photometricInterpretation: 'MONOCHROME2',
        samples,
      },
      {
        sopClassUid: SopClass.ComputedRadiography,
        modality: 'CR',
        ...(window === undefined ? {} : { window }),
      },
    );
  const files = {
    '12-bit, no window (percentiles)': image(twelve, 12),
    '12-bit, window': image(twelve, 12, { center: 2000, width: 3000 }),
    '8-bit, window': image(eight, 8, { center: 128, width: 200 }),
    'signed 16-bit, window': image(signed, 16, { center: 0, width: 40_000 }),
  };
  const cases = Object.entries(files).flatMap(([name, bytes]) =>
    [30, 80, 120].flatMap((size) =>
      (['none', 'center-square'] as const).map(
        (crop) => [`${name}, size ${size}, crop ${crop}`, bytes, size, crop] as const,
      ),
    ),
  );

  it.each(cases)('%s: the same mean and std as the modality output', async (_name, bytes, size, crop) => {
    const model = {
      size,
      channels: 1,
      layout: 'NHWC',
      crop,
      resize: 'bilinear',
      intensity: { method: 'dicom-window' },
      normalization: { method: 'unit' },
    } as const;
    const expected = (await runDecodeTask(bytes, { output: 'modality' })).features;
    const actual = (await runDecodeTask(bytes, { output: { model, accept: null } })).features;
    expect(expected).toBeDefined();
    expect(actual?.imageMean).toBeCloseTo(expected!.imageMean, 9);
    expect(actual?.imageStd).toBeCloseTo(expected!.imageStd, 9);
    expect(actual?.bitsStored).toBe(expected!.bitsStored);
  });
});
