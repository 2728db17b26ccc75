import { decodeFrame, renderToDisplay } from '@cxr/dicom';
import { writeNativeImage } from '@cxr/dicom/testing';
import type { ManifestInput } from '@cxr/model/manifest';
import { describe, expect, it } from 'vitest';

import { runDecodeTask } from './decode-task.js';
import type { DecodeOutput } from './decode-task.js';
import {
  borrowFrameBuffer,
  borrowSampleCache,
  returnFrameBuffer,
  returnSampleCache,
} from './frame-buffers.js';
import { resizeGray } from './resize.js';
import { gradientSamples, writeNativeDicom } from './testing/native-dicom.js';

const mono = writeNativeDicom({
  rows: 48,
  columns: 40,
  bitsStored: 12,
  samples: gradientSamples(48, 40, 12),
  window: { center: 2000, width: 3000 },
});
const otherMono = writeNativeDicom({
  rows: 30,
  columns: 64,
  bitsStored: 10,
  samples: gradientSamples(30, 64, 10).map((v, i) => (v * 7 + i) & 0x3ff),
  photometric: 'MONOCHROME1',
});
const rgbSamples = Uint8Array.from({ length: 20 * 24 * 3 }, (_, i) => (i * 37 + (i >> 4)) & 0xff);
const rgb = writeNativeImage({
  rows: 20,
  columns: 24,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
  pixelRepresentation: 0,
  photometricInterpretation: 'RGB',
  samples: rgbSamples,
});

const model: ManifestInput = {
  size: 16,
  channels: 3,
  layout: 'NCHW',
  crop: 'center-square',
  resize: 'bilinear',
  intensity: { method: 'dicom-window' },
  normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};
const outputs: readonly DecodeOutput[] = [
  'modality',
  'display',
  { resize: { size: 12 } },
  { model, accept: null },
];

describe('frame buffer lending', () => {
  it('lends the kept full-frame buffer to one borrower at a time', () => {
    const first = borrowFrameBuffer(1000);
    returnFrameBuffer(first);
    const again = borrowFrameBuffer(900);
    expect(again).toBe(first);
    // While it is out, another borrower gets a fresh array.
    const other = borrowFrameBuffer(900);
    expect(other).not.toBe(first);
    returnFrameBuffer(again);
    returnFrameBuffer(other);
  });

  it('lends the thread sample cache to one task at a time', () => {
    const cache = borrowSampleCache();
    expect(cache).toBeDefined();
    expect(borrowSampleCache()).toBeUndefined();
    returnSampleCache(cache!);
    expect(borrowSampleCache()).toBe(cache);
    returnSampleCache(cache!);
  });
});

describe('runDecodeTask with reused buffers', () => {
  it('gives the same results sequentially, interleaved across images, and concurrently in one thread', async () => {
    const images = [mono, otherMono, rgb];
    const tasks = images.flatMap((bytes) => outputs.map((output) => ({ bytes, output })));
    const reference: number[][] = [];
    for (const task of tasks) {
      reference.push(Array.from((await runDecodeTask(task.bytes, { output: task.output })).pixels));
    }
    // Again in reverse (different sizes and sample types back to back through the same buffers).
    for (let i = tasks.length - 1; i >= 0; i--) {
      const result = await runDecodeTask(tasks[i]!.bytes, { output: tasks[i]!.output });
      expect(Array.from(result.pixels), `task ${i}`).toEqual(reference[i]);
    }
    // All at once: only one task can hold the thread's buffers, the others must allocate.
    const concurrent = await Promise.all(
      tasks.map((task) => runDecodeTask(task.bytes, { output: task.output })),
    );
    concurrent.forEach((result, i) => {
      expect(Array.from(result.pixels), `task ${i}`).toEqual(reference[i]);
    });
  });

  it('resizes RGB through BT.601 luma exactly as a fresh render would', async () => {
    const { frame, info } = await decodeFrame(rgb);
    const rendered = renderToDisplay(frame, info);
    const luma = new Float32Array(frame.rows * frame.columns);
    for (let i = 0; i < luma.length; i++) {
      const v = rendered.values;
      luma[i] = 0.299 * v[i * 3]! + 0.587 * v[i * 3 + 1]! + 0.114 * v[i * 3 + 2]!;
    }
    const expected = await resizeGray(luma, frame.columns, frame.rows, 10, 'bilinear');
    for (let round = 0; round < 2; round++) {
      const result = await runDecodeTask(rgb, { output: { resize: { size: 10 } } });
      expect(Array.from(result.pixels)).toEqual(Array.from(expected));
    }
  });

  it("never hands out reused memory for 'stored' output", async () => {
    const a = await runDecodeTask(otherMono, { output: 'stored' });
    const handedOut = Array.from(a.pixels);
    // Later decodes on this thread, which reuse its buffers, leave what was handed out intact...
    for (const bytes of [mono, rgb, otherMono]) {
      for (const output of outputs) await runDecodeTask(bytes, { output });
    }
    expect(Array.from(a.pixels)).toEqual(handedOut);
    // ...because it is either a view of the caller's own file bytes (native data with nothing to
    // mask) or memory of its own, never a buffer of the thread's.
    const b = await runDecodeTask(otherMono, { output: 'stored' });
    expect(Array.from(b.pixels)).toEqual(handedOut);
    if (a.pixels.buffer !== otherMono.buffer) expect(a.pixels.buffer).not.toBe(b.pixels.buffer);
  });
});
