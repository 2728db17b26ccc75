// A synthetic radiograph for smoke tests of a model bundle (`cxr model import` runs one image
// through a new bundle; without a test image it uses this one): no file, no patient.
import type { DecodedFrame, DicomImageInfo } from '@cxr/dicom';
import type { ManifestInput } from '@cxr/model/manifest';

import { preprocessForModel } from './preprocess.js';

const ROWS = 384;
const COLUMNS = 320;
const BITS = 12;

/**
 * A 12-bit MONOCHROME2 portrait frame (320 x 384, so a centre crop has work to do) shaped like a
 * chest film: bright body, two dark lung fields, a bright mediastinum, a smooth vertical
 * gradient. Deterministic; the file-like attributes carry a full-range VOI window.
 */
export function syntheticRadiograph(): {
  frame: DecodedFrame;
  info: Pick<DicomImageInfo, 'modalityLut' | 'voi'>;
} {
  const max = 2 ** BITS - 1;
  const samples = new Uint16Array(ROWS * COLUMNS);
  for (let y = 0; y < ROWS; y++) {
    const v = y / (ROWS - 1);
    for (let x = 0; x < COLUMNS; x++) {
      const u = x / (COLUMNS - 1);
      let value = 0.55 + 0.25 * v;
      for (const centre of [0.3, 0.7]) {
        // Elliptic lung fields, darker towards their middle.
        const d = ((u - centre) / 0.17) ** 2 + ((v - 0.45) / 0.3) ** 2;
        if (d < 1) value -= 0.4 * (1 - d);
      }
      if (Math.abs(u - 0.5) < 0.06 && v > 0.2 && v < 0.8) value += 0.15;
      samples[y * COLUMNS + x] = Math.round(Math.min(1, Math.max(0, value)) * max);
    }
  }
  return {
    frame: {
      rows: ROWS,
      columns: COLUMNS,
      samplesPerPixel: 1,
      photometricInterpretation: 'MONOCHROME2',
      samples,
      bitsStored: BITS,
      signed: false,
    },
    info: {
      modalityLut: { kind: 'identity' },
      voi: { windows: [{ center: 2048, width: 4096 }], function: 'LINEAR', tables: [] },
    },
  };
}

/** The input tensor of syntheticRadiograph() for a model's `input` block (preprocessForModel). */
export async function syntheticModelInput(input: ManifestInput): Promise<Float32Array> {
  const { frame, info } = syntheticRadiograph();
  return (await preprocessForModel(frame, info, input)).tensor;
}
