import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_IMAGE_PIXELS, decodeFrame, readDicomInfo } from './decode.js';
import { DicomRejectedError, type RejectReason } from './errors.js';
import {
  imagePixelElements,
  rleFrame,
  writeDicom,
  writeUniformRleImage,
  type DataElement,
  type Vr,
} from './testing/index.js';
import { TransferSyntax } from './uids.js';

type PixelSpec = Parameters<typeof imagePixelElements>[0];

function image(
  pixel: PixelSpec,
  pixelData: DataElement['value'],
  options: {
    transferSyntaxUid?: string;
    preamble?: boolean;
    fileMeta?: boolean;
    extra?: DataElement[];
    vr?: Vr;
  } = {},
): Uint8Array {
  return writeDicom(
    [
      ...imagePixelElements(pixel),
      ...(options.extra ?? []),
      { tag: 0x7fe00010, vr: options.vr ?? (pixel.bitsAllocated > 8 ? 'OW' : 'OB'), value: pixelData },
    ],
    options,
  );
}

async function samplesOf(bytes: Uint8Array, frame = 0): Promise<number[]> {
  const result = await decodeFrame(bytes, { frame });
  return Array.from(result.frame.samples);
}

async function rejection(action: () => unknown): Promise<DicomRejectedError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(DicomRejectedError);
    const rejected = error as DicomRejectedError;
    expect(rejected.message).not.toMatch(/\n/);
    return rejected;
  }
  throw new Error('expected a DicomRejectedError');
}

async function expectReason(action: () => unknown, reason: RejectReason): Promise<DicomRejectedError> {
  const error = await rejection(action);
  expect(error.reason).toBe(reason);
  return error;
}

describe('decodeFrame: native bit depths (PS3.5 8.1.1)', () => {
  it('unpacks 1-bit data least significant bit first', async () => {
    // 3x4 = 12 pixels: bits of 0b1010_0110 then 0b0000_1001.
    const bytes = image({ rows: 3, columns: 4, bitsAllocated: 1 }, Uint8Array.of(0b1010_0110, 0b0000_1001));
    expect(await samplesOf(bytes)).toEqual([0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1]);
  });

  it('finds 1-bit frames that do not start on a byte boundary', async () => {
    // Two 3x3 frames (9 bits each): frame 1 starts at bit 9.
    const bits = [1, 0, 0, 0, 0, 0, 0, 0, 1, /* frame 1 */ 0, 1, 1, 1, 0, 0, 0, 0, 1];
    const packed = new Uint8Array(3);
    bits.forEach((bit, i) => {
      packed[i >> 3]! |= bit << (i & 7);
    });
    const bytes = image({ rows: 3, columns: 3, bitsAllocated: 1, numberOfFrames: 2 }, packed);
    expect(await samplesOf(bytes, 1)).toEqual(bits.slice(9));
  });

  it('reads 8-bit samples unchanged', async () => {
    const bytes = image({ rows: 2, columns: 2, bitsAllocated: 8 }, Uint8Array.of(0, 1, 128, 255));
    const result = await decodeFrame(bytes);
    expect(result.frame.samples).toBeInstanceOf(Uint8Array);
    expect(Array.from(result.frame.samples)).toEqual([0, 1, 128, 255]);
    expect(result.frame.bitsStored).toBe(8);
  });

  it('masks garbage above BitsStored in 16-bit unsigned data', async () => {
    const bytes = image(
      { rows: 1, columns: 4, bitsAllocated: 16, bitsStored: 12 },
      Uint16Array.of(0xf123, 0x0fff, 0x8000, 0x1001),
    );
    const result = await decodeFrame(bytes);
    expect(result.frame.samples).toBeInstanceOf(Uint16Array);
    expect(Array.from(result.frame.samples)).toEqual([0x123, 0xfff, 0, 1]);
    expect(result.frame.signed).toBe(false);
  });

  it('shifts down when HighBit is not BitsStored-1 (PS3.3 C.7.6.3.1)', async () => {
    // BitsStored 12, HighBit 15: the value sits in bits 4..15, bits 0..3 are overlay garbage.
    const bytes = image(
      { rows: 1, columns: 2, bitsAllocated: 16, bitsStored: 12, highBit: 15 },
      Uint16Array.of(0xabcf, 0x0017),
    );
    expect(await samplesOf(bytes)).toEqual([0xabc, 0x001]);
  });

  it('sign-extends 16-bit signed data from BitsStored 12', async () => {
    const bytes = image(
      { rows: 1, columns: 5, bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 1 },
      Uint16Array.of(0x0fff, 0x0800, 0x07ff, 0xf001, 0x0000),
    );
    const result = await decodeFrame(bytes);
    expect(result.frame.samples).toBeInstanceOf(Int16Array);
    expect(Array.from(result.frame.samples)).toEqual([-1, -2048, 2047, 1, 0]);
    expect(result.frame.signed).toBe(true);
  });

  it('reads full 16-bit signed data without masking', async () => {
    const bytes = image(
      { rows: 1, columns: 3, bitsAllocated: 16, pixelRepresentation: 1 },
      Uint16Array.of(0xffff, 0x8000, 0x7fff),
    );
    expect(await samplesOf(bytes)).toEqual([-1, -32768, 32767]);
  });

  it('reads 32-bit unsigned and signed data', async () => {
    const raw = new Uint8Array(new Uint32Array([0xffffffff, 0x80000000, 7]).buffer);
    expect(await samplesOf(image({ rows: 1, columns: 3, bitsAllocated: 32 }, raw))).toEqual([
      0xffffffff, 0x80000000, 7,
    ]);
    expect(
      await samplesOf(image({ rows: 1, columns: 3, bitsAllocated: 32, pixelRepresentation: 1 }, raw)),
    ).toEqual([-1, -2147483648, 7]);
    // 24 bits stored in 32: sign bit is bit 23.
    const raw24 = new Uint8Array(new Uint32Array([0xff800000, 0x007fffff]).buffer);
    expect(
      await samplesOf(
        image({ rows: 1, columns: 2, bitsAllocated: 32, bitsStored: 24, pixelRepresentation: 1 }, raw24),
      ),
    ).toEqual([-8388608, 8388607]);
  });
});

describe('decodeFrame: colour (PS3.3 C.7.6.3.1.2)', () => {
  it('passes RGB through and interleaves Planar Configuration 1', async () => {
    const interleaved = image(
      { rows: 1, columns: 2, bitsAllocated: 8, samplesPerPixel: 3 },
      Uint8Array.of(1, 2, 3, 4, 5, 6),
    );
    expect(await samplesOf(interleaved)).toEqual([1, 2, 3, 4, 5, 6]);
    const planar = image(
      { rows: 1, columns: 2, bitsAllocated: 8, samplesPerPixel: 3, planarConfiguration: 1 },
      Uint8Array.of(1, 4, 2, 5, 3, 6),
    );
    const result = await decodeFrame(planar);
    expect(Array.from(result.frame.samples)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.frame.photometricInterpretation).toBe('RGB');
  });

  it('converts YBR_FULL to RGB', async () => {
    // Hand-computed: Y=100 Cb=150 Cr=90 -> R=100+1.402*-38=46.72, G=100-0.344136*22-0.714136*-38=119.57,
    // B=100+1.772*22=138.98. Y=255 Cb=128 Cr=255 -> R clamps to 255, G=255-0.714136*127=164.3.
    const bytes = image(
      { rows: 1, columns: 3, bitsAllocated: 8, samplesPerPixel: 3, photometricInterpretation: 'YBR_FULL' },
      Uint8Array.of(100, 150, 90, 128, 128, 128, 255, 128, 255),
    );
    expect(await samplesOf(bytes)).toEqual([47, 120, 139, 128, 128, 128, 255, 164, 255]);
  });

  it('converts YBR_FULL with Planar Configuration 1', async () => {
    const bytes = image(
      {
        rows: 1,
        columns: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        photometricInterpretation: 'YBR_FULL',
        planarConfiguration: 1,
      },
      Uint8Array.of(100, 128, 150, 128, 90, 128),
    );
    expect(await samplesOf(bytes)).toEqual([47, 120, 139, 128, 128, 128]);
  });

  it('upsamples native YBR_FULL_422 (Y0 Y1 Cb Cr per pixel pair)', async () => {
    // Both pixels share Cb=150 Cr=90: Y=100 -> (47,120,139); Y=200 -> (146.72,219.57,238.98).
    const bytes = image(
      {
        rows: 2,
        columns: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        photometricInterpretation: 'YBR_FULL_422',
      },
      Uint8Array.of(100, 200, 150, 90, 128, 128, 128, 128),
    );
    expect(await samplesOf(bytes)).toEqual([47, 120, 139, 147, 220, 239, 128, 128, 128, 128, 128, 128]);
  });

  it('maps PALETTE COLOR through 16-bit tables, clamping indices outside the table', async () => {
    const descriptor = (entries: number): DataElement['value'] => [entries, 10, 16];
    const extra: DataElement[] = [
      { tag: 0x00281101, vr: 'US', value: descriptor(4) },
      { tag: 0x00281102, vr: 'US', value: descriptor(4) },
      { tag: 0x00281103, vr: 'US', value: descriptor(4) },
      { tag: 0x00281201, vr: 'OW', value: Uint16Array.of(0, 1000, 2000, 65535) },
      { tag: 0x00281202, vr: 'OW', value: Uint16Array.of(5, 6, 7, 8) },
      { tag: 0x00281203, vr: 'OW', value: Uint16Array.of(9, 9, 9, 1) },
    ];
    const bytes = image(
      { rows: 1, columns: 4, bitsAllocated: 8, photometricInterpretation: 'PALETTE COLOR' },
      Uint8Array.of(10, 13, 5, 200),
      { extra },
    );
    const result = await decodeFrame(bytes);
    expect(result.frame.samples).toBeInstanceOf(Uint16Array);
    expect(result.frame.bitsStored).toBe(16);
    expect(Array.from(result.frame.samples)).toEqual([0, 5, 9, 65535, 8, 1, 0, 5, 9, 65535, 8, 1]);
    expect(result.info.pixel.palette?.red.firstMapped).toBe(10);
  });

  it('reads 8-bit palette entries written one per 16-bit word, high byte or low byte', async () => {
    const extra: DataElement[] = [
      { tag: 0x00281101, vr: 'US', value: [2, 0, 8] },
      { tag: 0x00281102, vr: 'US', value: [2, 0, 8] },
      { tag: 0x00281103, vr: 'US', value: [2, 0, 8] },
      { tag: 0x00281201, vr: 'OW', value: Uint16Array.of(0x0100, 0xff00) }, // high byte
      { tag: 0x00281202, vr: 'OW', value: Uint16Array.of(3, 4) }, // low byte
      { tag: 0x00281203, vr: 'OW', value: Uint8Array.of(5, 6) }, // packed: two entries in one word
    ];
    const bytes = image(
      { rows: 1, columns: 2, bitsAllocated: 8, photometricInterpretation: 'PALETTE COLOR' },
      Uint8Array.of(0, 1),
      { extra },
    );
    const result = await decodeFrame(bytes);
    expect(result.frame.samples).toBeInstanceOf(Uint8Array);
    expect(Array.from(result.frame.samples)).toEqual([1, 3, 5, 255, 4, 6]);
  });
});

describe('decodeFrame: encodings and file structure', () => {
  const pixel16: PixelSpec = {
    rows: 2,
    columns: 2,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 1,
  };
  const values16 = Uint16Array.of(0x0fff, 0x0001, 0x0800, 0x07ff);
  const expected16 = [-1, 1, -2048, 2047];

  it('selects frame N of a multi-frame image', async () => {
    const frames = Uint16Array.from({ length: 12 }, (_, i) => i * 100);
    const bytes = image({ rows: 2, columns: 2, bitsAllocated: 16, numberOfFrames: 3 }, frames);
    const result = await decodeFrame(bytes, { frame: 2 });
    expect(result.frameIndex).toBe(2);
    expect(Array.from(result.frame.samples)).toEqual([800, 900, 1000, 1100]);
    await expectReason(() => decodeFrame(bytes, { frame: 3 }), 'frame_out_of_range');
    await expectReason(() => decodeFrame(bytes, { frame: -1 }), 'frame_out_of_range');
  });

  it('reads Explicit VR Big Endian, swapping OW words', async () => {
    const bytes = image(pixel16, values16, { transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian });
    // The writer puts big-endian words in the file: check it really did.
    const info = readDicomInfo(bytes);
    expect(info.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRBigEndian);
    expect(info.pixel.rows).toBe(2);
    expect(await samplesOf(bytes)).toEqual(expected16);
  });

  it('reads 8-bit OB data in big endian without swapping', async () => {
    const bytes = image({ rows: 1, columns: 3, bitsAllocated: 8 }, Uint8Array.of(1, 2, 3), {
      transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian,
    });
    expect(await samplesOf(bytes)).toEqual([1, 2, 3]);
  });

  it('reads Implicit VR Little Endian', async () => {
    const bytes = image(pixel16, values16, { transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian });
    expect(await samplesOf(bytes)).toEqual(expected16);
  });

  it('inflates Deflated Explicit VR Little Endian', async () => {
    const bytes = image(pixel16, values16, {
      transferSyntaxUid: TransferSyntax.DeflatedExplicitVRLittleEndian,
    });
    const result = await decodeFrame(bytes);
    expect(result.info.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
    expect(Array.from(result.frame.samples)).toEqual(expected16);
  });

  it('opens files without preamble, with the meta group first', async () => {
    const bytes = image(pixel16, values16, { preamble: false });
    const result = await decodeFrame(bytes);
    expect(result.info.hadPreamble).toBe(false);
    expect(result.info.hadFileMeta).toBe(true);
    expect(Array.from(result.frame.samples)).toEqual(expected16);
  });

  it.each([
    ['implicit VR little endian', TransferSyntax.ImplicitVRLittleEndian],
    ['explicit VR little endian', TransferSyntax.ExplicitVRLittleEndian],
    ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian],
  ])('opens a bare %s data set without preamble or meta', async (_name, uid) => {
    const bytes = image(pixel16, values16, { transferSyntaxUid: uid, preamble: false, fileMeta: false });
    const result = await decodeFrame(bytes);
    expect(result.info.hadPreamble).toBe(false);
    expect(result.info.hadFileMeta).toBe(false);
    expect(result.info.transferSyntaxUid).toBe(uid);
    expect(Array.from(result.frame.samples)).toEqual(expected16);
  });

  it('follows the bytes when the meta says explicit VR but the data set is implicit', async () => {
    const bytes = writeDicom(
      [...imagePixelElements(pixel16), { tag: 0x7fe00010, vr: 'OW', value: values16 }],
      {
        transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
        encoding: { explicitVr: false, bigEndian: false },
      },
    );
    expect(await samplesOf(bytes)).toEqual(expected16);
  });
});

describe('decodeFrame: RLE Lossless (PS3.5 Annex G) inside Part 10', () => {
  const rle = TransferSyntax.RleLossless;

  it('decodes 16-bit signed RLE frames located by the Basic Offset Table', async () => {
    const frame = (values: number[]): Uint8Array =>
      rleFrame([Uint8Array.from(values, (v) => (v >> 8) & 0xff), Uint8Array.from(values, (v) => v & 0xff)]);
    const f0 = frame([0xffff, 0x8000, 1, 2]);
    const f1 = frame([10, 20, 0x7fff, 0xfffe]);
    const bytes = image(
      { rows: 2, columns: 2, bitsAllocated: 16, pixelRepresentation: 1, numberOfFrames: 2 },
      { kind: 'encapsulated', frames: [[f0], [f1.subarray(0, 40), f1.subarray(40)]] },
      { transferSyntaxUid: rle },
    );
    expect(await samplesOf(bytes, 0)).toEqual([-1, -32768, 1, 2]);
    expect(await samplesOf(bytes, 1)).toEqual([10, 20, 32767, -2]);
  });

  it('uses one fragment per frame when there is no offset table', async () => {
    const bytes = image(
      { rows: 1, columns: 3, bitsAllocated: 8, numberOfFrames: 2 },
      {
        kind: 'encapsulated',
        frames: [[rleFrame([Uint8Array.of(1, 1, 1)])], [rleFrame([Uint8Array.of(7, 8, 9)])]],
        offsetTable: false,
      },
      { transferSyntaxUid: rle },
    );
    expect(await samplesOf(bytes, 1)).toEqual([7, 8, 9]);
  });

  it('uses the Extended Offset Table (7FE0,0001) when present', async () => {
    const f0 = rleFrame([Uint8Array.of(1, 2)]);
    const f1 = rleFrame([Uint8Array.of(3, 4)]);
    const f2 = rleFrame([Uint8Array.of(5, 6)]);
    const u64 = (values: number[]): Uint8Array =>
      new Uint8Array(BigUint64Array.from(values.map(BigInt)).buffer);
    const offsets = [0, f0.length + 8, f0.length + f1.length + 16];
    const bytes = image(
      { rows: 1, columns: 2, bitsAllocated: 8, numberOfFrames: 3 },
      // Frame 2 split into two fragments so "one fragment per frame" cannot be what finds it.
      {
        kind: 'encapsulated',
        frames: [[f0], [f1], [f2.subarray(0, 66), f2.subarray(66)]],
        offsetTable: false,
      },
      {
        transferSyntaxUid: rle,
        extra: [
          { tag: 0x7fe00001, vr: 'OV', value: u64(offsets) },
          { tag: 0x7fe00002, vr: 'OV', value: u64([f0.length, f1.length, f2.length]) },
        ],
      },
    );
    expect(await samplesOf(bytes, 2)).toEqual([5, 6]);
    expect(await samplesOf(bytes, 1)).toEqual([3, 4]);
  });

  it('decodes colour RLE (one segment per sample) to interleaved RGB', async () => {
    const bytes = image(
      { rows: 1, columns: 2, bitsAllocated: 8, samplesPerPixel: 3 },
      {
        kind: 'encapsulated',
        frames: [[rleFrame([Uint8Array.of(10, 11), Uint8Array.of(20, 21), Uint8Array.of(30, 31)])]],
        offsetTable: false,
      },
      { transferSyntaxUid: rle },
    );
    expect(await samplesOf(bytes)).toEqual([10, 20, 30, 11, 21, 31]);
  });

  it('rejects an RLE frame whose segment is short as corrupt_stream', async () => {
    const bytes = image(
      { rows: 2, columns: 2, bitsAllocated: 8 },
      { kind: 'encapsulated', frames: [[rleFrame([Uint8Array.of(1, 2, 3)])]], offsetTable: false },
      { transferSyntaxUid: rle },
    );
    await expectReason(() => decodeFrame(bytes), 'corrupt_stream');
  });
});

describe('readDicomInfo: LUT modules and identifiers', () => {
  const base = { rows: 1, columns: 2, bitsAllocated: 16 } as const;

  it('reads rescale, windows with explanations, VOI LUT function and technical tags', () => {
    const bytes = image(base, Uint16Array.of(0, 0), {
      extra: [
        { tag: 0x00281052, vr: 'DS', value: '-1024' },
        { tag: 0x00281053, vr: 'DS', value: '2.5' },
        { tag: 0x00281054, vr: 'LO', value: 'HU' },
        { tag: 0x00281050, vr: 'DS', value: '40\\400' },
        { tag: 0x00281051, vr: 'DS', value: '400\\2000' },
        { tag: 0x00281055, vr: 'LO', value: 'SOFT\\BONE' },
        { tag: 0x00281056, vr: 'CS', value: 'SIGMOID' },
        { tag: 0x00185101, vr: 'CS', value: 'PA' },
        { tag: 0x00100010, vr: 'PN', value: 'Doe^Jane' },
        { tag: 0x00100020, vr: 'LO', value: 'PID-42' },
        { tag: 0x00100030, vr: 'DA', value: '19700101' },
        { tag: 0x0020000d, vr: 'UI', value: '1.2.3' },
      ],
    });
    const info = readDicomInfo(bytes);
    expect(info.modalityLut).toEqual({ kind: 'rescale', slope: 2.5, intercept: -1024, type: 'HU' });
    expect(info.voi.windows).toEqual([
      { center: 40, width: 400, explanation: 'SOFT' },
      { center: 400, width: 2000, explanation: 'BONE' },
    ]);
    expect(info.voi.function).toBe('SIGMOID');
    expect(info.technical.viewPosition).toBe('PA');
    expect(info.technical.modality).toBe('DX');
    expect(info.uids.studyInstanceUid).toBe('1.2.3');
    expect(info.patientId).toBe('PID-42');
    // Patient name and birth date are never read.
    const serialized = JSON.stringify(info);
    expect(serialized).not.toContain('Doe');
    expect(serialized).not.toContain('19700101');
  });

  it('reads a Modality LUT Sequence with a signed first mapped value and 0 meaning 65536 entries', () => {
    const signedItem: DataElement[] = [
      { tag: 0x00283002, vr: 'US', value: [3, 0xfffe, 16] },
      { tag: 0x00283004, vr: 'LO', value: 'HU' },
      { tag: 0x00283006, vr: 'OW', value: Uint16Array.of(100, 200, 300) },
    ];
    const signedFile = image({ ...base, pixelRepresentation: 1 }, Uint16Array.of(0, 0), {
      extra: [{ tag: 0x00283000, vr: 'SQ', value: [signedItem] }],
    });
    const info = readDicomInfo(signedFile);
    expect(info.modalityLut.kind).toBe('table');
    if (info.modalityLut.kind !== 'table') return;
    expect(info.modalityLut.lut.firstMapped).toBe(-2);
    expect(Array.from(info.modalityLut.lut.data)).toEqual([100, 200, 300]);
    expect(info.modalityLut.type).toBe('HU');

    // Same descriptor value with unsigned pixels is 65534.
    const unsignedFile = image(base, Uint16Array.of(0, 0), {
      extra: [{ tag: 0x00283000, vr: 'SQ', value: [signedItem] }],
    });
    const unsignedInfo = readDicomInfo(unsignedFile);
    expect(unsignedInfo.modalityLut.kind === 'table' && unsignedInfo.modalityLut.lut.firstMapped).toBe(65534);

    const fullItem: DataElement[] = [
      { tag: 0x00283002, vr: 'US', value: [0, 0, 16] },
      { tag: 0x00283006, vr: 'OW', value: Uint16Array.from({ length: 65536 }, (_, i) => 65535 - i) },
    ];
    const full = readDicomInfo(
      image(base, Uint16Array.of(0, 0), { extra: [{ tag: 0x00283000, vr: 'SQ', value: [fullItem] }] }),
    );
    expect(full.modalityLut.kind === 'table' && full.modalityLut.lut.data.length).toBe(65536);
    expect(full.modalityLut.kind === 'table' && full.modalityLut.lut.data[65535]).toBe(0);
  });

  it('reads VOI LUT Sequence tables in an implicit VR file', () => {
    const item: DataElement[] = [
      { tag: 0x00283002, vr: 'US', value: [2, 5, 12] },
      { tag: 0x00283003, vr: 'LO', value: 'NORMAL' },
      { tag: 0x00283006, vr: 'OW', value: Uint16Array.of(0, 4095) },
    ];
    const info = readDicomInfo(
      image(base, Uint16Array.of(0, 0), {
        transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
        extra: [{ tag: 0x00283010, vr: 'SQ', value: [item] }],
      }),
    );
    expect(info.voi.tables).toHaveLength(1);
    expect(info.voi.tables[0]).toMatchObject({ firstMapped: 5, bitsPerEntry: 12, explanation: 'NORMAL' });
    expect(Array.from(info.voi.tables[0]!.data)).toEqual([0, 4095]);
    expect(info.voi.function).toBe('LINEAR');
  });
});

describe('rejections', () => {
  const good = image({ rows: 4, columns: 4, bitsAllocated: 16 }, new Uint16Array(16).fill(7));

  it('rejects random bytes, a PNG signature and an empty file as not_dicom', async () => {
    let seed = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >> 16;
    });
    await expectReason(() => decodeFrame(random), 'not_dicom');
    const png = Uint8Array.of(
      0x89,
      0x50,
      0x4e,
      0x47,
      0x0d,
      0x0a,
      0x1a,
      0x0a,
      0,
      0,
      0,
      13,
      0x49,
      0x48,
      0x44,
      0x52,
    );
    await expectReason(() => decodeFrame(png), 'not_dicom');
    await expectReason(() => decodeFrame(new Uint8Array(0)), 'not_dicom');
    await expectReason(() => readDicomInfo(new Uint8Array(200)), 'not_dicom');
  });

  it('rejects a valid 16384x16384 image as image_too_large from its header (audit finding 4)', async () => {
    // 4 MB of RLE; decoding it would allocate 256 MB of samples and then fail in sharp's resize
    // ("Input image exceeds pixel limit"), an internal error retried five times.
    const huge = writeUniformRleImage(16384, 16384);
    expect(huge.length).toBeLessThan(5_000_000);
    const error = await expectReason(() => decodeFrame(huge), 'image_too_large');
    expect(error.message).toBe(
      `image of 16384x16384 pixels exceeds the limit of ${DEFAULT_MAX_IMAGE_PIXELS} pixels`,
    );
    expect(readDicomInfo(huge).pixel.rows).toBe(16384); // the header alone stays readable
  });

  it('takes the pixel limit from the options, Rows x Columns inclusive', async () => {
    const bytes = writeUniformRleImage(30, 40, 9);
    await expectReason(() => decodeFrame(bytes, { maxImagePixels: 1199 }), 'image_too_large');
    const { frame } = await decodeFrame(bytes, { maxImagePixels: 1200 });
    expect(frame.samples.length).toBe(1200);
    expect(Array.from(new Set(frame.samples))).toEqual([9]);
  });

  it('rejects a file cut inside Pixel Data or inside a header element as truncated', async () => {
    await expectReason(() => decodeFrame(good.subarray(0, good.length - 5)), 'truncated');
    const headerEnd = good.indexOf(0x28, 140); // somewhere in the (0028,xxxx) elements
    await expectReason(() => decodeFrame(good.subarray(0, headerEnd + 5)), 'truncated');
  });

  it('rejects an object without Pixel Data as no_pixel_data', async () => {
    const sr = writeDicom([
      { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.88.11' },
      { tag: 0x00080060, vr: 'CS', value: 'SR' },
    ]);
    await expectReason(() => decodeFrame(sr), 'no_pixel_data');
  });

  it('rejects native Pixel Data shorter than the pixel module says as pixel_data_short', async () => {
    const short = image({ rows: 4, columns: 4, bitsAllocated: 16, numberOfFrames: 2 }, new Uint16Array(20));
    await expectReason(() => decodeFrame(short), 'pixel_data_short');
  });

  it('rejects MPEG2 and unknown transfer syntaxes, naming the UID', async () => {
    const mpeg = image({ rows: 1, columns: 2, bitsAllocated: 8 }, Uint8Array.of(1, 2), {
      transferSyntaxUid: '1.2.840.10008.1.2.4.100',
    });
    const error = await expectReason(() => decodeFrame(mpeg), 'unsupported_transfer_syntax');
    expect(error.message).toContain('1.2.840.10008.1.2.4.100');
    const unknown = image({ rows: 1, columns: 2, bitsAllocated: 8 }, Uint8Array.of(1, 2), {
      transferSyntaxUid: '1.2.3.4.5',
    });
    expect(
      (await expectReason(() => readDicomInfo(unknown), 'unsupported_transfer_syntax')).message,
    ).toContain('1.2.3.4.5');
  });

  it('rejects YBR_PARTIAL_420 native data and HSV as unsupported_photometric', async () => {
    const partial = image(
      {
        rows: 2,
        columns: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        photometricInterpretation: 'YBR_PARTIAL_420',
      },
      new Uint8Array(12),
    );
    await expectReason(() => decodeFrame(partial), 'unsupported_photometric');
    const hsv = image(
      { rows: 1, columns: 2, bitsAllocated: 8, samplesPerPixel: 3, photometricInterpretation: 'HSV' },
      new Uint8Array(6),
    );
    await expectReason(() => readDicomInfo(hsv), 'unsupported_photometric');
  });

  it('rejects BitsAllocated 12, SamplesPerPixel 2 and missing Rows as unsupported_pixel_module', async () => {
    await expectReason(
      () => decodeFrame(image({ rows: 2, columns: 2, bitsAllocated: 12 }, new Uint8Array(6))),
      'unsupported_pixel_module',
    );
    await expectReason(
      () =>
        decodeFrame(image({ rows: 2, columns: 2, bitsAllocated: 8, samplesPerPixel: 2 }, new Uint8Array(8))),
      'unsupported_pixel_module',
    );
    const noRows = writeDicom([
      ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }).filter((e) => e.tag !== 0x00280010),
      { tag: 0x7fe00010, vr: 'OB', value: new Uint8Array(4) },
    ]);
    await expectReason(() => decodeFrame(noRows), 'unsupported_pixel_module');
  });
});
