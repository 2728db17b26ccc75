import type { ManifestInput } from '@cxr/model/manifest';
import { describe, expect, it } from 'vitest';

import { syntheticModelInput, syntheticRadiograph } from './synthetic.js';

const XRV: ManifestInput = {
  size: 64,
  channels: 1,
  layout: 'NCHW',
  crop: 'center-square',
  resize: 'bilinear',
  intensity: { method: 'bits-stored' },
  normalization: { method: 'xrv' },
};

describe('synthetic radiograph', () => {
  it('is a portrait 12-bit MONOCHROME2 frame with dark lung fields and a bright body', () => {
    const { frame } = syntheticRadiograph();
    expect(frame).toMatchObject({
      rows: 384,
      columns: 320,
      bitsStored: 12,
      photometricInterpretation: 'MONOCHROME2',
    });
    const at = (x: number, y: number): number =>
      frame.samples[Math.round(y * 383) * 320 + Math.round(x * 319)]!;
    expect(at(0.3, 0.45)).toBeLessThan(at(0.05, 0.45));
    expect(at(0.5, 0.45)).toBeGreaterThan(at(0.3, 0.45));
  });

  it('becomes a deterministic model input of the manifest shape, with structure, in the model range', async () => {
    const a = await syntheticModelInput(XRV);
    const b = await syntheticModelInput(XRV);
    expect(a).toEqual(b);
    expect(a.length).toBe(64 * 64);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1024);
    expect(Math.max(...a)).toBeLessThanOrEqual(1024);
    expect(Math.max(...a) - Math.min(...a)).toBeGreaterThan(500);
    const rgb = await syntheticModelInput({
      ...XRV,
      channels: 3,
      normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    });
    expect(rgb.length).toBe(3 * 64 * 64);
  });
});
