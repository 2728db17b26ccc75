import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import { decodeJpegLs } from './jpeg-ls.js';
import {
  decodeWithTool,
  encodeWithTool,
  firstMismatch,
  firstFrameCodestream,
  frameInfoOf,
  codecPhantoms,
  maxAbsDiff,
  readPublicDicom,
  scratchDir,
  type ParsedPart10,
  type NativeImage,
} from '../testing/index.js';

const scratch = scratchDir();
afterAll(() => {
  scratch.cleanup();
});

const phantoms = {
  ...codecPhantoms(),
} satisfies Record<string, NativeImage>;

describe('decodeJpegLs (CharLS wasm)', () => {
  const encoded = new Map<string, ParsedPart10>();
  beforeAll(() => {
    for (const [name, image] of Object.entries(phantoms)) {
      encoded.set(name, encodeWithTool(scratch, name, image, 'dcmcjpls', []));
    }
    // Colour in every JPEG-LS interleave mode (ISO/IEC 14495-1 B.3): none is planar in CharLS.
    encoded.set('rgb8-none', encodeWithTool(scratch, 'rgb8-none', phantoms.rgb8, 'dcmcjpls', ['+in']));
    encoded.set('rgb8-sample', encodeWithTool(scratch, 'rgb8-sample', phantoms.rgb8, 'dcmcjpls', ['+is']));
    encoded.set('near3', encodeWithTool(scratch, 'near3', phantoms.mono12, 'dcmcjpls', ['+en', '+md', '3']));
  });

  it.each([
    ['mono12', phantoms.mono12, Uint16Array],
    ['mono16', phantoms.mono16, Uint16Array],
    ['mono8', phantoms.mono8, Uint8Array],
    ['rgb8', phantoms.rgb8, Uint8Array],
    ['rgb8-none', phantoms.rgb8, Uint8Array],
    ['rgb8-sample', phantoms.rgb8, Uint8Array],
  ] as const)('decodes lossless %s exactly', async (name, image, arrayType) => {
    const parsed = encoded.get(name)!;
    expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.80');
    const out = await decodeJpegLs(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(out.samples).toBeInstanceOf(arrayType);
    expect(out.planar).toBe(false);
    expect(out.colorSpace).toBe('as-stored');
    expect(firstMismatch(out.samples, image.samples)).toBe(-1);
  });

  it('decodes near-lossless within NEAR and exactly as dcmdjpls does', async () => {
    const parsed = encoded.get('near3')!;
    expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.81');
    const out = await decodeJpegLs(firstFrameCodestream(parsed), frameInfoOf(parsed));
    const diff = maxAbsDiff(out.samples, phantoms.mono12.samples);
    expect(diff).toBeGreaterThan(0); // really lossy, so the test can see a lossless fallback
    expect(diff).toBeLessThanOrEqual(3);
    const reference = decodeWithTool(scratch, scratch.path('near3.enc.dcm'), 'near3', 'dcmdjpls', []);
    expect(firstMismatch(out.samples, reference)).toBe(-1);
  });

  it('decodes the public 16-bit palette JPEG-LS file exactly as dcmdjpls does', async () => {
    const { path, parsed } = readPublicDicom('other_TestPattern_Palette_16.jpeg_ls_lossless.dcm');
    const out = await decodeJpegLs(firstFrameCodestream(parsed), frameInfoOf(parsed));
    const reference = decodeWithTool(scratch, path, 'palette16', 'dcmdjpls', []);
    expect(out.samples.length).toBe(parsed.rows * parsed.columns);
    expect(firstMismatch(out.samples, reference)).toBe(-1);
  });

  it('rejects a frame whose size disagrees with the Image Pixel module', async () => {
    const parsed = encoded.get('mono12')!;
    const info = { ...frameInfoOf(parsed), rows: parsed.rows + 1 };
    await expect(decodeJpegLs(firstFrameCodestream(parsed), info)).rejects.toMatchObject({
      reason: 'corrupt_stream',
    });
    const rgbInfo = { ...frameInfoOf(parsed), samplesPerPixel: 3 as const };
    await expect(decodeJpegLs(firstFrameCodestream(parsed), rgbInfo)).rejects.toBeInstanceOf(
      DicomRejectedError,
    );
  });

  it('rejects truncated, random and empty codestreams with corrupt_stream', async () => {
    const parsed = encoded.get('mono12')!;
    const stream = firstFrameCodestream(parsed);
    const info = frameInfoOf(parsed);
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    for (const bad of [
      stream.subarray(0, stream.length >> 1),
      stream.subarray(0, 40),
      random,
      new Uint8Array(0),
    ]) {
      const error: unknown = await decodeJpegLs(bad, info).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DicomRejectedError);
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
      expect((error as DicomRejectedError).message).not.toMatch(/\n|\bat /);
    }
    // The decoder still works after the failures.
    const ok = await decodeJpegLs(stream, info);
    expect(firstMismatch(ok.samples, phantoms.mono12.samples)).toBe(-1);
  });
});
