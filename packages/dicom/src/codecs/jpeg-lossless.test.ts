import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomRejectedError } from '../errors.js';
import type { EncodedFrameInfo } from '../types.js';
import { decodeJpegLossless, decodeJpegLosslessSync } from './jpeg-lossless.js';
import {
  dcmcjpegStream,
  dcmdjpegDecode,
  encodeLossless,
  jpegTestImage,
  withInvalidHuffmanCodes,
} from './jpeg/test-support.js';
import {
  firstFrameCodestream,
  mulberry32,
  nativeSamples,
  publicDicomPath,
  readDicomFile,
  runTool,
  scratchDir,
  writeNativeImage,
  type NativeImage,
} from '../testing/index.js';

const scratch = scratchDir('cxr-jpeg-lossless-');
const dir = scratch.dir;
afterAll(() => {
  scratch.cleanup();
});

function infoOf(img: NativeImage, pixelRepresentation: 0 | 1 = 0): EncodedFrameInfo {
  return {
    rows: img.rows,
    columns: img.columns,
    samplesPerPixel: img.samplesPerPixel,
    bitsAllocated: img.bitsAllocated,
    bitsStored: img.bitsStored,
    pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: img.photometricInterpretation,
  };
}

/** The SOF3 precision byte, to prove the encoder wrote the precision a test claims to cover. */
function sof3Precision(stream: Uint8Array): number {
  for (let i = 0; i + 4 < stream.length; i++)
    if (stream[i] === 0xff && stream[i + 1] === 0xc3) return stream[i + 4]!;
  return -1;
}

function expectSamples(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      if (first < 0) first = i;
      mismatches++;
    }
  }
  expect({ mismatches, first }).toEqual({ mismatches: 0, first: -1 });
}

describe('decodeJpegLossless against dcmcjpeg (T.81 Annex H, PS3.5 A.4.1)', () => {
  for (const bits of [8, 12, 16]) {
    for (let predictor = 1; predictor <= 7; predictor++) {
      it(`is exact for ${bits}-bit, predictor ${predictor}, 300x257`, async () => {
        const img = jpegTestImage(300, 257, bits, 1, bits * 10 + predictor);
        // dcmcjpeg's true-lossless codec codes 12-bit data at precision 16; its older IJG codec (+pl +bt) keeps 12.
        const base = predictor === 1 ? ['+e1'] : ['+el', '+sv', String(predictor)];
        const options = bits === 12 ? [...base, '+pl', '+bt'] : base;
        const stream = dcmcjpegStream(dir, `p${bits}-${predictor}`, img, options);
        expect(sof3Precision(stream)).toBe(bits);
        const out = await decodeJpegLossless(stream, infoOf(img));
        expect(out.samples).toBeInstanceOf(bits > 8 ? Uint16Array : Uint8Array);
        expect(out.planar).toBe(false);
        expect(out.colorSpace).toBe('as-stored');
        expectSamples(out.samples, img.samples);
      });
    }
  }

  it('is exact for odd small sizes (1x1, 1x7, 7x1, 33x5)', async () => {
    for (const [w, h] of [
      [1, 1],
      [1, 7],
      [7, 1],
      [33, 5],
    ] as const) {
      const img = jpegTestImage(w, h, 12, 1, w * 100 + h);
      const stream = dcmcjpegStream(dir, `small-${w}x${h}`, img, ['+el', '+sv', '7']);
      const out = await decodeJpegLossless(stream, infoOf(img));
      expectSamples(out.samples, img.samples);
    }
  });

  it('is exact for 8-bit RGB, interleaved (SV1)', async () => {
    const img = jpegTestImage(211, 97, 8, 3, 77);
    const stream = dcmcjpegStream(dir, 'rgb8', img, ['+e1']);
    const out = await decodeJpegLossless(stream, infoOf(img));
    expect(out.samples).toBeInstanceOf(Uint8Array);
    expectSamples(out.samples, img.samples);
  });

  it('applies the point transform exactly as dcmdjpeg does', async () => {
    const img = jpegTestImage(120, 77, 12, 1, 5);
    dcmcjpegStream(dir, 'pt', img, ['+el', '+sv', '1', '+pt', '3']);
    const reference = nativeSamples(dcmdjpegDecode(dir, 'pt', `${dir}/pt.jpg.dcm`));
    const stream = firstFrameCodestream(readDicomFile(`${dir}/pt.jpg.dcm`));
    const out = await decodeJpegLossless(stream, infoOf(img));
    expectSamples(out.samples, reference);
    expectSamples(
      out.samples,
      img.samples.map((v) => (v >> 3) << 3),
    );
  });

  it('returns the raw bits as Int16Array for Pixel Representation 1', async () => {
    const img = jpegTestImage(64, 40, 16, 1, 9);
    const stream = dcmcjpegStream(dir, 'signed', img, ['+e1']);
    const out = await decodeJpegLossless(stream, infoOf(img, 1));
    expect(out.samples).toBeInstanceOf(Int16Array);
    expectSamples(
      new Uint16Array(out.samples.buffer, out.samples.byteOffset, out.samples.length),
      img.samples,
    );
  });

  it('is exact for a gdcmconv --jpeg (lossless) stream', async () => {
    const img = jpegTestImage(173, 131, 12, 1, 21);
    writeFileSync(`${dir}/gdcm.raw.dcm`, writeNativeImage(img));
    runTool('gdcmconv', ['--jpeg', `${dir}/gdcm.raw.dcm`, `${dir}/gdcm.jpg.dcm`]);
    const file = readDicomFile(`${dir}/gdcm.jpg.dcm`);
    expect(file.transferSyntaxUid).toMatch(/^1\.2\.840\.10008\.1\.2\.4\.(57|70)$/);
    const out = await decodeJpegLossless(firstFrameCodestream(file), infoOf(img));
    expectSamples(out.samples, img.samples);
  });
});

describe('decodeJpegLossless on streams no installed tool writes (reference encoder)', () => {
  it('handles restart intervals of 1 and 7 rows for every predictor', () => {
    for (const restartRows of [1, 7]) {
      for (let predictor = 1; predictor <= 7; predictor++) {
        const img = jpegTestImage(61, 45, 12, 1, predictor);
        const stream = encodeLossless(img.samples, {
          width: 61,
          height: 45,
          precision: 12,
          components: 1,
          predictor,
          restartRows,
        });
        expect(stream.includes(0xd7)).toBe(true);
        expectSamples(decodeJpegLosslessSync(stream, infoOf(img)).samples, img.samples);
      }
    }
  });

  it('handles 3 components interleaved with restarts and per-component tables', () => {
    for (let predictor = 1; predictor <= 7; predictor++) {
      const img = jpegTestImage(37, 29, 8, 3, predictor + 40);
      const stream = encodeLossless(img.samples, {
        width: 37,
        height: 29,
        precision: 8,
        components: 3,
        predictor,
        restartRows: 3,
        tablePerComponent: true,
      });
      expectSamples(decodeJpegLosslessSync(stream, infoOf(img)).samples, img.samples);
    }
  });

  it('handles 3 components in separate (non-interleaved) scans', () => {
    for (const predictor of [1, 4, 6]) {
      const img = jpegTestImage(50, 33, 16, 3, predictor + 60);
      const stream = encodeLossless(img.samples, {
        width: 50,
        height: 33,
        precision: 16,
        components: 3,
        predictor,
        interleaved: false,
        tablePerComponent: true,
        restartRows: predictor === 4 ? 5 : 0,
      });
      expectSamples(decodeJpegLosslessSync(stream, infoOf(img)).samples, img.samples);
    }
  });

  it('handles precisions 2..16 with long (10..16-bit) Huffman codes and category 16', () => {
    for (let bits = 2; bits <= 16; bits++) {
      const img = jpegTestImage(41, 23, bits, 1, bits);
      const stream = encodeLossless(img.samples, {
        width: 41,
        height: 23,
        precision: bits,
        components: 1,
        predictor: (bits % 7) + 1,
        table: 'skewed',
      });
      expectSamples(decodeJpegLosslessSync(stream, infoOf(img)).samples, img.samples);
    }
  });

  it('handles a point transform with restarts', () => {
    const img = jpegTestImage(40, 20, 16, 1, 3);
    const stream = encodeLossless(img.samples, {
      width: 40,
      height: 20,
      precision: 16,
      components: 1,
      predictor: 5,
      pointTransform: 4,
      restartRows: 2,
    });
    expectSamples(
      decodeJpegLosslessSync(stream, infoOf(img)).samples,
      img.samples.map((v) => (v >> 4) << 4),
    );
  });
});

describe('decodeJpegLossless on public files, against dcmdjpeg', () => {
  for (const name of [
    'fo_GH538-jpeg14sv1.dcm',
    'fo_IM-0001-0001-0001.dcm',
    'fo_CR-ModalitySequenceLUT.dcm',
  ]) {
    it(`is exact on ${name}`, async () => {
      const path = publicDicomPath(name);
      const file = readDicomFile(path);
      const reference = nativeSamples(dcmdjpegDecode(dir, name, path));
      const out = await decodeJpegLossless(firstFrameCodestream(file), {
        rows: file.rows,
        columns: file.columns,
        samplesPerPixel: file.samplesPerPixel,
        bitsAllocated: file.bitsAllocated,
        bitsStored: file.bitsStored,
        pixelRepresentation: file.pixelRepresentation,
        planarConfiguration: file.planarConfiguration,
        photometricInterpretation: file.photometricInterpretation,
      });
      expect(out.samples).toBeInstanceOf(file.bitsAllocated > 8 ? Uint16Array : Uint8Array);
      expectSamples(out.samples, reference);
    });
  }
});

describe('decodeJpegLossless rejects corrupt streams with corrupt_stream', () => {
  const img = jpegTestImage(64, 48, 12, 1, 1);
  const info = infoOf(img);
  let stream: Uint8Array = new Uint8Array(0);
  beforeAll(() => {
    stream = encodeLossless(img.samples, {
      width: 64,
      height: 48,
      precision: 12,
      components: 1,
      predictor: 1,
    });
  });

  async function expectCorrupt(bytes: Uint8Array, frameInfo: EncodedFrameInfo = info): Promise<void> {
    const error: unknown = await decodeJpegLossless(bytes, frameInfo).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DicomRejectedError);
    expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
    expect((error as DicomRejectedError).message).not.toContain('\n');
  }

  it('without SOI', async () => {
    await expectCorrupt(stream.subarray(2));
  });

  it('without a frame header', async () => {
    await expectCorrupt(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
  });

  it('with truncated entropy-coded data (several cut points)', async () => {
    for (const cut of [0.2, 0.5, 0.9, 0.99]) {
      await expectCorrupt(stream.subarray(0, Math.floor(stream.length * cut)));
    }
  });

  it('with restart markers removed', async () => {
    const withRestarts = encodeLossless(img.samples, {
      width: 64,
      height: 48,
      precision: 12,
      components: 1,
      predictor: 1,
      restartRows: 4,
    });
    const stripped: number[] = [];
    for (let i = 0; i < withRestarts.length; i++) {
      if (withRestarts[i] === 0xff && withRestarts[i + 1]! >= 0xd0 && withRestarts[i + 1]! <= 0xd7) i++;
      else stripped.push(withRestarts[i]!);
    }
    await expectCorrupt(new Uint8Array(stripped));
  });

  it('with an invalid Huffman code', async () => {
    await expectCorrupt(withInvalidHuffmanCodes(stream));
  });

  it('with dimensions that disagree with Rows/Columns or Samples per Pixel', async () => {
    await expectCorrupt(stream, { ...info, rows: 47 });
    await expectCorrupt(stream, { ...info, columns: 65 });
    await expectCorrupt(stream, { ...info, samplesPerPixel: 3 });
  });

  it('never throws anything but DicomRejectedError on mutated input', async () => {
    const random = mulberry32(1234);
    for (let n = 0; n < 300; n++) {
      const bad = stream.slice(0, Math.max(4, Math.floor(random() * stream.length * 1.05)));
      for (let k = 0; k < 3; k++) bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      const result: unknown = await decodeJpegLossless(bad, info).then(
        (out) => out,
        (e: unknown) => e,
      );
      if (result instanceof Error) expect(result).toBeInstanceOf(DicomRejectedError);
    }
  });
});
