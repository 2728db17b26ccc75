import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomRejectedError } from '../errors.js';
import type { EncodedFrameInfo } from '../types.js';
import { decodeJpegExtended, decodeJpegExtendedSync } from './jpeg-extended.js';
import { decodeJpegLosslessSync } from './jpeg-lossless.js';
import {
  dcmcjpegStream,
  dcmdjpegDecode,
  encodeDcOnly,
  jpegTestImage,
  withColorMarkers,
  withInvalidHuffmanCodes,
  withScanParameters,
} from './jpeg/test-support.js';
import {
  firstFrameCodestream,
  maxAbsDiff,
  meanAbsDiff,
  mulberry32,
  nativeSamples,
  readDicomFile,
  runTool,
  scratchDir,
  writeNativeImage,
  type NativeImage,
  type ParsedPart10,
} from '../testing/index.js';

// Tolerance against dcmtk's IJG decode (dcmdjpeg): the decoder ports IJG's islow IDCT, fancy
// upsampling and YCbCr->RGB exactly, so the measured difference is 0 and the tests demand 0.
const TOLERANCE = 0;

const scratch = scratchDir('cxr-jpeg-dct-');
const dir = scratch.dir;
afterAll(() => {
  scratch.cleanup();
});

function infoOf(file: ParsedPart10): EncodedFrameInfo {
  return {
    rows: file.rows,
    columns: file.columns,
    samplesPerPixel: file.samplesPerPixel,
    bitsAllocated: file.bitsAllocated,
    bitsStored: file.bitsStored,
    pixelRepresentation: file.pixelRepresentation,
    planarConfiguration: file.planarConfiguration,
    photometricInterpretation: file.photometricInterpretation,
  };
}

/** Compresses with dcmcjpeg, decodes with dcmdjpeg and with our decoder; returns both. */
async function roundTrip(name: string, img: NativeImage, options: readonly string[]) {
  dcmcjpegStream(dir, name, img, options);
  const compressed = readDicomFile(`${dir}/${name}.jpg.dcm`);
  const reference = dcmdjpegDecode(dir, name, `${dir}/${name}.jpg.dcm`);
  const out = await decodeJpegExtended(firstFrameCodestream(compressed), infoOf(compressed));
  return { compressed, reference, out };
}

describe('decodeJpegExtended against dcmdjpeg (T.81 Annex F, PS3.5 A.4.1)', () => {
  for (const [w, h] of [
    [300, 257],
    [17, 9],
    [64, 64],
  ] as const) {
    for (const quality of ['90', '40']) {
      it(`12-bit extended (SOF1) ${w}x${h} q${quality} is within ${TOLERANCE}`, async () => {
        const img = jpegTestImage(w, h, 12, 1, w + h);
        const { compressed, reference, out } = await roundTrip(`ee12-${w}-${quality}`, img, [
          '+ee',
          '+q',
          quality,
        ]);
        expect(compressed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.51');
        expect(out.samples).toBeInstanceOf(Uint16Array);
        expect(out.colorSpace).toBe('as-stored');
        expect(maxAbsDiff(out.samples, nativeSamples(reference))).toBeLessThanOrEqual(TOLERANCE);
        // Sanity: lossy but close to the source.
        expect(maxAbsDiff(out.samples, img.samples)).toBeLessThan(1500);
      });
    }
  }

  it('8-bit baseline (SOF0) and 8-bit extended (SOF1) grayscale', async () => {
    for (const options of [['+eb'], ['+ee', '+q', '75']]) {
      const img = jpegTestImage(131, 77, 8, 1, 3);
      const { reference, out } = await roundTrip(`g8-${options[0]!}`, img, options);
      expect(out.samples).toBeInstanceOf(Uint8Array);
      expect(maxAbsDiff(out.samples, nativeSamples(reference))).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  for (const [label, options, photometric] of [
    ['4:2:2 YBR_FULL_422', ['+eb'], 'YBR_FULL_422'],
    ['4:4:4 YBR_FULL', ['+eb', '+s4'], 'YBR_FULL'],
    ['4:2:2 YBR_FULL', ['+eb', '+n2'], 'YBR_FULL'],
    ['4:1:1 YBR_FULL', ['+eb', '+n1'], 'YBR_FULL'],
  ] as const) {
    it(`8-bit colour ${label} converts to RGB like dcmdjpeg`, async () => {
      const img = jpegTestImage(101, 67, 8, 3, 11);
      const { compressed, reference, out } = await roundTrip(`c-${label.replace(/\W/g, '')}`, img, options);
      expect(compressed.photometricInterpretation).toBe(photometric);
      expect(reference.photometricInterpretation).toBe('RGB');
      expect(out.colorSpace).toBe('RGB');
      expect(maxAbsDiff(out.samples, nativeSamples(reference))).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('8-bit colour coded as RGB (+cr) is returned unconverted, as RGB', async () => {
    const img = jpegTestImage(50, 41, 8, 3, 12);
    const { compressed, reference, out } = await roundTrip('c-rgb', img, ['+eb', '+cr']);
    expect(compressed.photometricInterpretation).toBe('RGB');
    expect(out.colorSpace).toBe('RGB');
    expect(out.warnings).toBeUndefined();
    expect(maxAbsDiff(out.samples, nativeSamples(reference))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('4:2:0 (h2v2 fancy upsampling) from gdcmconv matches dcmdjpeg', async () => {
    const img = jpegTestImage(70, 63, 8, 3, 13);
    writeFileSync(`${dir}/g420.raw.dcm`, writeNativeImage(img));
    runTool('gdcmconv', ['--jpeg', '--lossy', '-q', '90', `${dir}/g420.raw.dcm`, `${dir}/g420.jpg.dcm`]);
    const compressed = readDicomFile(`${dir}/g420.jpg.dcm`);
    const stream = firstFrameCodestream(compressed);
    const sof = stream.findIndex((b, i) => b === 0xff && stream[i + 1] === 0xc0);
    expect(stream[sof + 11]).toBe(0x22); // first component H=2, V=2
    // gdcm labels its YCbCr stream (component ids 1,2,3, no JFIF/Adobe marker) RGB. libjpeg takes
    // such a stream for YCbCr, and so do we; dcmdjpeg does with +cg ("conv-guess").
    expect(compressed.photometricInterpretation).toBe('RGB');
    const reference = nativeSamples(dcmdjpegDecode(dir, 'g420', `${dir}/g420.jpg.dcm`, ['+cg']));
    const out = await decodeJpegExtended(stream, infoOf(compressed));
    expect(maxAbsDiff(out.samples, reference)).toBeLessThanOrEqual(TOLERANCE);
    expect(meanAbsDiff(out.samples, img.samples)).toBeLessThan(4); // and it is the phantom
    expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_color_space_from_stream']);
  });

  it('decodes a lossless stream mislabelled as extended (dispatch on SOF3)', async () => {
    const img = jpegTestImage(40, 30, 12, 1, 14);
    const stream = dcmcjpegStream(dir, 'mislabel', img, ['+e1']);
    const info = { ...infoOf(readDicomFile(`${dir}/mislabel.jpg.dcm`)) };
    const out = await decodeJpegExtended(stream, info);
    expect(Array.from(out.samples)).toEqual(Array.from(img.samples));
    // ...and the other way round: a DCT stream given to the lossless codec.
    const dct = dcmcjpegStream(dir, 'mislabel2', img, ['+ee']);
    expect(decodeJpegLosslessSync(dct, info).samples).toEqual(decodeJpegExtendedSync(dct, info).samples);
  });
});

/** Writes `bytes` (a changed copy of a dcmcjpeg output) to `<name>.jpg.dcm`, optionally relabelling it. */
function writeVariant(name: string, bytes: Uint8Array, photometric?: string): ParsedPart10 {
  const path = `${dir}/${name}.jpg.dcm`;
  writeFileSync(path, bytes);
  if (photometric !== undefined) runTool('dcmodify', ['-nb', '-m', `(0028,0004)=${photometric}`, path]);
  return readDicomFile(path);
}

describe('decodeJpegExtended at a reduced DCT scale (EncodedFrameInfo.minSize)', () => {
  /**
   * Largest |reduced - mean of its box in the full decode| over the boxes inside the image that
   * hold no clamped sample (0 or the maximum: there the full decode clamped each sample, and the
   * mean of clamped samples is not the clamped mean), and how many boxes were compared.
   */
  function boxMeanError(
    full: Uint16Array,
    reduced: Uint16Array,
    w: number,
    h: number,
    scale: number,
    max: number,
  ): { worst: number; compared: number; boxes: number } {
    const columns = Math.ceil(w / scale);
    let worst = 0;
    let compared = 0;
    let boxes = 0;
    for (let y = 0; y < Math.floor(h / scale); y++) {
      for (let x = 0; x < Math.floor(w / scale); x++) {
        boxes++;
        let sum = 0;
        let clamped = false;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const v = full[(y * scale + dy) * w + x * scale + dx]!;
            if (v === 0 || v === max) clamped = true;
            sum += v;
          }
        }
        if (clamped) continue;
        compared++;
        worst = Math.max(worst, Math.abs(sum / (scale * scale) - reduced[y * columns + x]!));
      }
    }
    return { worst, compared, boxes };
  }

  for (const [w, h, bits, quality] of [
    [300, 257, 12, '90'],
    [300, 257, 12, '40'],
    [64, 64, 8, '75'],
    [17, 9, 12, '90'],
  ] as const) {
    it(`${bits}-bit ${w}x${h} q${quality}: each sample is its box's mean in the full decode, within 1`, async () => {
      const name = `red-${bits}-${w}-${quality}`;
      const img = jpegTestImage(w, h, bits, 1, w * 7 + h);
      const { compressed, out: full } = await roundTrip(name, img, [
        bits === 12 ? '+ee' : '+eb',
        '+q',
        quality,
      ]);
      const info = infoOf(compressed);
      const codestream = firstFrameCodestream(compressed);
      for (const scale of [2, 4, 8]) {
        const min = { columns: Math.ceil(w / scale), rows: Math.ceil(h / scale) };
        const out = await decodeJpegExtended(codestream, { ...info, minSize: min });
        expect(out.reduced, `scale ${scale}`).toEqual({
          level: Math.log2(scale),
          columns: min.columns,
          rows: min.rows,
        });
        expect(out.samples.length).toBe(min.columns * min.rows);
        const fullWords = Uint16Array.from(full.samples);
        const reducedWords = Uint16Array.from(out.samples);
        const error = boxMeanError(fullWords, reducedWords, w, h, scale, (1 << bits) - 1);
        expect(error.worst, `scale ${scale}`).toBeLessThanOrEqual(1);
        expect(error.compared, `scale ${scale}`).toBeGreaterThanOrEqual(error.boxes / 2);
      }
    });
  }

  it('goes only as deep as keeps both sides at least minSize, and never below 1/8', async () => {
    const img = jpegTestImage(300, 257, 12, 1, 3);
    const { compressed } = await roundTrip('red-depth', img, ['+ee', '+q', '90']);
    const info = infoOf(compressed);
    const codestream = firstFrameCodestream(compressed);
    const levelFor = async (columns: number, rows: number): Promise<number | undefined> =>
      (await decodeJpegExtended(codestream, { ...info, minSize: { columns, rows } })).reduced?.level;
    expect(await levelFor(300, 257)).toBeUndefined();
    expect(await levelFor(151, 10)).toBeUndefined(); // 300 / 2 = 150 < 151
    expect(await levelFor(150, 129)).toBe(1);
    expect(await levelFor(150, 130)).toBeUndefined(); // 257 / 2 -> 129 < 130
    expect(await levelFor(75, 65)).toBe(2);
    expect(await levelFor(1, 1)).toBe(3);
  });

  it('decodes colour frames at full resolution whatever minSize asks', async () => {
    const img = jpegTestImage(64, 48, 8, 3, 11);
    const { compressed, out: full } = await roundTrip('red-colour', img, ['+eb', '+q', '90']);
    const out = await decodeJpegExtended(firstFrameCodestream(compressed), {
      ...infoOf(compressed),
      minSize: { columns: 8, rows: 8 },
    });
    expect(out.reduced).toBeUndefined();
    expect(Array.from(out.samples)).toEqual(Array.from(full.samples));
  });
});

describe('decodeJpegExtended on the quirks libjpeg decodes through (issue 12)', () => {
  // A GE archive's 12-bit lossy CR has scan headers with Ss/Se/Ah/Al values a sequential JPEG
  // should not have; dcmtk, gdcm and libjpeg warn "Invalid SOS parameters for sequential JPEG"
  // and decode. It used to be rejected as corrupt_stream.
  for (const [ss, se, ahAl] of [
    [0, 0, 0x00],
    [0, 63, 0x01],
    [1, 5, 0x21],
  ] as const) {
    it(`decodes a 12-bit scan with Ss=${ss} Se=${se} Ah/Al=${ahAl.toString(16)} as dcmdjpeg does, with a warning`, async () => {
      const img = jpegTestImage(93, 61, 12, 1, 21);
      dcmcjpegStream(dir, 'sos', img, ['+ee']);
      const name = `sos-${ss}-${se}-${ahAl}`;
      const file = writeVariant(
        name,
        withScanParameters(new Uint8Array(readFileSync(`${dir}/sos.jpg.dcm`)), ss, se, ahAl),
      );
      const reference = nativeSamples(dcmdjpegDecode(dir, name, `${dir}/${name}.jpg.dcm`));
      const out = await decodeJpegExtended(firstFrameCodestream(file), infoOf(file));
      expect(maxAbsDiff(out.samples, reference)).toBe(0);
      expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_sos_parameters_ignored']);
      expect(out.warnings?.[0]?.message).toContain(`Se=${se}`);
    });
  }

  // An RGB stream (Adobe APP14 transform 0, or component ids 'R','G','B') in a file that says
  // YBR_FULL_422: libjpeg-turbo and gdcm follow the stream and so must we; dcmdjpeg does with +cg.
  for (const [precision, options] of [
    [8, ['+eb', '+cr']],
    [12, ['+ee', '+cr']],
  ] as const) {
    for (const [label, change] of [
      ['Adobe APP14 transform 0, component ids 1,2,3', { componentIds: [1, 2, 3] as const }],
      ["component ids 'R','G','B', no Adobe marker", { hideAdobe: true }],
    ] as const) {
      it(`${precision}-bit RGB stream (${label}) labelled YBR_FULL_422 is not converted`, async () => {
        const img = jpegTestImage(66, 35, precision, 3, 22);
        const base = `rgb${precision}`;
        dcmcjpegStream(dir, base, img, options);
        const name = `${base}-${label.replace(/\W/g, '')}`;
        const bytes = withColorMarkers(new Uint8Array(readFileSync(`${dir}/${base}.jpg.dcm`)), change);
        const file = writeVariant(name, bytes, 'YBR_FULL_422');
        expect(file.photometricInterpretation).toBe('YBR_FULL_422');
        const reference = nativeSamples(dcmdjpegDecode(dir, name, `${dir}/${name}.jpg.dcm`, ['+cg']));
        const out = await decodeJpegExtended(firstFrameCodestream(file), infoOf(file));
        expect(out.colorSpace).toBe('RGB');
        expect(maxAbsDiff(out.samples, reference)).toBe(0);
        expect(meanAbsDiff(out.samples, img.samples)).toBeLessThan(precision === 8 ? 4 : 64);
        expect(out.warnings?.map((w) => w.code)).toEqual(['jpeg_color_space_from_stream']);
      });
    }
  }
});

describe('decodeJpegExtended on DC-only streams (restart intervals)', () => {
  for (const precision of [8, 12] as const) {
    for (const restartInterval of [0, 1, 5, 13]) {
      it(`${precision}-bit, restart interval ${restartInterval}`, () => {
        const blocksWide = 9;
        const blocksHigh = 6;
        const random = mulberry32(precision + restartInterval);
        const limit = precision === 8 ? 150 : 2400;
        const dc = Int32Array.from({ length: blocksWide * blocksHigh }, () =>
          Math.round((random() - 0.5) * 2 * limit),
        );
        const quant = 3;
        const stream = encodeDcOnly(dc, { precision, blocksWide, blocksHigh, quant, restartInterval });
        const info: EncodedFrameInfo = {
          rows: blocksHigh * 8,
          columns: blocksWide * 8,
          samplesPerPixel: 1,
          bitsAllocated: precision === 8 ? 8 : 16,
          bitsStored: precision,
          pixelRepresentation: 0,
          planarConfiguration: 0,
          photometricInterpretation: 'MONOCHROME2',
        };
        const out = decodeJpegExtendedSync(stream, info).samples;
        const max = 2 ** precision - 1;
        const width = blocksWide * 8;
        for (let by = 0; by < blocksHigh; by++) {
          for (let bx = 0; bx < blocksWide; bx++) {
            const expected = Math.min(
              max,
              Math.max(0, Math.floor((dc[by * blocksWide + bx]! * quant + 4) / 8) + 2 ** (precision - 1)),
            );
            expect(out[(by * 8 + 3) * width + bx * 8 + 5]).toBe(expected);
          }
        }
      });
    }
  }
});

describe('decodeJpegExtended rejects corrupt streams with corrupt_stream', () => {
  let stream: Uint8Array = new Uint8Array(0);
  let info: EncodedFrameInfo;
  beforeAll(() => {
    const img = jpegTestImage(64, 48, 12, 1, 1);
    stream = dcmcjpegStream(dir, 'corrupt', img, ['+ee']);
    info = infoOf(readDicomFile(`${dir}/corrupt.jpg.dcm`));
  });

  async function expectCorrupt(bytes: Uint8Array, frameInfo: EncodedFrameInfo = info): Promise<void> {
    const error: unknown = await decodeJpegExtended(bytes, frameInfo).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DicomRejectedError);
    expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
  }

  it('without SOI, without a frame, with wrong dimensions', async () => {
    await expectCorrupt(stream.subarray(2));
    await expectCorrupt(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
    await expectCorrupt(stream, { ...info, rows: 49 });
    await expectCorrupt(stream, { ...info, samplesPerPixel: 3 });
  });

  it('with truncated entropy-coded data', async () => {
    for (const cut of [0.3, 0.6, 0.95])
      await expectCorrupt(stream.subarray(0, Math.floor(stream.length * cut)));
  });

  it('with an invalid Huffman code', async () => {
    await expectCorrupt(withInvalidHuffmanCodes(stream));
  });

  it('refuses progressive streams as unsupported, not corrupt', async () => {
    const img = jpegTestImage(32, 32, 8, 1, 2);
    const progressive = dcmcjpegStream(dir, 'prog', img, ['+ep']);
    const error: unknown = await decodeJpegExtended(
      progressive,
      infoOf(readDicomFile(`${dir}/prog.jpg.dcm`)),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DicomRejectedError);
    expect((error as DicomRejectedError).reason).toBe('unsupported_transfer_syntax');
  });

  it('never throws anything but DicomRejectedError on mutated input', async () => {
    const random = mulberry32(99);
    for (let n = 0; n < 300; n++) {
      const bad = stream.slice(0, Math.max(4, Math.floor(random() * stream.length * 1.05)));
      for (let k = 0; k < 3; k++) bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      const result: unknown = await decodeJpegExtended(bad, info).then(
        (out) => out,
        (e: unknown) => e,
      );
      if (result instanceof Error) expect(result).toBeInstanceOf(DicomRejectedError);
    }
  });
});
