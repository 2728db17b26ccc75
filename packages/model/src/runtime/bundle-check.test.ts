import { describe, expect, it } from 'vitest';
import type { ManifestInput } from '../manifest.js';
import { checkGraphInput } from './bundle-check.js';

const INPUT: ManifestInput = {
  size: 224,
  channels: 1,
  layout: 'NCHW',
  crop: 'center-square',
  resize: 'bilinear',
  intensity: { method: 'bits-stored' },
  normalization: { method: 'xrv' },
};

describe('checkGraphInput', () => {
  it('accepts dynamic height and width (the manifest fixes the size), in either layout', () => {
    expect(() => {
      checkGraphInput('b', INPUT, ['batch', 1, 'height', 'width']);
      checkGraphInput('b', INPUT, [null, 1, null, null]);
      checkGraphInput('b', INPUT, [-1, 1, -1, 224]);
      checkGraphInput('b', { ...INPUT, layout: 'NHWC', channels: 3 }, ['batch', 'h', 'w', 3]);
    }).not.toThrow();
  });

  it('still refuses a dynamic or different channel count and a different fixed size', () => {
    expect(() => {
      checkGraphInput('b', INPUT, ['batch', 'channels', 224, 224]);
    }).toThrow(
      'b: graph input [batch,channels,224,224] does not match manifest.input (size 224, channels 1, layout NCHW => [batch,1,224,224])',
    );
    expect(() => {
      checkGraphInput('b', INPUT, ['batch', 1, 'height', 256]);
    }).toThrow('does not match manifest.input');
    // NHWC's spatial dims are 1 and 2: a dynamic last dim is the channels, not the width.
    expect(() => {
      checkGraphInput('b', { ...INPUT, layout: 'NHWC' }, ['batch', 224, 224, 'c']);
    }).toThrow('does not match manifest.input');
  });
});
