import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, readDicomInfo } from './decode.js';
import { TransferSyntax } from './uids.js';

/**
 * Real files from ../shared/data/public-dicom (see its README), checked against independent
 * decoders: GDCM's gdcmraw -P (decompressed Pixel Data bytes), gdcmconv --raw (RLE -> native,
 * read back by our parser), dcmtk's dcmj2pnm (palette applied) and dcmconv (big endian, deflate).
 */
const publicDir = fileURLToPath(new URL('../../../../shared/data/public-dicom/', import.meta.url));
const file = (name: string): Buffer => readFileSync(join(publicDir, name));

let work = '';
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cxr-dicom-public-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function gdcmPixelBytes(name: string): Buffer {
  const out = join(work, `${name}.raw`);
  execFileSync('gdcmraw', ['-i', join(publicDir, name), '-o', out, '-t', '7fe0,0010', '-P'], {
    stdio: 'pipe',
  });
  return readFileSync(out);
}

function tool(command: string, args: string[], outName: string): Buffer {
  const out = join(work, outName);
  execFileSync(command, [...args, out], { stdio: 'pipe' });
  return readFileSync(out);
}

/** Element-wise equality without vitest's slow deep diff of million-element arrays. */
function expectSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  let firstMismatch = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      firstMismatch = i;
      break;
    }
  }
  expect(firstMismatch, `first mismatch at ${firstMismatch}`).toBe(-1);
}

/** Expected stored values from raw little-endian bytes, masked / sign-extended by hand. */
function storedFromRaw(raw: Buffer, bits: 8 | 16, bitsStored: number, signed: boolean): number[] {
  const values: number[] = [];
  for (let i = 0; i < raw.length; i += bits / 8) {
    let v = bits === 8 ? raw[i]! : raw.readUInt16LE(i);
    v &= 2 ** bitsStored - 1;
    if (signed && v >= 2 ** (bitsStored - 1)) v -= 2 ** bitsStored;
    values.push(v);
  }
  return values;
}

describe('public native and RLE files against GDCM / DCMTK', () => {
  it.each([
    ['nih_dx_implicit.dcm', 8, 8, false, TransferSyntax.ImplicitVRLittleEndian],
    ['fuji_cr_mono1_10bit.dcm', 16, 10, false, TransferSyntax.ImplicitVRLittleEndian],
    [
      'fo_GH177_D_CLUNIE_CT1_IVRLE_BigEndian_ELE_undefinded_length.dcm',
      16,
      16,
      true,
      TransferSyntax.ExplicitVRLittleEndian,
    ],
    ['fo_D_CLUNIE_CT1_RLE_FRAGS.dcm', 16, 16, true, TransferSyntax.RleLossless],
  ] as const)('%s equals gdcmraw -P', async (name, bits, bitsStored, signed, uid) => {
    const result = await decodeFrame(file(name));
    expect(result.info.transferSyntaxUid).toBe(uid);
    const expected = storedFromRaw(gdcmPixelBytes(name), bits, bitsStored, signed);
    expectSameValues(result.frame.samples, expected);
  });

  it('fuji_cr_mono1_10bit.dcm opens without preamble or file meta', () => {
    const info = readDicomInfo(file('fuji_cr_mono1_10bit.dcm'));
    expect(info).toMatchObject({ hadPreamble: false, hadFileMeta: false });
    expect(info.pixel).toMatchObject({
      rows: 440,
      columns: 440,
      bitsStored: 10,
      photometricInterpretation: 'MONOCHROME1',
    });
  });

  it('RLE multi-fragment frame equals gdcmconv --raw read back by our parser', async () => {
    const name = 'fo_D_CLUNIE_CT1_RLE_FRAGS.dcm';
    const raw = tool('gdcmconv', ['--raw', join(publicDir, name)], 'rle-raw.dcm');
    const ours = await decodeFrame(file(name));
    const theirs = await decodeFrame(raw);
    expect(theirs.info.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    expectSameValues(ours.frame.samples, theirs.frame.samples);
  });

  it('PALETTE COLOR test pattern equals dcmj2pnm output', async () => {
    const name = 'fo_TestPattern_Palette.dcm';
    const ppm = tool('dcmj2pnm', ['--write-raw-pnm', join(publicDir, name)], 'palette.ppm');
    // P6 header: "P6\n640 400\n255\n"
    const header = ppm.subarray(0, 15).toString('latin1');
    expect(header).toBe('P6\n640 400\n255\n');
    const result = await decodeFrame(file(name));
    expect(result.frame.photometricInterpretation).toBe('RGB');
    expectSameValues(result.frame.samples, ppm.subarray(15));
    // Indices themselves match gdcm's raw bytes through the palette.
    const indices = gdcmPixelBytes(name);
    const red = result.info.pixel.palette!.red.data;
    expect(result.frame.samples[3 * 1000]).toBe(red[indices[1000]!]);
  });

  it('a big-endian transcode (dcmconv +tb) decodes to the same values', async () => {
    const name = 'fo_GH177_D_CLUNIE_CT1_IVRLE_BigEndian_ELE_undefinded_length.dcm';
    const bigEndian = tool('dcmconv', ['+tb', join(publicDir, name)], 'be.dcm');
    const be = await decodeFrame(bigEndian);
    expect(be.info.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRBigEndian);
    expectSameValues(be.frame.samples, (await decodeFrame(file(name))).frame.samples);
    expect(be.info.modalityLut).toEqual({ kind: 'rescale', slope: 1, intercept: -1024 });
  });

  it('a deflated transcode (dcmconv +td) decodes to the same values', async () => {
    const name = 'nih_dx_implicit.dcm';
    const deflated = tool('dcmconv', ['+td', join(publicDir, name)], 'deflated.dcm');
    const result = await decodeFrame(deflated);
    expect(result.info.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
    expectSameValues(result.frame.samples, (await decodeFrame(file(name))).frame.samples);
  });
});

describe('public compressed files: header information', () => {
  it.each([
    ['siim_cr_jpegbaseline.dcm', TransferSyntax.JpegBaseline8Bit, 1024, 1024],
    ['fo_CR-ModalitySequenceLUT.dcm', TransferSyntax.JpegLosslessSV1, 1576, 1976],
    ['philips_cr_rg1_j2ki.dcm', TransferSyntax.Jpeg2000, 1955, 1841],
    ['fo_multiframe.dcm', TransferSyntax.JpegBaseline8Bit, 240, 240],
    ['other_TestPattern_Palette_16.jpeg_ls_lossless.dcm', TransferSyntax.JpegLsLossless, 400, 640],
    ['other_jpeg_2000_ybr_color_space.dcm', TransferSyntax.Jpeg2000Lossless, 708, 1016],
    ['fo_GH538-jpeg14sv1.dcm', TransferSyntax.JpegLosslessSV1, undefined, undefined],
    ['fo_IM-0001-0001-0001.dcm', undefined, undefined, undefined],
    ['fo_JPEGwithIcon.dcm', TransferSyntax.JpegBaseline8Bit, 600, 600],
  ] as const)('%s', (name, uid, rows, columns) => {
    const info = readDicomInfo(file(name));
    if (uid !== undefined) expect(info.transferSyntaxUid).toBe(uid);
    if (rows !== undefined) expect(info.pixel.rows).toBe(rows);
    if (columns !== undefined) expect(info.pixel.columns).toBe(columns);
    expect(info.pixel.rows).toBeGreaterThan(0);
  });

  it('reads the Modality LUT Sequence of fo_CR-ModalitySequenceLUT.dcm', () => {
    const info = readDicomInfo(file('fo_CR-ModalitySequenceLUT.dcm'));
    expect(info.modalityLut.kind).toBe('table');
    if (info.modalityLut.kind !== 'table') return;
    expect(info.modalityLut.lut.data.length).toBe(1024);
    expect(info.modalityLut.lut.bitsPerEntry).toBe(16);
  });

  it('fo_multiframe.dcm reports 140 frames and rejects frame 140', async () => {
    const bytes = file('fo_multiframe.dcm');
    expect(readDicomInfo(bytes).pixel.numberOfFrames).toBe(140);
    await expect(decodeFrame(bytes, { frame: 140 })).rejects.toMatchObject({ reason: 'frame_out_of_range' });
  });

  it('rejects a PNG from the same folder as not_dicom', () => {
    expect(() => readDicomInfo(file('nih_00000001_000.png'))).toThrow(/DICM/);
  });
});
