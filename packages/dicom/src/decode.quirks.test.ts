/**
 * The real-world quirks of issue 12, decoded through decodeFrame on files generated here and held
 * to what dcmtk or gdcm make of the same file. Each group names the quirk it pins.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { withColorMarkers, withScanParameters } from './codecs/jpeg/test-support.js';
import { decodeFrame, readDicomInfo } from './decode.js';
import { DicomRejectedError, type RejectReason } from './errors.js';
import { applyModalityLut, renderToDisplay } from './lut.js';
import {
  decodeWithTool,
  encodeHtj2k,
  encodeWithTool,
  generateChestPhantom,
  generateChestPhantom1,
  generateRgbPhantom,
  imagePixelElements,
  maxAbsDiff,
  meanAbsDiff,
  nativeSamples,
  readDicomFile,
  rleFrame,
  runTool,
  scratchDir,
  writeDicom,
  writeNativeImage,
  type DataElement,
  type DataSet,
  type NativeImage,
} from './testing/index.js';
import { TransferSyntax } from './uids.js';

const scratch = scratchDir('cxr-quirks-');
afterAll(() => {
  scratch.cleanup();
});

async function rejection(bytes: Uint8Array, reason: RejectReason): Promise<DicomRejectedError> {
  const error: unknown = await decodeFrame(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DicomRejectedError);
  const rejected = error as DicomRejectedError;
  expect(rejected.reason).toBe(reason);
  expect(rejected.message).not.toMatch(/\n/);
  return rejected;
}

function mono12(rows: number, columns: number, seed = 1): NativeImage & { samples: Uint16Array } {
  return {
    rows,
    columns,
    samplesPerPixel: 1,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 0,
    photometricInterpretation: 'MONOCHROME2',
    samples: generateChestPhantom({ rows, columns, seed, bitsStored: 12 }),
  };
}

/** Writes bytes into the scratch directory and returns the path. */
function save(name: string, bytes: Uint8Array): string {
  const path = scratch.path(name);
  writeFileSync(path, bytes);
  return path;
}

describe('JPEG streams libjpeg decodes through (items 1 and 2)', () => {
  it('decodes a GE-style 12-bit lossy frame with invalid SOS parameters, warning instead of rejecting', async () => {
    encodeWithTool(scratch, 'ge', mono12(80, 64), 'dcmcjpeg', ['+ee']);
    const bytes = withScanParameters(new Uint8Array(readFileSync(scratch.path('ge.enc.dcm'))), 0, 0, 0);
    const path = save('ge-sos.dcm', bytes);
    const result = await decodeFrame(bytes);
    expect(result.info.transferSyntaxUid).toBe(TransferSyntax.JpegExtended12Bit);
    expect(maxAbsDiff(result.frame.samples, decodeWithTool(scratch, path, 'ge-sos', 'dcmdjpeg', []))).toBe(0);
    expect(result.warnings.map((w) => w.code)).toEqual(['jpeg_sos_parameters_ignored']);
  });

  it('keeps the RGB samples of an Adobe APP14 transform 0 stream in a YBR_FULL_422 file (once off by up to 137)', async () => {
    const rgb: NativeImage = {
      rows: 48,
      columns: 64,
      samplesPerPixel: 3,
      bitsAllocated: 8,
      bitsStored: 8,
      pixelRepresentation: 0,
      photometricInterpretation: 'RGB',
      samples: generateRgbPhantom({ rows: 48, columns: 64, seed: 6 }),
    };
    encodeWithTool(scratch, 'adobe', rgb, 'dcmcjpeg', ['+eb', '+cr']);
    const path = save(
      'adobe-ybr.dcm',
      withColorMarkers(new Uint8Array(readFileSync(scratch.path('adobe.enc.dcm'))), {
        componentIds: [1, 2, 3],
      }),
    );
    runTool('dcmodify', ['-nb', '-m', '(0028,0004)=YBR_FULL_422', path]);
    const result = await decodeFrame(new Uint8Array(readFileSync(path)));
    expect(result.info.pixel.photometricInterpretation).toBe('YBR_FULL_422');
    expect(result.frame.photometricInterpretation).toBe('RGB');
    expect(
      maxAbsDiff(result.frame.samples, decodeWithTool(scratch, path, 'adobe-ybr', 'dcmdjpeg', ['+cg'])),
    ).toBe(0);
    expect(meanAbsDiff(result.frame.samples, rgb.samples)).toBeLessThan(6);
    expect(result.warnings.map((w) => w.code)).toEqual(['jpeg_color_space_from_stream']);
  });
});

describe('enhanced multi-frame functional groups (item 3, PS3.3 C.7.6.16)', () => {
  const rows = 6;
  const columns = 5;
  const frames = 3;
  const pixels = rows * columns;
  const stored = Uint16Array.from({ length: pixels * frames }, (_, i) => (i * 97) % 4096);
  // Integer slopes: dcmtk keeps modality values as integers, so a half would round there only.
  const rescale = (f: number) => ({ slope: 1 + f, intercept: -1024 + 100 * f });
  const window = (f: number) => ({ center: -300 + 200 * f, width: 1200 + 400 * f });

  function pixelValueTransformation(slope: number, intercept: number): DataElement {
    return {
      tag: 0x00289145,
      vr: 'SQ',
      value: [
        [
          { tag: 0x00281052, vr: 'DS', value: String(intercept) },
          { tag: 0x00281053, vr: 'DS', value: String(slope) },
          { tag: 0x00281054, vr: 'LO', value: 'HU' },
        ],
      ],
    };
  }
  function frameVoi(center: number, width: number): DataElement {
    return {
      tag: 0x00289132,
      vr: 'SQ',
      value: [
        [
          { tag: 0x00281050, vr: 'DS', value: String(center) },
          { tag: 0x00281051, vr: 'DS', value: String(width) },
        ],
      ],
    };
  }
  const frameContent = (f: number): DataElement => ({
    tag: 0x00209111,
    vr: 'SQ',
    value: [[{ tag: 0x00209157, vr: 'UL', value: [f + 1] }]],
  });

  function enhanced(
    shared: DataSet,
    perFrame: readonly DataSet[],
    count = frames,
    data = stored,
  ): Uint8Array {
    return writeDicom([
      ...imagePixelElements({
        rows,
        columns,
        bitsAllocated: 16,
        bitsStored: 12,
        numberOfFrames: count,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2.1', // Enhanced CT
        modality: 'CT',
      }),
      { tag: 0x00080018, vr: 'UI', value: '2.25.4242' },
      { tag: 0x52009229, vr: 'SQ', value: [shared] },
      { tag: 0x52009230, vr: 'SQ', value: perFrame },
      { tag: 0x7fe00010, vr: 'OW', value: data },
    ]);
  }

  /** dcmtk's 16-bit rendering (dcmj2pnm) of a file with an explicit window, as 0..65535 values. */
  function dcmtkRender(path: string, frame: number, center: number, width: number): number[] {
    const out = scratch.path('render.pgm');
    runTool('dcmj2pnm', [
      '--write-16-bit-pnm',
      '+F',
      String(frame + 1),
      '+Ww',
      String(center),
      String(width),
      path,
      out,
    ]);
    // ASCII PGM: "P2", width, height, maxval, then the values.
    return readFileSync(out, 'latin1').trim().split(/\s+/).slice(4).map(Number);
  }

  function ours65535(values: Float32Array): number[] {
    return Array.from(values, (v) => Math.round(v * 65535));
  }

  it('applies the shared Pixel Value Transformation and Frame VOI LUT, as dcmtk applies the rescale', async () => {
    const shared: DataSet = [pixelValueTransformation(2, -1024), frameVoi(500, 3000)];
    const path = save(
      'fg-shared.dcm',
      enhanced(
        shared,
        [0, 1, 2].map((f) => [frameContent(f)]),
      ),
    );
    for (let f = 0; f < frames; f++) {
      const { frame, info } = await decodeFrame(new Uint8Array(readFileSync(path)), { frame: f });
      expect(info.modalityLut).toEqual({ kind: 'rescale', slope: 2, intercept: -1024, type: 'HU' });
      expect(info.functionalGroups).toEqual({ modalityLut: 'shared', voi: 'shared' });
      const display = renderToDisplay(frame, info);
      expect(display.voiUsed).toMatchObject({ kind: 'file-window', center: 500, width: 3000 });
      expect(maxAbsDiff(ours65535(display.values), dcmtkRender(path, f, 500, 3000))).toBeLessThanOrEqual(1);
    }
  });

  it('applies per-frame rescale and VOI to each frame (dcmtk checked frame by frame)', async () => {
    const bytes = enhanced(
      [],
      [0, 1, 2].map((f) => [
        frameContent(f),
        pixelValueTransformation(rescale(f).slope, rescale(f).intercept),
        frameVoi(window(f).center, window(f).width),
      ]),
    );
    for (let f = 0; f < frames; f++) {
      const { frame, info } = await decodeFrame(bytes, { frame: f });
      const { slope, intercept } = rescale(f);
      expect(info.modalityLut).toEqual({ kind: 'rescale', slope, intercept, type: 'HU' });
      expect(info.functionalGroups).toEqual({ modalityLut: 'per-frame', voi: 'per-frame' });
      expect(info.frameIndex).toBe(f);
      const own = stored.subarray(f * pixels, (f + 1) * pixels);
      expect(Array.from(applyModalityLut(frame.samples, info.modalityLut))).toEqual(
        Array.from(own, (v) => v * slope + intercept),
      );
      // dcmtk 3.6 reads only shared functional groups: give it this frame's rescale as shared.
      const single = save(
        `fg-frame${f}.dcm`,
        enhanced([pixelValueTransformation(slope, intercept)], [[frameContent(0)]], 1, own),
      );
      const display = renderToDisplay(frame, info);
      expect(display.voiUsed).toMatchObject({ kind: 'file-window', ...window(f) });
      const theirs = dcmtkRender(single, 0, window(f).center, window(f).width);
      expect(maxAbsDiff(ours65535(display.values), theirs)).toBeLessThanOrEqual(1);
    }
    // readDicomInfo describes the frame it is asked for.
    expect(readDicomInfo(bytes, { frame: 2 }).modalityLut).toMatchObject(rescale(2));
  });

  it('refuses a frame whose per-frame item is missing rather than guessing its rescale', async () => {
    const bytes = enhanced(
      [],
      [0, 1].map((f) => [pixelValueTransformation(1, -1024 + f), frameVoi(0, 100)]),
    );
    const error = await rejection(bytes, 'unsupported_pixel_module');
    expect(error.message).toContain('2 items for 3 frames');
  });
});

describe('attributes that change what pixel values mean (item 3, the audit)', () => {
  const base = { rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 12 } as const;
  const pixelData = (values = Uint16Array.of(1, 2, 3, 4)): DataElement => ({
    tag: 0x7fe00010,
    vr: 'OW',
    value: values,
  });
  const file = (extra: DataElement[], pixel: Parameters<typeof imagePixelElements>[0] = base): Uint8Array =>
    writeDicom([...imagePixelElements(pixel), ...extra, pixelData()]);

  it('refuses a Presentation LUT Shape that contradicts the photometric interpretation, or LIN OD', async () => {
    const shape = (value: string): DataElement => ({ tag: 0x20500020, vr: 'CS', value });
    expect((await rejection(file([shape('INVERSE')]), 'unsupported_pixel_module')).message).toContain(
      'INVERSE',
    );
    await rejection(
      file([shape('IDENTITY')], { ...base, photometricInterpretation: 'MONOCHROME1' }),
      'unsupported_pixel_module',
    );
    await rejection(file([shape('LIN OD')]), 'unsupported_pixel_module');
    // The pairs PS3.3 prescribes decode.
    await expect(decodeFrame(file([shape('IDENTITY')]))).resolves.toBeDefined();
    await expect(
      decodeFrame(file([shape('INVERSE')], { ...base, photometricInterpretation: 'MONOCHROME1' })),
    ).resolves.toBeDefined();
  });

  it('refuses a Presentation LUT Sequence in the image', async () => {
    const sequence: DataElement = {
      tag: 0x20500010,
      vr: 'SQ',
      value: [
        [
          { tag: 0x00283002, vr: 'US', value: [2, 0, 12] },
          { tag: 0x00283006, vr: 'OW', value: Uint16Array.of(4095, 0) },
        ],
      ],
    };
    await rejection(file([sequence]), 'unsupported_pixel_module');
  });

  it('refuses an overlay embedded in the stored bits, accepts one above High Bit (masked) or in Overlay Data', async () => {
    const overlay = (position: number, bitsAllocated = 16, data = false): DataElement[] => [
      { tag: 0x60000010, vr: 'US', value: [2] },
      { tag: 0x60000011, vr: 'US', value: [2] },
      { tag: 0x60000100, vr: 'US', value: [bitsAllocated] },
      { tag: 0x60000102, vr: 'US', value: [position] },
      ...(data ? [{ tag: 0x60003000, vr: 'OW', value: Uint16Array.of(0) } as DataElement] : []),
    ];
    const error = await rejection(file(overlay(11)), 'unsupported_pixel_module');
    expect(error.message).toContain('bit 11');
    expect(Array.from((await decodeFrame(file(overlay(15)))).frame.samples)).toEqual([1, 2, 3, 4]);
    await expect(decodeFrame(file(overlay(0, 1, true)))).resolves.toBeDefined();
    // Overlay Bits Allocated 1 without Overlay Data is an empty overlay (fo_IM-0001-0001-0001.dcm).
    await expect(decodeFrame(file(overlay(0, 1)))).resolves.toBeDefined();
  });

  it('refuses a Modality LUT Sequence it cannot read instead of falling back to the rescale', async () => {
    const lut: DataElement = {
      tag: 0x00283000,
      vr: 'SQ',
      value: [[{ tag: 0x00283004, vr: 'LO', value: 'HU' }]],
    };
    const rescale: DataElement = { tag: 0x00281052, vr: 'DS', value: '-1024' };
    expect((await rejection(file([lut, rescale]), 'unsupported_pixel_module')).message).toContain(
      '(0028,3000)',
    );
  });

  it('refuses an unparsable rescale, reads a zero slope as 1 with a warning', async () => {
    const intercept = (value: string): DataElement => ({ tag: 0x00281052, vr: 'DS', value });
    const slope = (value: string): DataElement => ({ tag: 0x00281053, vr: 'DS', value });
    await rejection(file([intercept('-1O24'), slope('1')]), 'unsupported_pixel_module');
    await rejection(file([intercept('0'), slope('x')]), 'unsupported_pixel_module');
    const result = await decodeFrame(file([intercept('-1024'), slope('0')]));
    expect(result.info.modalityLut).toEqual({ kind: 'rescale', slope: 1, intercept: -1024 });
    expect(result.warnings.map((w) => w.code)).toEqual(['rescale_slope_ignored']);
  });

  it('warns about a VOI LUT Sequence item it cannot read', async () => {
    const voi: DataElement = {
      tag: 0x00283010,
      vr: 'SQ',
      value: [[{ tag: 0x00283003, vr: 'LO', value: 'BAD' }]],
    };
    const result = await decodeFrame(file([voi]));
    expect(result.info.voi.tables).toEqual([]);
    expect(result.warnings.map((w) => w.code)).toEqual(['voi_lut_unreadable']);
  });
});

describe('encapsulated Pixel Data cut before its Sequence Delimitation Item (item 4)', () => {
  const image = mono12(40, 32, 5);
  const native = save('cut-source.dcm', writeNativeImage(image));

  it.each([
    ['JPEG 2000', 'gdcmconv', ['--j2k']],
    ['RLE', 'dcmcrle', []],
    ['JPEG-LS', 'dcmcjpls', []],
    ['JPEG lossless', 'dcmcjpeg', ['+e1']],
  ] as const)(
    '%s: truncated, as dcmtk refuses it, although the frame itself is complete',
    async (name, tool, args) => {
      const encoded = scratch.path(`cut-${tool}.dcm`);
      runTool(tool, [...args, native, encoded]);
      const whole = new Uint8Array(readFileSync(encoded));
      expect(Array.from(whole.subarray(whole.length - 8))).toEqual([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
      expect(maxAbsDiff((await decodeFrame(whole)).frame.samples, image.samples)).toBe(0);
      const cut = whole.subarray(0, whole.length - 8);
      const error = await rejection(cut, 'truncated');
      expect(error.message).toContain('Sequence Delimitation Item');
      expect(() =>
        runTool('dcmconv', ['+te', save(`cut-${tool}-nodelim.dcm`, cut), scratch.path('cut.out.dcm')]),
      ).toThrow(/Sequence Delimitation Item missing|end of stream/);
    },
  );

  it('a stray tag in place of a fragment is corrupt_stream', async () => {
    const frame = rleFrame([Uint8Array.of(1, 2, 3, 4)]);
    const bytes = writeDicom(
      [
        ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }),
        { tag: 0x7fe00010, vr: 'OB', value: { kind: 'encapsulated', frames: [[frame]], offsetTable: false } },
      ],
      { transferSyntaxUid: TransferSyntax.RleLossless },
    );
    const broken = bytes.slice(0, bytes.length - 8);
    // Item tag (FFFE,E000) replaced by (FFFE,E00D), and no delimiter.
    const at = broken.length - frame.length - 8;
    expect(Array.from(broken.subarray(at, at + 4))).toEqual([0xfe, 0xff, 0x00, 0xe0]);
    broken[at + 2] = 0x0d;
    await rejection(broken, 'corrupt_stream');
  });
});

describe('segmented palette colour LUTs (item 5, PS3.3 C.7.9.2)', () => {
  const columns = 24;
  const indices = Uint16Array.from({ length: columns }, (_, i) => i);

  function palette(
    segments: Record<'red' | 'green' | 'blue', Uint16Array>,
    entries: number,
    bits = 16,
  ): Uint8Array {
    return writeDicom([
      ...imagePixelElements({
        rows: 1,
        columns,
        bitsAllocated: 16,
        photometricInterpretation: 'PALETTE COLOR',
        modality: 'US',
      }),
      { tag: 0x00080018, vr: 'UI', value: '2.25.77' },
      { tag: 0x00281101, vr: 'US', value: [entries, 0, bits] },
      { tag: 0x00281102, vr: 'US', value: [entries, 0, bits] },
      { tag: 0x00281103, vr: 'US', value: [entries, 0, bits] },
      { tag: 0x00281221, vr: 'OW', value: segments.red },
      { tag: 0x00281222, vr: 'OW', value: segments.green },
      { tag: 0x00281223, vr: 'OW', value: segments.blue },
      { tag: 0x7fe00010, vr: 'OW', value: indices },
    ]);
  }

  it('expands discrete and indirect segments exactly as gdcm does', async () => {
    const run = (n: number, from: number, step: number): number[] =>
      Array.from({ length: n }, (_, i) => from + i * step);
    // Red: discrete 4, discrete 3, indirect copy of both (byte offset 0), discrete 10 = 24.
    const red = Uint16Array.of(
      0,
      4,
      100,
      50000,
      7,
      65535,
      0,
      3,
      9,
      8,
      7,
      2,
      2,
      0,
      0,
      0,
      10,
      ...run(10, 0, 1000),
    );
    // Green: discrete 7, indirect copy of it, discrete 10 = 24.
    const green = Uint16Array.of(0, 7, ...run(7, 60000, -17), 2, 1, 0, 0, 0, 10, ...run(10, 5, 3));
    // Blue: discrete 4, discrete 6 (at entry 6 = byte 12), indirect copy of the second (byte 12), discrete 8.
    const blue = Uint16Array.of(
      0,
      4,
      ...run(4, 0, 1),
      0,
      6,
      ...run(6, 40000, 1111),
      2,
      1,
      12,
      0,
      0,
      8,
      ...run(8, 7, 7),
    );
    const path = save('palette-seg.dcm', palette({ red, green, blue }, 24));
    const result = await decodeFrame(new Uint8Array(readFileSync(path)));
    expect(result.frame.photometricInterpretation).toBe('RGB');
    runTool('gdcmconv', ['--apply-lut', path, scratch.path('palette-seg.rgb.dcm')]);
    const gdcm = nativeSamples(readDicomFile(scratch.path('palette-seg.rgb.dcm')));
    expect(maxAbsDiff(result.frame.samples, gdcm)).toBe(0);
    expect(Array.from(result.frame.samples.subarray(0, 3))).toEqual([100, 60000, 0]);
    // Pixel 14 (entry 14): red's first discrete value after the copy; blue's copied second segment.
    expect(Array.from(result.frame.samples.subarray(14 * 3, 14 * 3 + 3))).toEqual([0, 5, 40000 + 4 * 1111]);
  });

  it('draws linear segments from the previous entry to Y1 inclusive, as the standard and pydicom do', async () => {
    // Discrete [0], linear to 1000 over 4, discrete [10], linear to 0 over 3, then a 15-entry tail.
    const tail = Array.from({ length: 15 }, (_, i) => i);
    const red = Uint16Array.of(0, 1, 0, 1, 4, 1000, 0, 1, 10, 1, 3, 0, 0, 15, ...tail);
    const flat = Uint16Array.of(0, 24, ...Array.from({ length: 24 }, () => 5));
    const { frame } = await decodeFrame(palette({ red, green: flat, blue: flat }, 24));
    const reds = Array.from({ length: 9 }, (_, i) => frame.samples[i * 3]);
    // (X0, Y0) = (0, 0) to (4, 1000): 250, 500, 750, 1000; (5, 10) to (8, 0): 6.67, 3.33, 0.
    expect(reds).toEqual([0, 250, 500, 750, 1000, 10, 7, 3, 0]);
  });

  it('expands 8-bit segmented data (two entries per OW word)', async () => {
    const bytes = (values: number[]): Uint16Array => {
      const padded = values.length % 2 === 0 ? values : [...values, 0];
      return Uint16Array.from(
        { length: padded.length / 2 },
        (_, i) => padded[2 * i]! | (padded[2 * i + 1]! << 8),
      );
    };
    const red = bytes([0, 2, 10, 20, 1, 22, 240]);
    const other = bytes([0, 24, ...Array.from({ length: 24 }, (_, i) => i * 10)]);
    const { frame } = await decodeFrame(palette({ red, green: other, blue: other }, 24, 8));
    expect(frame.samples).toBeInstanceOf(Uint8Array);
    expect(frame.samples[0]).toBe(10);
    expect(frame.samples[3]).toBe(20);
    expect(frame.samples[23 * 3]).toBe(240);
    expect(frame.samples[23 * 3 + 1]).toBe(230);
  });

  it('names what is missing or wrong, instead of saying the palette is absent', async () => {
    const ok = Uint16Array.of(0, 24, ...Array.from({ length: 24 }, (_, i) => i));
    const short = await rejection(
      palette({ red: ok, green: ok, blue: Uint16Array.of(0, 2, 1, 2) }, 24),
      'unsupported_pixel_module',
    );
    expect(short.message).toMatch(/blue palette \(0028,1223\): expands to 2 entries, the descriptor says 24/);
    const opcode = await rejection(
      palette({ red: Uint16Array.of(7, 1, 1), green: ok, blue: ok }, 24),
      'unsupported_pixel_module',
    );
    expect(opcode.message).toContain('unknown segment opcode 7');
  });
});

describe('Float and Double Float Pixel Data (item 6, PS3.3 C.7.6.24)', () => {
  const rows = 5;
  const columns = 7;
  const values = Float64Array.from({ length: rows * columns * 2 }, (_, i) => (i - 20) * 0.37 + 1e-9 * i);

  function parametricMap(kind: 'OF' | 'OD'): Uint8Array {
    const data =
      kind === 'OF'
        ? new Uint8Array(Float32Array.from(values).buffer)
        : new Uint8Array(values.buffer.slice(0));
    return writeDicom([
      ...imagePixelElements({
        rows,
        columns,
        bitsAllocated: kind === 'OF' ? 32 : 64,
        numberOfFrames: 2,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.30', // Parametric Map
        modality: 'MR',
      }).filter((e) => e.tag !== 0x00280101 && e.tag !== 0x00280102 && e.tag !== 0x00280103),
      { tag: 0x00080018, vr: 'UI', value: '2.25.78' },
      { tag: kind === 'OF' ? 0x7fe00008 : 0x7fe00009, vr: kind, value: data },
    ]);
  }

  for (const kind of ['OF', 'OD'] as const) {
    it(`decodes ${kind} values as float32, as stored, also after dcmconv +tb swaps them to big endian`, async () => {
      const path = save(`pm-${kind}.dcm`, parametricMap(kind));
      const bigEndian = scratch.path(`pm-${kind}-be.dcm`);
      runTool('dcmconv', ['+tb', path, bigEndian]);
      for (const file of [path, bigEndian]) {
        const result = await decodeFrame(new Uint8Array(readFileSync(file)), { frame: 1 });
        expect(result.info.pixel.floatingPoint).toBe(kind === 'OF' ? 'float32' : 'float64');
        expect(result.info.modalityLut).toEqual({ kind: 'identity' });
        expect(result.frame.samples).toBeInstanceOf(Float32Array);
        expect(Array.from(result.frame.samples)).toEqual(
          Array.from(values.subarray(rows * columns), (v) => Math.fround(v)),
        );
        expect(Array.from(applyModalityLut(result.frame.samples, result.info.modalityLut))).toEqual(
          Array.from(result.frame.samples),
        );
      }
      expect(readDicomInfo(new Uint8Array(readFileSync(bigEndian))).transferSyntaxUid).toBe(
        TransferSyntax.ExplicitVRBigEndian,
      );
    });
  }

  it('rejects Float Pixel Data shorter than the frames need, and both kinds at once', async () => {
    const bytes = parametricMap('OF');
    const short = writeDicom([
      ...imagePixelElements({ rows, columns, bitsAllocated: 32, numberOfFrames: 3 }),
      { tag: 0x7fe00008, vr: 'OF', value: new Uint8Array(rows * columns * 8) },
    ]);
    await rejection(short, 'pixel_data_short');
    const both = writeDicom([
      ...imagePixelElements({ rows, columns, bitsAllocated: 32 }),
      { tag: 0x7fe00008, vr: 'OF', value: new Uint8Array(rows * columns * 4) },
      { tag: 0x7fe00010, vr: 'OW', value: new Uint16Array(rows * columns) },
    ]);
    await rejection(both, 'unsupported_pixel_module');
    expect((await decodeFrame(bytes)).frame.bitsStored).toBe(32);
  });
});

describe('1-bit images in JPEG 2000 / HTJ2K (item 7)', () => {
  const rows = 40;
  const columns = 24;
  const bits = generateChestPhantom1({ rows, columns, seed: 4 });
  const segmentation = (frame: Uint8Array, uid: string): Uint8Array =>
    writeDicom(
      [
        ...imagePixelElements({
          rows,
          columns,
          bitsAllocated: 1,
          sopClassUid: '1.2.840.10008.5.1.4.1.1.66.4',
          modality: 'SEG',
        }),
        { tag: 0x00080018, vr: 'UI', value: '2.25.79' },
        { tag: 0x7fe00010, vr: 'OB', value: { kind: 'encapsulated', frames: [[frame]] } },
      ],
      { transferSyntaxUid: uid },
    );

  it('decodes a 1-bit JPEG 2000 codestream (opj_compress) to the same 0/1 samples as gdcm', async () => {
    save('seg.raw', bits);
    runTool('opj_compress', [
      '-i',
      scratch.path('seg.raw'),
      '-o',
      scratch.path('seg.j2k'),
      '-n',
      '3',
      '-F',
      `${columns},${rows},1,1,u@1x1`,
    ]);
    const codestream = new Uint8Array(readFileSync(scratch.path('seg.j2k')));
    const path = save('seg-j2k.dcm', segmentation(codestream, TransferSyntax.Jpeg2000Lossless));
    const result = await decodeFrame(new Uint8Array(readFileSync(path)));
    expect(result.frame.bitsStored).toBe(1);
    expect(Array.from(result.frame.samples)).toEqual(Array.from(bits));
    // gdcm writes the decoded segmentation with Bits Allocated 8, one 0/1 byte per pixel.
    runTool('gdcmconv', ['--raw', path, scratch.path('seg-j2k.raw.dcm')]);
    expect(Array.from(nativeSamples(readDicomFile(scratch.path('seg-j2k.raw.dcm'))))).toEqual(
      Array.from(bits),
    );
  });

  it('decodes a 1-bit HTJ2K codestream', async () => {
    const codestream = await encodeHtj2k({
      rows,
      columns,
      samplesPerPixel: 1,
      bitsAllocated: 8,
      bitsStored: 1,
      pixelRepresentation: 0,
      photometricInterpretation: 'MONOCHROME2',
      samples: bits,
    });
    const result = await decodeFrame(segmentation(codestream, TransferSyntax.Htj2kLossless));
    expect(Array.from(result.frame.samples)).toEqual(Array.from(bits));
  });

  it('rejects Bits Allocated 1 in syntaxes without 1-bit coding, saying so', async () => {
    const rle = segmentation(rleFrame([bits]), TransferSyntax.RleLossless);
    const error = await rejection(rle, 'unsupported_pixel_module');
    expect(error.message).toBe(
      'Bits Allocated 1 (a 1-bit image such as a segmentation) in RLE Lossless is not supported',
    );
  });
});
