// A minimal Part 10 writer for tests and benchmarks of this package: Explicit VR Little Endian,
// one monochrome frame, 16 bits allocated. Enough for the pool to decode without fixture files.

const TEXT = new TextEncoder();

function element(group: number, elementNo: number, vr: string, value: Uint8Array): Uint8Array {
  // PS3.5 7.1.2: OB/OW/UN/SQ/UT use a 2-byte reserved field and a 4-byte length.
  const long = vr === 'OB' || vr === 'OW' || vr === 'UN' || vr === 'SQ' || vr === 'UT';
  const header = new DataView(new ArrayBuffer(long ? 12 : 8));
  header.setUint16(0, group, true);
  header.setUint16(2, elementNo, true);
  header.setUint8(4, vr.charCodeAt(0));
  header.setUint8(5, vr.charCodeAt(1));
  if (long) header.setUint32(8, value.byteLength, true);
  else header.setUint16(6, value.byteLength, true);
  const out = new Uint8Array(header.byteLength + value.byteLength);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(value, header.byteLength);
  return out;
}

/** PS3.5 6.2: text values are padded to even length (UIDs with NUL, others with space). */
function text(value: string, pad: ' ' | '\0' = ' '): Uint8Array {
  return TEXT.encode(value.length % 2 === 0 ? value : value + pad);
}

function us(value: number): Uint8Array {
  const v = new DataView(new ArrayBuffer(2));
  v.setUint16(0, value, true);
  return new Uint8Array(v.buffer);
}

function ul(value: number): Uint8Array {
  const v = new DataView(new ArrayBuffer(4));
  v.setUint32(0, value, true);
  return new Uint8Array(v.buffer);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Options of a synthetic monochrome image. */
export interface NativeImageOptions {
  readonly rows: number;
  readonly columns: number;
  readonly bitsStored: number;
  readonly samples: Uint16Array;
  readonly photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  readonly window?: { readonly center: number; readonly width: number };
}

/** Builds a Part 10 file (Explicit VR Little Endian, unsigned 16-bit allocated) holding `samples`. */
export function writeNativeDicom(options: NativeImageOptions): Uint8Array {
  const { rows, columns, bitsStored, samples } = options;
  const sopClass = '1.2.840.10008.5.1.4.1.1.1'; // CR Image Storage
  const sopInstance = '2.25.1234567890';
  const meta = concat([
    element(0x0002, 0x0001, 'OB', new Uint8Array([0, 1])),
    element(0x0002, 0x0002, 'UI', text(sopClass, '\0')),
    element(0x0002, 0x0003, 'UI', text(sopInstance, '\0')),
    element(0x0002, 0x0010, 'UI', text('1.2.840.10008.1.2.1', '\0')),
    element(0x0002, 0x0012, 'UI', text('2.25.42', '\0')),
  ]);
  const pixelBytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  const dataset = concat([
    element(0x0008, 0x0016, 'UI', text(sopClass, '\0')),
    element(0x0008, 0x0018, 'UI', text(sopInstance, '\0')),
    element(0x0008, 0x0060, 'CS', text('CR')),
    element(0x0028, 0x0002, 'US', us(1)),
    element(0x0028, 0x0004, 'CS', text(options.photometric ?? 'MONOCHROME2')),
    element(0x0028, 0x0010, 'US', us(rows)),
    element(0x0028, 0x0011, 'US', us(columns)),
    element(0x0028, 0x0100, 'US', us(16)),
    element(0x0028, 0x0101, 'US', us(bitsStored)),
    element(0x0028, 0x0102, 'US', us(bitsStored - 1)),
    element(0x0028, 0x0103, 'US', us(0)),
    ...(options.window === undefined
      ? []
      : [
          element(0x0028, 0x1050, 'DS', text(String(options.window.center))),
          element(0x0028, 0x1051, 'DS', text(String(options.window.width))),
        ]),
    element(0x7fe0, 0x0010, 'OW', pixelBytes),
  ]);
  const preamble = new Uint8Array(132);
  preamble.set(TEXT.encode('DICM'), 128);
  return concat([preamble, element(0x0002, 0x0000, 'UL', ul(meta.byteLength)), meta, dataset]);
}

/** A deterministic gradient-plus-texture image, so every pixel differs from its neighbours. */
export function gradientSamples(rows: number, columns: number, bitsStored: number): Uint16Array {
  const max = 2 ** bitsStored - 1;
  const out = new Uint16Array(rows * columns);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      out[y * columns + x] = (Math.round(((x + y) / (rows + columns)) * max) + ((x * 7 + y * 13) % 17)) & max;
    }
  }
  return out;
}
