import { afterAll, describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import { decodeHtj2k } from './htj2k.js';
import { decodeJpeg2000, readJ2kMainHeader } from './jpeg2000.js';
import {
  encodeHtj2k,
  encodeWithTool,
  firstFrameCodestream,
  firstMismatch,
  frameInfoOf,
  codecPhantoms,
  makePhantom,
  maxAbsDiff,
  scratchDir,
} from '../testing/index.js';

const scratch = scratchDir();
afterAll(() => {
  scratch.cleanup();
});

const phantoms = {
  ...codecPhantoms(),
  signed12: makePhantom({ rows: 257, columns: 301, bitsStored: 12, signed: true, seed: 5 }),
};

describe('decodeHtj2k (OpenJPH wasm)', () => {
  it.each([
    ['mono12', Uint16Array],
    ['mono16', Uint16Array],
    ['mono8', Uint8Array],
    ['signed12', Int16Array],
  ] as const)('decodes lossless %s exactly', async (name, arrayType) => {
    const image = phantoms[name];
    const stream = await encodeHtj2k(image);
    expect(readJ2kMainHeader(stream)?.htj2k).toBe(true);
    const out = await decodeHtj2k(stream, frameInfoOf(image));
    expect(out.samples).toBeInstanceOf(arrayType);
    expect(out.colorSpace).toBe('as-stored');
    expect(firstMismatch(out.samples, image.samples)).toBe(-1);
  });

  it('undoes the colour transform of an RGB stream and reports RGB', async () => {
    const stream = await encodeHtj2k(phantoms.rgb8);
    const out = await decodeHtj2k(stream, {
      ...frameInfoOf(phantoms.rgb8),
      photometricInterpretation: 'YBR_RCT',
    });
    expect(out.colorSpace).toBe('RGB');
    expect(out.planar).toBe(false);
    expect(firstMismatch(out.samples, phantoms.rgb8.samples)).toBe(-1);
  });

  it('decodes a lossy stream as OpenJPEG does (max abs diff <= 1)', async () => {
    const stream = await encodeHtj2k(phantoms.mono12, { quantizationStep: 0.005 });
    const info = frameInfoOf(phantoms.mono12);
    const out = await decodeHtj2k(stream, info);
    expect(maxAbsDiff(out.samples, phantoms.mono12.samples)).toBeGreaterThan(1); // really lossy
    const reference = await decodeJpeg2000(stream, info); // OpenJPEG reads Part 15 too
    expect(maxAbsDiff(out.samples, reference.samples)).toBeLessThanOrEqual(1);
  });

  it('routes a classic JPEG 2000 stream in an HTJ2K syntax to OpenJPEG instead of returning nothing', async () => {
    const parsed = encodeWithTool(scratch, 'classic', phantoms.mono12, 'gdcmconv', ['--j2k']);
    const stream = firstFrameCodestream(parsed);
    expect(readJ2kMainHeader(stream)?.htj2k).toBe(false);
    const out = await decodeHtj2k(stream, frameInfoOf(parsed));
    expect(firstMismatch(out.samples, phantoms.mono12.samples)).toBe(-1);
  });

  it('rejects mismatching frame info, truncated, random and empty streams with corrupt_stream', async () => {
    const stream = await encodeHtj2k(phantoms.mono12);
    const info = frameInfoOf(phantoms.mono12);
    await expect(decodeHtj2k(stream, { ...info, rows: info.rows - 1 })).rejects.toMatchObject({
      reason: 'corrupt_stream',
    });
    await expect(decodeHtj2k(stream, { ...info, samplesPerPixel: 3 })).rejects.toMatchObject({
      reason: 'corrupt_stream',
    });
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    const header = stream.subarray(0, 80);
    for (const bad of [stream.subarray(0, stream.length >> 1), header, random, new Uint8Array(0)]) {
      const error: unknown = await decodeHtj2k(bad, info).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DicomRejectedError);
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
      expect((error as DicomRejectedError).message).not.toContain('\n');
    }
    const ok = await decodeHtj2k(stream, info);
    expect(firstMismatch(ok.samples, phantoms.mono12.samples)).toBe(-1);
  });
});
