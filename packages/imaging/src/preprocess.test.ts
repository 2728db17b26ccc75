import { readFile } from 'node:fs/promises';

import { decodeFrame } from '@cxr/dicom';
import type { DecodedFrame, DicomImageInfo, VoiLut } from '@cxr/dicom';
import { publicDicomPath } from '@cxr/dicom/testing';
import { MANIFEST_RESIZE_FILTERS } from '@cxr/model/manifest';
import type { ManifestInput } from '@cxr/model/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DecodePool } from './decode-pool.js';
import {
  centerSquare,
  modelInputLength,
  packBatch,
  preprocessForModel,
  storedRangeWindow,
} from './preprocess.js';
import { RESIZE_FILTERS } from './resize.js';
import { gradientSamples, writeNativeDicom } from './testing/native-dicom.js';

type Info = Pick<DicomImageInfo, 'modalityLut' | 'voi'>;

const NO_VOI: VoiLut = { windows: [], function: 'LINEAR', tables: [] };
/** LINEAR window c=128 w=256: lower bound 0, so stored x -> x / 255 (PS3.3 C.11.2.1.2.1). */
const WINDOW_0_255: Info = {
  modalityLut: { kind: 'identity' },
  voi: { windows: [{ center: 128, width: 256 }], function: 'LINEAR', tables: [] },
};
const IMAGENET: Extract<ManifestInput['normalization'], { method: 'imagenet' }> = {
  method: 'imagenet',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** A 1-channel model input; tests override what they exercise. */
const BASE: ManifestInput = {
  size: 2,
  channels: 1,
  layout: 'NHWC',
  crop: 'none',
  resize: 'nearest',
  intensity: { method: 'dicom-window' },
  normalization: { method: 'unit' },
};

function mono(
  columns: number,
  rows: number,
  values: readonly number[],
  photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2' = 'MONOCHROME2',
): DecodedFrame {
  expect(values.length).toBe(rows * columns);
  return {
    rows,
    columns,
    samplesPerPixel: 1,
    photometricInterpretation,
    samples: Uint16Array.from(values),
    bitsStored: 12,
    signed: false,
  };
}

/** 4x4 frame whose 2x2 quadrants hold tl, tr, bl, br: nearest 4 -> 2 keeps one value per quadrant. */
function quadrants(
  tl: number,
  tr: number,
  bl: number,
  br: number,
  photometric?: 'MONOCHROME1' | 'MONOCHROME2',
): DecodedFrame {
  const values: number[] = [];
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) values.push(y < 2 ? (x < 2 ? tl : tr) : x < 2 ? bl : br);
  }
  return mono(4, 4, values, photometric);
}

// resizeGray quantises to 1/65535, so values that are not multiples of it come back within 1e-5.
function expectClose(actual: Float32Array, expected: readonly number[], tolerance = 2e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => {
    if (Math.abs(value - expected[i]!) > tolerance) {
      expect.fail(`index ${i}: got ${value}, expected ${expected[i]} (+-${tolerance})`);
    }
  });
}

// First in the file: the worker's start-up (tsx transforms) is the heaviest part of this file,
// and the pool tests in decode-pool.test.ts that measure event-loop delay run in parallel.
describe('DecodePool { model } output', () => {
  let pool: DecodePool;
  beforeAll(() => {
    pool = new DecodePool({ threads: 1 });
  });
  afterAll(async () => {
    await pool.close({ drain: false });
  });

  it('equals preprocessForModel called directly on the same file', { timeout: 60_000 }, async () => {
    const synthetic = writeNativeDicom({
      rows: 30,
      columns: 50,
      bitsStored: 12,
      samples: gradientSamples(30, 50, 12),
      photometric: 'MONOCHROME1',
    });
    const fuji = await readFile(publicDicomPath('fuji_cr_mono1_10bit.dcm'));
    const cases: [Uint8Array, ManifestInput][] = [
      [
        synthetic,
        {
          ...BASE,
          size: 16,
          channels: 3,
          layout: 'NCHW',
          crop: 'center-square',
          resize: 'lanczos3',
          intensity: { method: 'percentiles', low: 1, high: 99 },
          normalization: { method: 'xrv' },
        },
      ],
      [
        fuji,
        {
          ...BASE,
          size: 64,
          channels: 3,
          resize: 'bilinear',
          normalization: IMAGENET,
        },
      ],
    ];
    for (const [bytes, input] of cases) {
      const { frame, info } = await decodeFrame(bytes);
      const direct = await preprocessForModel(frame, info, input);
      const pooled = await pool.decode(bytes, { output: { model: input, accept: null } });
      expect(pooled.pixels).toBeInstanceOf(Float32Array);
      expect(pooled.pixels).toEqual(direct.tensor);
      expect([pooled.width, pooled.height, pooled.channels]).toEqual([input.size, input.size, 3]);
      expect(pooled.model).toEqual({ layout: input.layout, intensityUsed: direct.intensityUsed });
      expect(pooled.display?.inverted).toBe(true);
      expect(pooled.timings.normalizeMs).toBeGreaterThanOrEqual(0);
      expect(pooled.timings.resizeMs).toBeGreaterThan(0);
    }
  });
});

describe('preprocessForModel: intensity and normalization', () => {
  // Stored 0, 85, 170, 255 through the 0..255 window: 0, 1/3, 2/3, 1 (multiples of 1/65535).
  const frame = quadrants(0, 85, 170, 255);

  it('unit: [0,1] from the file window, one value per quadrant', async () => {
    const { tensor, intensityUsed } = await preprocessForModel(frame, WINDOW_0_255, BASE);
    expectClose(tensor, [0, 1 / 3, 2 / 3, 1], 1e-6);
    expect(intensityUsed).toMatchObject({
      method: 'dicom-window',
      voiUsed: { kind: 'file-window', center: 128, width: 256 },
      inverted: false,
      colour: 'monochrome',
    });
  });

  it('imagenet: each channel is exactly (v - mean[c]) / std[c] of the unit value', async () => {
    const unit = await preprocessForModel(frame, WINDOW_0_255, BASE);
    const { tensor } = await preprocessForModel(frame, WINDOW_0_255, {
      ...BASE,
      channels: 3,
      normalization: IMAGENET,
    });
    expect(tensor.length).toBe(12);
    for (let i = 0; i < 4; i++) {
      for (let c = 0; c < 3; c++) {
        expect(tensor[i * 3 + c]).toBe(Math.fround((unit.tensor[i]! - IMAGENET.mean[c]!) / IMAGENET.std[c]!));
      }
    }
    // By hand: v = 0 -> -0.485 / 0.229; v = 1 in the blue channel -> 0.594 / 0.225.
    expect(tensor[0]).toBeCloseTo(-2.117904, 5);
    expect(tensor[11]).toBeCloseTo(2.64, 5);
  });

  it('xrv: 0 -> -1024, 1 -> 1024, 0.5 -> 0 (TorchXRayVision scale)', async () => {
    // Window c=128.5 w=257 has lower bound 0 and slope 1/256: stored 128 -> exactly 0.5.
    const info: Info = {
      modalityLut: { kind: 'identity' },
      voi: { windows: [{ center: 128.5, width: 257 }], function: 'LINEAR', tables: [] },
    };
    const { tensor } = await preprocessForModel(quadrants(0, 256, 128, 128), info, {
      ...BASE,
      normalization: { method: 'xrv' },
    });
    expect(tensor[0]).toBe(-1024);
    expect(tensor[1]).toBe(1024);
    // 0.5 is quantised to 32768/65535 by the resize: 2048 / 65535 / 2 ~ 0.016 off.
    expect(Math.abs(tensor[2]!)).toBeLessThan(0.02);
    expect(tensor[3]).toBe(tensor[2]);
  });

  it('min-max ignores the file window and inverts MONOCHROME1 so bright = dense', async () => {
    // A file window that would saturate everything to 0, to prove it is not used.
    const info: Info = {
      modalityLut: { kind: 'identity' },
      voi: { windows: [{ center: 3000, width: 100 }], function: 'LINEAR', tables: [] },
    };
    const input: ManifestInput = { ...BASE, intensity: { method: 'min-max' } };
    // Range 100..400 -> window c=250.5 w=301 -> (x - 100) / 300.
    const mono2 = await preprocessForModel(quadrants(100, 200, 300, 400), info, input);
    expectClose(mono2.tensor, [0, 1 / 3, 2 / 3, 1]);
    const mono1 = await preprocessForModel(quadrants(100, 200, 300, 400, 'MONOCHROME1'), info, input);
    expectClose(mono1.tensor, [1, 2 / 3, 1 / 3, 0]);
    expect(mono1.intensityUsed).toMatchObject({
      method: 'min-max',
      voiUsed: { kind: 'minmax', low: 100, high: 400, reason: 'requested' },
      inverted: true,
    });
  });

  it('bits-stored: stored / (2^BitsStored - 1), no Modality LUT, no file window (TorchXRayVision)', async () => {
    // A rescale and a file window that would change every value, to prove neither is used:
    // read_xray_dcm divides pixel_array (stored values) by 2^BitsStored - 1 and inverts MONOCHROME1.
    const info: Info = {
      modalityLut: { kind: 'rescale', slope: 2, intercept: -100 },
      voi: { windows: [{ center: 3000, width: 100 }], function: 'LINEAR', tables: [] },
    };
    const input: ManifestInput = { ...BASE, intensity: { method: 'bits-stored' } };
    // 12 bits: 4095 is the top; 1365 = 4095 / 3.
    const mono2 = await preprocessForModel(quadrants(0, 1365, 2730, 4095), info, input);
    expectClose(mono2.tensor, [0, 1 / 3, 2 / 3, 1]);
    expect(mono2.intensityUsed).toMatchObject({
      method: 'bits-stored',
      voiUsed: { kind: 'explicit-window', center: 2048, width: 4096 },
      inverted: false,
    });
    const mono1 = await preprocessForModel(quadrants(0, 1365, 2730, 4095, 'MONOCHROME1'), info, input);
    expectClose(mono1.tensor, [1, 2 / 3, 1 / 3, 0]);
    // The whole range, not the image's: a dim image stays dim (stored 0..1365 -> 0..1/3).
    const dim = await preprocessForModel(quadrants(0, 455, 910, 1365), info, input);
    expectClose(dim.tensor, [0, 1 / 9, 2 / 9, 1 / 3]);
  });

  it('storedRangeWindow spans exactly the unsigned or signed range of the bits', () => {
    expect(storedRangeWindow({ bitsStored: 8, signed: false })).toEqual({ center: 128, width: 256 });
    expect(storedRangeWindow({ bitsStored: 12, signed: true })).toEqual({ center: 0, width: 4096 });
  });

  it('percentiles: numpy-linear percentiles of the whole frame as the window', async () => {
    // 10x10 frame holding 0..99 once each: p10 = 0.1 * 99 = 9.9, p90 = 89.1; window
    // c=50 w=80.2 -> (x - 9.9) / 79.2, clamped. Size 10 with nearest is an identity resize.
    const frame10 = mono(
      10,
      10,
      Array.from({ length: 100 }, (_, i) => i),
    );
    const { tensor, intensityUsed } = await preprocessForModel(
      frame10,
      { modalityLut: { kind: 'identity' }, voi: NO_VOI },
      { ...BASE, size: 10, intensity: { method: 'percentiles', low: 10, high: 90 } },
    );
    expect(intensityUsed.voiUsed).toMatchObject({
      kind: 'percentiles',
      lowPercentile: 10,
      highPercentile: 90,
    });
    const used = intensityUsed.voiUsed as { low: number; high: number };
    expect(used.low).toBeCloseTo(9.9, 10);
    expect(used.high).toBeCloseTo(89.1, 10);
    expectClose(
      tensor,
      Array.from({ length: 100 }, (_, x) => Math.min(1, Math.max(0, (x - 9.9) / 79.2))),
    );
    expect(tensor[9]).toBe(0);
    expect(tensor[90]).toBe(1);
  });

  it('dicom-window without a VOI in the file falls back to the 0.5-99.5 percentile range', async () => {
    const { intensityUsed } = await preprocessForModel(
      quadrants(0, 85, 170, 255),
      { modalityLut: { kind: 'identity' }, voi: NO_VOI },
      BASE,
    );
    expect(intensityUsed.voiUsed).toMatchObject({
      kind: 'percentiles',
      lowPercentile: 0.5,
      highPercentile: 99.5,
      reason: 'no-file-voi',
    });
  });

  it('throws RangeError when imagenet statistics do not match the channel count', async () => {
    await expect(
      preprocessForModel(frame, WINDOW_0_255, {
        ...BASE,
        channels: 3,
        normalization: { method: 'imagenet', mean: [0.5], std: [0.25] },
      }),
    ).rejects.toThrow(RangeError);
  });
});

describe('preprocessForModel: layout, crop and colour', () => {
  it('NHWC interleaves channels per pixel, NCHW stores one plane per channel (2x2x3)', async () => {
    const frame = mono(2, 2, [0, 85, 170, 255]);
    const input: ManifestInput = { ...BASE, channels: 3, normalization: IMAGENET };
    const nhwc = (await preprocessForModel(frame, WINDOW_0_255, { ...input, layout: 'NHWC' })).tensor;
    const nchw = (await preprocessForModel(frame, WINDOW_0_255, { ...input, layout: 'NCHW' })).tensor;
    const v = [0, 1 / 3, 2 / 3, 1];
    const expected = (i: number, c: number): number => (v[i]! - IMAGENET.mean[c]!) / IMAGENET.std[c]!;
    // NHWC: pixel 0's R, G, B first. NCHW: the R plane (pixels 0..3) first.
    expectClose(nhwc.subarray(0, 3), [expected(0, 0), expected(0, 1), expected(0, 2)], 1e-5);
    expectClose(nchw.subarray(0, 4), [expected(0, 0), expected(1, 0), expected(2, 0), expected(3, 0)], 1e-5);
    for (let i = 0; i < 4; i++) {
      for (let c = 0; c < 3; c++) expect(nchw[c * 4 + i]).toBe(nhwc[i * 3 + c]);
    }
  });

  it('center-square keeps the central columns of a landscape frame', async () => {
    // 6 wide x 4 high, column x holds 51x: the square is columns 1..4.
    const values = Array.from({ length: 24 }, (_, i) => (i % 6) * 51);
    const input: ManifestInput = { ...BASE, size: 4, crop: 'center-square' };
    const { tensor } = await preprocessForModel(mono(6, 4, values), WINDOW_0_255, input);
    const row = [51, 102, 153, 204].map((x) => x / 255);
    expectClose(tensor, [...row, ...row, ...row, ...row]);
    expect(centerSquare(6, 4)).toEqual({ left: 1, top: 0, side: 4 });
  });

  it('center-square leaves an odd extra column on the right (floor of the excess / 2)', async () => {
    const values = Array.from({ length: 20 }, (_, i) => (i % 5) * 51);
    const input: ManifestInput = { ...BASE, size: 4, crop: 'center-square' };
    const { tensor } = await preprocessForModel(mono(5, 4, values), WINDOW_0_255, input);
    expectClose(
      tensor.subarray(0, 4),
      [0, 51, 102, 153].map((x) => x / 255),
    );
  });

  it('center-square keeps the central rows of a portrait frame', async () => {
    // 4 wide x 6 high, row y holds 51y: the square is rows 1..4.
    const values = Array.from({ length: 24 }, (_, i) => Math.floor(i / 4) * 51);
    const input: ManifestInput = { ...BASE, size: 4, crop: 'center-square' };
    const { tensor } = await preprocessForModel(mono(4, 6, values), WINDOW_0_255, input);
    const expected = [1, 2, 3, 4].flatMap((y) => [y, y, y, y].map((r) => (r * 51) / 255));
    expectClose(tensor, expected);
  });

  it("crop 'none' keeps every column and stretches the frame to a square", async () => {
    // 8 wide x 4 high in four 2-column bands: all four survive in a 4x4 output.
    const values = Array.from({ length: 32 }, (_, i) => Math.floor((i % 8) / 2) * 85);
    const { tensor } = await preprocessForModel(mono(8, 4, values), WINDOW_0_255, { ...BASE, size: 4 });
    const row = [0, 1 / 3, 2 / 3, 1];
    expectClose(tensor, [...row, ...row, ...row, ...row]);
  });

  // 3 wide x 2 high RGB: red green blue / white black red; the centre square is columns 0..1.
  const rgb: DecodedFrame = {
    rows: 2,
    columns: 3,
    samplesPerPixel: 3,
    photometricInterpretation: 'RGB',
    samples: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0]),
    bitsStored: 8,
    signed: false,
  };
  const rgbInput: ManifestInput = { ...BASE, crop: 'center-square' };

  it('RGB with channels 1 becomes BT.601 luma (0.299 R + 0.587 G + 0.114 B)', async () => {
    const { tensor, intensityUsed } = await preprocessForModel(rgb, WINDOW_0_255, rgbInput);
    expectClose(tensor, [0.299, 0.587, 1, 0]);
    expect(intensityUsed).toMatchObject({
      colour: 'rgb-to-luma',
      voiUsed: { kind: 'none' },
      inverted: false,
    });
  });

  it('RGB with channels 3 keeps R, G and B', async () => {
    const { tensor, intensityUsed } = await preprocessForModel(rgb, WINDOW_0_255, {
      ...rgbInput,
      channels: 3,
      layout: 'NCHW',
    });
    expectClose(tensor, [1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0]);
    expect(intensityUsed.colour).toBe('rgb');
  });

  it('concurrent calls in one thread do not share a frame buffer', async () => {
    // Portrait frames: the centre square is a view of the rendered frame that sharp reads
    // asynchronously, so a buffer lent to two calls at once would mix their images.
    const input: ManifestInput = { ...BASE, size: 16, crop: 'center-square', resize: 'bilinear' };
    const frames = [0, 1, 2].map((k) =>
      mono(
        64,
        80,
        Array.from({ length: 64 * 80 }, (_, i) => (i * (k + 1) * 7) % 256),
      ),
    );
    const sequential: Float32Array[] = [];
    for (const frame of frames)
      sequential.push((await preprocessForModel(frame, WINDOW_0_255, input)).tensor);
    const concurrent = await Promise.all(
      frames.map((frame) => preprocessForModel(frame, WINDOW_0_255, input)),
    );
    concurrent.forEach((result, k) => {
      expect(result.tensor).toEqual(sequential[k]);
    });
    expect(sequential[0]).not.toEqual(sequential[1]);
  });

  it('resize filter names agree with the manifest schema', () => {
    expect([...MANIFEST_RESIZE_FILTERS]).toEqual([...RESIZE_FILTERS]);
  });
});

describe('preprocessForModel on public files', () => {
  it('a MONOCHROME1 header gives the inverse tensor of the same MONOCHROME2 pixels', async () => {
    // siim_fake_mono1.dcm is siim_cr_jpegbaseline.dcm with only the header changed (PS3.3
    // C.7.6.3.1.2: MONOCHROME1 means low values are bright), so bright = dense requires 1 - x.
    const input: ManifestInput = {
      ...BASE,
      size: 32,
      crop: 'center-square',
      resize: 'bilinear',
      intensity: { method: 'min-max' },
    };
    const [mono2, mono1] = await Promise.all(
      ['siim_cr_jpegbaseline.dcm', 'siim_fake_mono1.dcm'].map(async (name) => {
        const { frame, info } = await decodeFrame(await readFile(publicDicomPath(name)));
        return preprocessForModel(frame, info, input);
      }),
    );
    expect(mono1!.intensityUsed.inverted).toBe(true);
    expect(mono2!.intensityUsed.inverted).toBe(false);
    expectClose(
      mono1!.tensor,
      Array.from(mono2!.tensor, (x) => 1 - x),
      1e-4,
    );
    // Not a constant image: the comparison above means something.
    expect(Math.max(...mono2!.tensor) - Math.min(...mono2!.tensor)).toBeGreaterThan(0.5);
  });
});

describe('packBatch', () => {
  const input: ManifestInput = { ...BASE, channels: 3 };

  it('concatenates images in order', () => {
    const a = Float32Array.from({ length: 12 }, (_, i) => i);
    const b = Float32Array.from({ length: 12 }, (_, i) => 100 + i);
    const batch = packBatch([a, b], input);
    expect(modelInputLength(input)).toBe(12);
    expect(batch.length).toBe(24);
    expect(Array.from(batch.subarray(0, 12))).toEqual(Array.from(a));
    expect(Array.from(batch.subarray(12))).toEqual(Array.from(b));
  });

  it('rejects a tensor of the wrong length and an empty batch', () => {
    expect(() => packBatch([new Float32Array(12), new Float32Array(4)], input)).toThrow(
      /image 1 has 4 values, expected 12/,
    );
    expect(() => packBatch([], input)).toThrow(RangeError);
  });
});
