/**
 * Model inputs of native 12-bit frames decoded with the high-bit check deferred to the fused box
 * pass (decodeResolution 'auto'): with or without overlay bits above Bits Stored, tensor and
 * drift features are exactly those of the ordinary decode (masked first) through the same path.
 */
import { decodeFrame } from '@cxr/dicom';
import type { ManifestInput } from '@cxr/model/manifest';
import { describe, expect, it } from 'vitest';
import { runDecodeTask } from './decode-task.js';
import { imageFeatures } from './image-features.js';
import { preprocessForModel } from './preprocess.js';
import { writeNativeDicom } from './testing/native-dicom.js';

function cr(rows: number, columns: number, overlay: boolean, window: boolean): Uint8Array {
  const samples = Uint16Array.from({ length: rows * columns }, (_, i) => {
    const value = (i * 37 + (i >> 9) * 11) % 4096;
    return overlay && i % 5 === 0 ? value | 0xf000 : value;
  });
  return writeNativeDicom({
    rows,
    columns,
    bitsStored: 12,
    samples,
    ...(window ? { window: { center: 1800, width: 2600 } } : {}),
  });
}

const input = (size: number, crop: ManifestInput['crop']): ManifestInput => ({
  size,
  channels: 3,
  layout: 'NCHW',
  crop,
  resize: 'bilinear',
  intensity: { method: 'dicom-window' },
  normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
});

describe('model input of frames whose high-bit check is deferred', () => {
  it.each([
    ['fused pass with sums (file window, whole frame)', 400, 512, true, 100, 'none'],
    ['fused pass with the histogram (no window)', 400, 512, false, 100, 'none'],
    ['fused pass over a region (centre square: a scan)', 400, 512, true, 100, 'center-square'],
    ['no box step (input as large as the frame)', 300, 256, true, 256, 'none'],
  ] as const)(
    '%s: the ordinary tensor and features, overlay bits or not',
    async (_name, rows, columns, window, size, crop) => {
      for (const overlay of [false, true]) {
        const bytes = cr(rows, columns, overlay, window);
        const model = input(size, crop);
        const deferred = await runDecodeTask(bytes, { output: { model, accept: null } });
        const { info, frame } = await decodeFrame(bytes);
        const ordinary = await preprocessForModel(frame, info, model);
        expect(deferred.pixels).toEqual(ordinary.tensor);
        const features = imageFeatures(frame, info.modalityLut);
        expect(deferred.features?.imageMean).toBeCloseTo(features.imageMean, 9);
        expect(deferred.features?.imageStd).toBeCloseTo(features.imageStd, 9);
      }
    },
  );
});
