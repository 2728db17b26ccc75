// decodeResolution 'auto' (the manifest default) against 'full' (every image decoded and rendered
// at full resolution first): on real CRs from the public set and on generated ones, the model
// input and a DenseNet's outputs must stay within the tolerances documented in docs/decoding.md,
// and a reduced JPEG 2000 / HTJ2K / JPEG DCT frame must never be smaller than the model input.
import { readFileSync } from 'node:fs';

import { decodeFrame, TransferSyntax } from '@cxr/dicom';
import {
  encodeHtj2k,
  encodeJ2kWithOpenJpeg,
  encodeWithTool,
  generateChestPhantom,
  imagePixelElements,
  publicDicomPath,
  scratchDir,
  writeDicom,
} from '@cxr/dicom/testing';
import { buildDenseNetClassifier } from '@cxr/model';
import type { ManifestInput } from '@cxr/model/manifest';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runDecodeTask } from './decode-task.js';

/** Tolerances of 'auto' against 'full', stated in docs/decoding.md. */
const INPUT_MEAN_ABS = 0.015; // mean |difference| of the [0,1] model input
const INPUT_P99_ABS = 0.08; // 99th percentile of |difference|
const OUTPUT_ABS = 0.02; // each softmax output

const UNIT_INPUT: ManifestInput = {
  size: 224,
  channels: 1,
  layout: 'NCHW',
  crop: 'none',
  resize: 'bilinear',
  intensity: { method: 'dicom-window' },
  normalization: { method: 'unit' },
};

async function tensors(
  bytes: Uint8Array,
  input: ManifestInput,
): Promise<{ auto: Float32Array; full: Float32Array; level: number | undefined }> {
  const auto = await runDecodeTask(bytes, { output: { model: input, accept: null } });
  const full = await runDecodeTask(bytes, {
    output: { model: { ...input, decodeResolution: 'full' }, accept: null },
  });
  // Unset means 'auto': the default must be the fast path.
  const explicit = await runDecodeTask(bytes, {
    output: { model: { ...input, decodeResolution: 'auto' }, accept: null },
  });
  expect(explicit.pixels).toEqual(auto.pixels);
  expect(full.resolutionLevel).toBeUndefined();
  return { auto: auto.pixels, full: full.pixels, level: auto.resolutionLevel };
}

function differences(a: Float32Array, b: Float32Array): { mean: number; p99: number } {
  expect(a.length).toBe(b.length);
  const d = Array.from(a, (v, i) => Math.abs(v - b[i]!)).sort((x, y) => x - y);
  return { mean: d.reduce((s, v) => s + v, 0) / d.length, p99: d[Math.floor(d.length * 0.99)]! };
}

function nativeCr(rows: number, columns: number, seed: number): { bytes: Uint8Array; samples: Uint16Array } {
  const samples = generateChestPhantom({ rows, columns, seed, bitsStored: 12, opacities: true });
  const pixel = { rows, columns, bitsAllocated: 16 as const, bitsStored: 12, modality: 'CR' };
  const bytes = writeDicom([
    ...imagePixelElements(pixel),
    { tag: 0x7fe00010, vr: 'OW', value: new Uint8Array(samples.buffer) },
  ]);
  return { bytes, samples };
}

function encapsulatedCr(rows: number, columns: number, codestream: Uint8Array, ts: string): Uint8Array {
  const pixel = { rows, columns, bitsAllocated: 16 as const, bitsStored: 12, modality: 'CR' };
  return writeDicom(
    [
      ...imagePixelElements(pixel),
      { tag: 0x7fe00010, vr: 'OB', value: { kind: 'encapsulated', frames: [[codestream]] } },
    ],
    { transferSyntaxUid: ts },
  );
}

describe("decodeResolution 'auto' against 'full'", () => {
  // A small DenseNet (the seed architecture with fewer blocks), seeded, 3 softmax outputs, on the
  // 224 input replicated to 3 channels and ImageNet-normalized as the seed model's input is.
  let model: tf.LayersModel;
  const predict = (unit: Float32Array): number[] => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const pixels = 224 * 224;
    const input = new Float32Array(3 * pixels);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < pixels; i++) input[c * pixels + i] = (unit[i]! - mean[c]!) / std[c]!;
    return tf.tidy(() => {
      const x = tf.tensor4d(input, [1, 3, 224, 224]).transpose([0, 2, 3, 1]);
      return Array.from((model.predict(x) as tf.Tensor).dataSync());
    });
  };
  const generated: { name: string; bytes: Uint8Array }[] = [];
  const scratch = scratchDir('cxr-decode-resolution-');

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = buildDenseNetClassifier({
      inputSize: 224,
      channels: 3,
      blocks: [1, 2, 2, 1],
      seed: 16,
      outputs: 3,
      activation: 'softmax',
      headUnits: 32,
    });
    const rows = 1800;
    const columns = 1500;
    const { bytes, samples } = nativeCr(rows, columns, 5);
    const image = {
      rows,
      columns,
      bitsAllocated: 16 as const,
      bitsStored: 12,
      samplesPerPixel: 1 as const,
      samples,
    };
    generated.push({ name: 'generated explicit VR LE', bytes });
    generated.push({
      name: 'generated JPEG 2000',
      bytes: encapsulatedCr(
        rows,
        columns,
        await encodeJ2kWithOpenJpeg(image as never),
        TransferSyntax.Jpeg2000Lossless,
      ),
    });
    generated.push({
      name: 'generated HTJ2K',
      bytes: encapsulatedCr(rows, columns, await encodeHtj2k(image as never), TransferSyntax.Htj2kLossless),
    });
    // JPEG extended 12-bit (dcmtk's encoder, quality 90): decoded at a reduced DCT scale.
    encodeWithTool(scratch, 'jpeg-extended', image as never, 'dcmcjpeg', ['+ee', '+q', '90'], '.jpg.dcm');
    generated.push({
      name: 'generated JPEG extended',
      bytes: new Uint8Array(readFileSync(scratch.path('jpeg-extended.jpg.dcm'))),
    });
  }, 120_000);

  afterAll(() => {
    model.dispose();
    scratch.cleanup();
  });

  const real = [
    'philips_cr_rg1_j2ki.dcm', // JPEG 2000, 1841x1955, 15-bit
    'fo_CR-ModalitySequenceLUT.dcm', // JPEG lossless, 1976x1576, Modality LUT Sequence
    'siim_cr_jpegbaseline.dcm', // JPEG baseline, 1024x1024, 8-bit
    'nih_dx_implicit.dcm', // implicit VR LE, 1024x1024
  ];

  for (const name of real) {
    it(`${name}: model input and outputs within tolerance at 224 and 512`, { timeout: 120_000 }, async () => {
      const bytes = new Uint8Array(readFileSync(publicDicomPath(name)));
      for (const size of [224, 512]) {
        const { auto, full, level } = await tensors(bytes, { ...UNIT_INPUT, size });
        const d = differences(auto, full);
        expect(d.mean).toBeLessThanOrEqual(INPUT_MEAN_ABS);
        expect(d.p99).toBeLessThanOrEqual(INPUT_P99_ABS);
        if (name.includes('j2k')) expect(level).toBeGreaterThan(0);
        if (size === 224) {
          const a = predict(auto);
          const f = predict(full);
          for (let i = 0; i < 3; i++) expect(Math.abs(a[i]! - f[i]!)).toBeLessThanOrEqual(OUTPUT_ABS);
        }
      }
    });
  }

  it(
    'generated CRs: explicit VR LE, JPEG 2000, HTJ2K and JPEG extended within tolerance; outputs differ between images',
    { timeout: 240_000 },
    async () => {
      const outputs: number[][] = [];
      for (const { name, bytes } of generated) {
        const { auto, full, level } = await tensors(bytes, UNIT_INPUT);
        const d = differences(auto, full);
        expect(d.mean, name).toBeLessThanOrEqual(INPUT_MEAN_ABS);
        expect(d.p99, name).toBeLessThanOrEqual(INPUT_P99_ABS);
        if (name !== 'generated explicit VR LE') expect(level, name).toBe(2); // 1500x1800 -> 375x450 >= 224
        const a = predict(auto);
        const f = predict(full);
        for (let i = 0; i < 3; i++) expect(Math.abs(a[i]! - f[i]!), name).toBeLessThanOrEqual(OUTPUT_ABS);
        outputs.push(f);
      }
      // The comparison means something: a different image moves the outputs by more than it.
      const other = nativeCr(1800, 1500, 99);
      const { full } = await tensors(other.bytes, UNIT_INPUT);
      const o = predict(full);
      const moved = Math.max(...o.map((v, i) => Math.abs(v - outputs[0]![i]!)));
      expect(moved).toBeGreaterThan(OUTPUT_ABS);
    },
  );

  it('a reduced JPEG 2000 / HTJ2K / JPEG DCT frame is never smaller than the model input', async () => {
    for (const { name, bytes } of generated.slice(1)) {
      for (const size of [224, 375, 376, 512, 900, 1500]) {
        const { frame } = await decodeFrame(bytes, { minSize: { columns: size, rows: size } });
        expect(frame.columns, `${name} at ${size}`).toBeGreaterThanOrEqual(size);
        expect(frame.rows, `${name} at ${size}`).toBeGreaterThanOrEqual(size);
        // As deep as allowed: one level further would be smaller than the input (or is not in the
        // stream: 5 levels in these J2K streams, 1/8 at most for DCT).
        const level = frame.resolutionLevel ?? 0;
        const deepest = name.includes('JPEG extended') ? 3 : 5;
        expect(Math.ceil(1500 / 2 ** (level + 1)) < size || level === deepest, `${name} at ${size}`).toBe(
          true,
        );
      }
    }
    const { frame } = await decodeFrame(generated[1]!.bytes);
    expect([frame.columns, frame.rows, frame.resolutionLevel]).toEqual([1500, 1800, undefined]);
  });
});
