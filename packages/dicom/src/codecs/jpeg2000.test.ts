import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import { decodeJpeg2000, readJ2kMainHeader, reducedLevel } from './jpeg2000.js';
import {
  decodeWithTool,
  encodeHtj2k,
  encodeJ2kWithOpenJpeg,
  encodeWithTool,
  firstFrameCodestream,
  firstMismatch,
  frameInfoOf,
  codecPhantoms,
  maxAbsDiff,
  readPublicDicom,
  scratchDir,
  type ParsedPart10,
} from '../testing/index.js';

const scratch = scratchDir();
afterAll(() => {
  scratch.cleanup();
});

const phantoms = {
  ...codecPhantoms(),
};

/** gdcm's own (OpenJPEG) decode of a file, as the reference for lossy streams. */
function gdcmDecode(path: string, name: string): ArrayLike<number> & object {
  return decodeWithTool(scratch, path, name, 'gdcmconv', ['--raw']);
}

describe('decodeJpeg2000 (OpenJPEG wasm)', () => {
  const lossless = new Map<string, ParsedPart10>();
  const lossy = new Map<string, ParsedPart10>();
  beforeAll(() => {
    for (const [name, image] of Object.entries(phantoms)) {
      lossless.set(name, encodeWithTool(scratch, name, image, 'gdcmconv', ['--j2k']));
    }
    // `-q 40` writes a broken file with this gdcm (DEPENDENCY_NOTES.md); a rate of 10 works.
    for (const name of ['mono12', 'rgb8'] as const) {
      lossy.set(
        name,
        encodeWithTool(scratch, `${name}-lossy`, phantoms[name], 'gdcmconv', [
          '--j2k',
          '--lossy',
          '-r',
          '10',
        ]),
      );
    }
  });

  it.each([
    ['mono12', Uint16Array],
    ['mono16', Uint16Array],
    ['mono8', Uint8Array],
  ] as const)('decodes lossless %s exactly', async (name, arrayType) => {
    const parsed = lossless.get(name)!;
    expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.90');
    const out = await decodeJpeg2000(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(out.samples).toBeInstanceOf(arrayType);
    expect(out.colorSpace).toBe('as-stored');
    expect(firstMismatch(out.samples, phantoms[name].samples)).toBe(-1);
  });

  it('keeps the RGB stream gdcm writes (written without MCT) as stored', async () => {
    const parsed = lossless.get('rgb8')!;
    const stream = firstFrameCodestream(parsed);
    expect(readJ2kMainHeader(stream)).toMatchObject({ mct: false, components: 3, htj2k: false });
    const out = await decodeJpeg2000(stream, frameInfoOf(parsed));
    expect(out.colorSpace).toBe('as-stored');
    expect(out.planar).toBe(false);
    expect(firstMismatch(out.samples, phantoms.rgb8.samples)).toBe(-1);
  });

  it('undoes the reversible colour transform of an MCT stream (PS3.5 8.2.4)', async () => {
    const stream = await encodeJ2kWithOpenJpeg(phantoms.rgb8);
    expect(readJ2kMainHeader(stream)).toMatchObject({ mct: true, components: 3, htj2k: false });
    for (const photometric of ['YBR_RCT', 'RGB']) {
      const info = { ...frameInfoOf(phantoms.rgb8), photometricInterpretation: photometric };
      const out = await decodeJpeg2000(stream, info);
      expect(out.colorSpace).toBe('RGB');
      expect(firstMismatch(out.samples, phantoms.rgb8.samples)).toBe(-1);
    }
  });

  it.each(['mono12', 'rgb8'] as const)('decodes lossy %s as gdcm does (max abs diff <= 1)', async (name) => {
    const parsed = lossy.get(name)!;
    expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.91');
    const out = await decodeJpeg2000(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(maxAbsDiff(out.samples, phantoms[name].samples)).toBeGreaterThan(1); // really lossy
    const reference = gdcmDecode(scratch.path(`${name}-lossy.enc.dcm`), `${name}-lossy`);
    // Measured: identical (both are OpenJPEG 2.5); 1 is allowed for a different OpenJPEG build.
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(1);
  });

  it('decodes the public Philips 15-bit lossy CR as gdcm does', async () => {
    const { path, parsed } = readPublicDicom('philips_cr_rg1_j2ki.dcm');
    const out = await decodeJpeg2000(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(out.samples).toBeInstanceOf(Uint16Array);
    expect(out.samples.length).toBe(parsed.rows * parsed.columns);
    expect(maxAbsDiff(out.samples, gdcmDecode(path, 'philips'))).toBeLessThanOrEqual(1);
  });

  it('leaves the public YBR_FULL stream (no MCT) in YBR_FULL, as gdcm does', async () => {
    const { path, parsed } = readPublicDicom('other_jpeg_2000_ybr_color_space.dcm');
    const stream = firstFrameCodestream(parsed);
    expect(parsed.photometricInterpretation).toBe('YBR_FULL');
    expect(readJ2kMainHeader(stream)?.mct).toBe(false);
    const out = await decodeJpeg2000(stream, frameInfoOf(parsed));
    expect(out.colorSpace).toBe('as-stored');
    expect(firstMismatch(out.samples, gdcmDecode(path, 'ybr'))).toBe(-1);
  });

  it('decodes an HTJ2K codestream found in a JPEG 2000 syntax (OpenJPEG >= 2.5 reads Part 15)', async () => {
    const stream = await encodeHtj2k(phantoms.mono12);
    expect(readJ2kMainHeader(stream)?.htj2k).toBe(true);
    const out = await decodeJpeg2000(stream, frameInfoOf(phantoms.mono12));
    expect(firstMismatch(out.samples, phantoms.mono12.samples)).toBe(-1);
  });

  it('rejects size, component and bit-depth mismatches with corrupt_stream', async () => {
    const parsed = lossless.get('mono12')!;
    const stream = firstFrameCodestream(parsed);
    const info = frameInfoOf(parsed);
    for (const bad of [
      { ...info, columns: info.columns - 1 },
      { ...info, samplesPerPixel: 3 as const },
      { ...info, bitsAllocated: 8 as const, bitsStored: 8 },
    ]) {
      await expect(decodeJpeg2000(stream, bad)).rejects.toMatchObject({ reason: 'corrupt_stream' });
    }
  });

  it('rejects truncated, random and empty codestreams with corrupt_stream', async () => {
    const parsed = lossless.get('mono12')!;
    const stream = firstFrameCodestream(parsed);
    const info = frameInfoOf(parsed);
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    const badBody = stream.slice();
    badBody.fill(0x5a, 200, 2000);
    for (const bad of [
      stream.subarray(0, stream.length >> 1),
      stream.subarray(0, 60),
      random,
      new Uint8Array(0),
    ]) {
      const error: unknown = await decodeJpeg2000(bad, info).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DicomRejectedError);
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
      expect((error as DicomRejectedError).message).not.toContain('\n');
    }
    // Garbage inside the code-blocks either decodes to wrong pixels or is rejected; never a crash.
    await decodeJpeg2000(badBody, info).catch((e: unknown) => {
      expect(e).toBeInstanceOf(DicomRejectedError);
    });
    const ok = await decodeJpeg2000(stream, info);
    expect(firstMismatch(ok.samples, phantoms.mono12.samples)).toBe(-1);
  });
});

describe('reducedLevel', () => {
  const info = {
    rows: 2500,
    columns: 2048,
    samplesPerPixel: 1 as const,
    bitsAllocated: 16 as const,
    bitsStored: 12,
    pixelRepresentation: 0 as const,
    planarConfiguration: 0 as const,
    photometricInterpretation: 'MONOCHROME2',
  };
  it('is the deepest level that keeps both sides at least the minimum, within the stream levels', () => {
    expect(reducedLevel(info, 5)).toBe(0); // no minSize: full resolution
    expect(reducedLevel({ ...info, minSize: { columns: 512, rows: 512 } }, 5)).toBe(2); // 512x625
    expect(reducedLevel({ ...info, minSize: { columns: 513, rows: 513 } }, 5)).toBe(1); // 1024x1250
    expect(reducedLevel({ ...info, minSize: { columns: 224, rows: 224 } }, 5)).toBe(3); // 256x313
    expect(reducedLevel({ ...info, minSize: { columns: 224, rows: 224 } }, 1)).toBe(1); // capped
    expect(reducedLevel({ ...info, minSize: { columns: 4096, rows: 4096 } }, 5)).toBe(0);
    // Odd sides round up, as the codestream's reduced sizes do (ceil(2049 / 4) = 513).
    expect(reducedLevel({ ...info, columns: 2049, minSize: { columns: 513, rows: 1 } }, 5)).toBe(2);
    // 1-bit images are never reduced.
    expect(reducedLevel({ ...info, bitsAllocated: 1, minSize: { columns: 1, rows: 1 } }, 5)).toBe(0);
  });
});
