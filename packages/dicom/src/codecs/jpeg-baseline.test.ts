import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import { decodeJpegBaseline, jpegStreamIsYcbcr } from './jpeg-baseline.js';
import { withColorMarkers, withScanParameters } from './jpeg/test-support.js';
import {
  decodeWithTool,
  encodeWithTool,
  firstFrameCodestream,
  frameInfoOf,
  codecPhantoms,
  maxAbsDiff,
  meanAbsDiff,
  readDicomFile,
  readPublicDicom,
  runTool,
  scratchDir,
  type ParsedPart10,
} from '../testing/index.js';

const scratch = scratchDir();
afterAll(() => {
  scratch.cleanup();
});

const { mono8, rgb8 } = codecPhantoms();

/*
 * libjpeg-turbo (wasm, via TurboJPEG) vs dcmtk's IJG libjpeg 6b, measured here: identical (max
 * abs diff 0) on the grey and YBR_FULL_422 phantoms, the RGB-coded phantom and the SIIM CR. The
 * libraries use different IDCT/upsampling code paths that may round differently on other
 * streams, so 1 is allowed.
 */
const IJG_TOLERANCE = 1;

describe('decodeJpegBaseline (libjpeg-turbo wasm)', () => {
  const files = new Map<string, ParsedPart10>();
  beforeAll(() => {
    files.set('mono8', encodeWithTool(scratch, 'mono8', mono8, 'dcmcjpeg', ['+eb']));
    // dcmcjpeg turns RGB into YBR_FULL_422 (+cy, the default) or keeps RGB components (+cr).
    files.set('ybr', encodeWithTool(scratch, 'ybr', rgb8, 'dcmcjpeg', ['+eb']));
    files.set('rgb', encodeWithTool(scratch, 'rgb', rgb8, 'dcmcjpeg', ['+eb', '+cr']));
  });

  it('decodes a grey frame as dcmdjpeg does', async () => {
    const parsed = files.get('mono8')!;
    expect(parsed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.50');
    const out = await decodeJpegBaseline(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(out.samples).toBeInstanceOf(Uint8Array);
    expect(out.colorSpace).toBe('as-stored');
    const reference = decodeWithTool(scratch, scratch.path('mono8.enc.dcm'), 'mono8', 'dcmdjpeg', []);
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(IJG_TOLERANCE);
    expect(meanAbsDiff(out.samples, mono8.samples)).toBeLessThan(4); // and it is the phantom
  });

  it('converts a YBR_FULL_422 frame to RGB and says so (PS3.5 8.2.1)', async () => {
    const parsed = files.get('ybr')!;
    expect(parsed.photometricInterpretation).toBe('YBR_FULL_422');
    const stream = firstFrameCodestream(parsed);
    expect(jpegStreamIsYcbcr(stream)).toBe(true);
    const out = await decodeJpegBaseline(stream, frameInfoOf(parsed));
    expect(out.colorSpace).toBe('RGB');
    expect(out.planar).toBe(false);
    expect(out.samples.length).toBe(rgb8.samples.length);
    expect(meanAbsDiff(out.samples, rgb8.samples)).toBeLessThan(6);
    const reference = decodeWithTool(scratch, scratch.path('ybr.enc.dcm'), 'ybr', 'dcmdjpeg', []);
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(IJG_TOLERANCE);
  });

  it('returns an RGB-coded frame unconverted, as RGB', async () => {
    const parsed = files.get('rgb')!;
    expect(parsed.photometricInterpretation).toBe('RGB');
    const stream = firstFrameCodestream(parsed);
    expect(jpegStreamIsYcbcr(stream)).toBe(false);
    const out = await decodeJpegBaseline(stream, frameInfoOf(parsed));
    expect(out.colorSpace).toBe('RGB');
    expect(out.warnings).toBeUndefined();
    expect(meanAbsDiff(out.samples, rgb8.samples)).toBeLessThan(6);
    const reference = decodeWithTool(scratch, scratch.path('rgb.enc.dcm'), 'rgb', 'dcmdjpeg', []);
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(IJG_TOLERANCE);
  });

  it('decodes the public SIIM CR as dcmdjpeg does', async () => {
    const { path, parsed } = readPublicDicom('siim_cr_jpegbaseline.dcm');
    const out = await decodeJpegBaseline(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(out.samples.length).toBe(parsed.rows * parsed.columns);
    const reference = decodeWithTool(scratch, path, 'siim', 'dcmdjpeg', []);
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(IJG_TOLERANCE);
  });

  it('rejects mismatching frame info, truncated, random and empty streams with corrupt_stream', async () => {
    const parsed = files.get('mono8')!;
    const stream = firstFrameCodestream(parsed);
    const info = frameInfoOf(parsed);
    await expect(decodeJpegBaseline(stream, { ...info, columns: info.columns + 2 })).rejects.toMatchObject({
      reason: 'corrupt_stream',
    });
    await expect(decodeJpegBaseline(stream, { ...info, samplesPerPixel: 3 })).rejects.toMatchObject({
      reason: 'corrupt_stream',
    });
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    for (const bad of [
      stream.subarray(0, stream.length >> 1),
      stream.subarray(0, 100),
      random,
      new Uint8Array(0),
    ]) {
      const error: unknown = await decodeJpegBaseline(bad, info).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DicomRejectedError);
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
      expect((error as DicomRejectedError).message).not.toContain('\n');
    }
  });
});

describe('decodeJpegBaseline on the quirks libjpeg decodes through (issue 12)', () => {
  /** Writes a changed copy of `<source>.enc.dcm` as `<name>.enc.dcm`, optionally relabelled. */
  function variant(
    source: string,
    name: string,
    change: (bytes: Uint8Array) => Uint8Array,
    photometric?: string,
  ) {
    const path = scratch.path(`${name}.enc.dcm`);
    writeFileSync(path, change(new Uint8Array(readFileSync(scratch.path(`${source}.enc.dcm`)))));
    if (photometric !== undefined) runTool('dcmodify', ['-nb', '-m', `(0028,0004)=${photometric}`, path]);
    return { path, parsed: readDicomFile(path) };
  }

  it('decodes a scan header with Se=0 (TurboJPEG refuses it) as dcmdjpeg does, with a warning', async () => {
    encodeWithTool(scratch, 'sos', mono8, 'dcmcjpeg', ['+eb']);
    const { path, parsed } = variant('sos', 'sos-bad', (bytes) => withScanParameters(bytes, 0, 0, 0));
    const out = await decodeJpegBaseline(firstFrameCodestream(parsed), frameInfoOf(parsed));
    expect(maxAbsDiff(out.samples, decodeWithTool(scratch, path, 'sos-bad', 'dcmdjpeg', []))).toBe(0);
    expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_sos_parameters_ignored']);
  });

  it('does not convert an Adobe APP14 transform 0 (RGB) stream in a YBR_FULL_422 file', async () => {
    encodeWithTool(scratch, 'adobe', rgb8, 'dcmcjpeg', ['+eb', '+cr']);
    const { path, parsed } = variant(
      'adobe',
      'adobe-ybr',
      (bytes) => withColorMarkers(bytes, { componentIds: [1, 2, 3] }),
      'YBR_FULL_422',
    );
    expect(parsed.photometricInterpretation).toBe('YBR_FULL_422');
    const stream = firstFrameCodestream(parsed);
    expect(jpegStreamIsYcbcr(stream)).toBe(false);
    const out = await decodeJpegBaseline(stream, frameInfoOf(parsed));
    expect(out.colorSpace).toBe('RGB');
    expect(maxAbsDiff(out.samples, decodeWithTool(scratch, path, 'adobe-ybr', 'dcmdjpeg', ['+cg']))).toBe(0);
    expect(meanAbsDiff(out.samples, rgb8.samples)).toBeLessThan(6);
    expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_color_space_from_stream']);
  });

  it('takes an unknown Adobe APP14 transform for YCbCr, as libjpeg does (TurboJPEG refuses it)', async () => {
    encodeWithTool(scratch, 'adobe2', rgb8, 'dcmcjpeg', ['+eb', '+cr']);
    const { path, parsed } = variant('adobe2', 'adobe-transform2', (bytes) =>
      withColorMarkers(bytes, { adobeTransform: 2 }),
    );
    const out = await decodeJpegBaseline(firstFrameCodestream(parsed), frameInfoOf(parsed));
    const reference = decodeWithTool(scratch, path, 'adobe-transform2', 'dcmdjpeg', ['+cg']);
    expect(maxAbsDiff(out.samples, reference)).toBe(0);
    expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_color_space_from_stream']);
    expect(out.warnings?.[0]?.message).toContain('Adobe APP14 unknown transform');
  });
});
