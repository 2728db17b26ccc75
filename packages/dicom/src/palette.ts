/**
 * Palette Color Lookup Table module (PS3.3 C.7.9): the three tables of a PALETTE COLOR image,
 * stored either in full (Palette Color Lookup Table Data, 0028,1201-1203) or as segments
 * (Segmented Palette Color Lookup Table Data, 0028,1221-1223; C.7.9.2), as ultrasound devices
 * write them.
 */
import type { DataSet } from 'dicom-parser';
import { readLut, readLutDescriptor } from './attributes.js';
import { DicomRejectedError } from './errors.js';
import { Tag } from './tags.js';
import type { LookupTable, Palette } from './types.js';

const CHANNELS = [
  {
    name: 'red',
    descriptor: Tag.RedPaletteDescriptor,
    data: Tag.RedPaletteData,
    segmented: Tag.SegmentedRedPaletteData,
  },
  {
    name: 'green',
    descriptor: Tag.GreenPaletteDescriptor,
    data: Tag.GreenPaletteData,
    segmented: Tag.SegmentedGreenPaletteData,
  },
  {
    name: 'blue',
    descriptor: Tag.BluePaletteDescriptor,
    data: Tag.BluePaletteData,
    segmented: Tag.SegmentedBluePaletteData,
  },
] as const;

function badPalette(message: string): DicomRejectedError {
  return new DicomRejectedError('unsupported_pixel_module', message);
}

/** Element number of a tag key such as 'x00281221', for messages. */
function tagName(key: string): string {
  return `(${key.slice(1, 5).toUpperCase()},${key.slice(5).toUpperCase()})`;
}

/**
 * Reads the three palette tables. Throws unsupported_pixel_module naming what is missing or
 * malformed, since a PALETTE COLOR image cannot be shown without them.
 */
export function readPalette(dataSet: DataSet): Palette {
  const [red, green, blue] = CHANNELS.map((channel): LookupTable => {
    if (dataSet.elements[channel.descriptor] === undefined) {
      throw badPalette(
        `PALETTE COLOR image without a ${channel.name} palette descriptor ${tagName(channel.descriptor)}`,
      );
    }
    if (dataSet.elements[channel.data] !== undefined) {
      const lut = readLut(dataSet, channel.descriptor, channel.data, false);
      if (lut === undefined) {
        throw badPalette(
          `${channel.name} palette descriptor ${tagName(channel.descriptor)} or data ${tagName(channel.data)} is empty or too short`,
        );
      }
      return lut;
    }
    if (dataSet.elements[channel.segmented] !== undefined) return readSegmentedLut(dataSet, channel);
    throw badPalette(
      `PALETTE COLOR image without ${channel.name} palette data ${tagName(channel.data)} or segmented data ${tagName(channel.segmented)}`,
    );
  });
  return { red: red!, green: green!, blue: blue! };
}

function readSegmentedLut(dataSet: DataSet, channel: (typeof CHANNELS)[number]): LookupTable {
  const descriptor = readLutDescriptor(dataSet, channel.descriptor, false);
  if (descriptor === undefined) {
    throw badPalette(
      `${channel.name} palette descriptor ${tagName(channel.descriptor)} has fewer than 3 values`,
    );
  }
  const element = dataSet.elements[channel.segmented]!;
  const { byteArray, byteArrayParser } = dataSet;
  const words = Math.floor(element.length / 2);
  const sixteen = descriptor.bitsPerEntry > 8;
  // OW words in the data set's byte order. With 8-bit entries each word holds two entries, the
  // first in its low byte (the byte stream order of a little endian file).
  const entries = new Uint16Array(sixteen ? words : words * 2);
  for (let i = 0; i < words; i++) {
    const word = byteArrayParser.readUint16(byteArray, element.dataOffset + i * 2);
    if (sixteen) {
      entries[i] = word;
    } else {
      entries[2 * i] = word & 0xff;
      entries[2 * i + 1] = word >>> 8;
    }
  }
  try {
    const data = expandSegmentedLut(entries, descriptor.entries, sixteen ? 2 : 1);
    return { firstMapped: descriptor.firstMapped, bitsPerEntry: descriptor.bitsPerEntry, data };
  } catch (error) {
    if (error instanceof RangeError) {
      throw badPalette(`segmented ${channel.name} palette ${tagName(channel.segmented)}: ${error.message}`);
    }
    throw error;
  }
}

/**
 * Expands Segmented Palette Color Lookup Table Data (PS3.3 C.7.9.2) to `expected` entries:
 * discrete segments (opcode 0) copy their values; linear segments (1) draw a straight line from
 * the previous segment's last entry (X0, Y0), excluded, to (X0 + length, Y1), included, each
 * entry rounded to the nearest integer (halves up); indirect segments (2) re-expand `count`
 * segments starting at a byte offset from the beginning of the data (32 bits, least significant
 * 16 first), which must not themselves be indirect. `bytesPerEntry` is 1 or 2. Throws RangeError
 * for an unknown opcode, a segment that runs past the data, a linear or indirect first segment,
 * or a result that is not exactly `expected` entries long.
 *
 * Note: gdcm 3.0 draws linear segments one entry late (from Y0 up to but excluding Y1); pydicom
 * and the standard's figure end each segment on Y1, as here.
 */
export function expandSegmentedLut(
  segments: ArrayLike<number>,
  expected: number,
  bytesPerEntry: 1 | 2,
): Uint16Array {
  const out = new Uint16Array(expected);
  let count = 0;
  const push = (value: number): void => {
    if (count >= expected) throw new RangeError(`expands to more than the descriptor's ${expected} entries`);
    out[count++] = value;
  };
  const offsetEntries = bytesPerEntry === 2 ? 2 : 4;

  /** Expands segments from `start`; at most `limit` of them. Returns how many were expanded. */
  const expand = (start: number, limit: number, copying: boolean): number => {
    let pos = start;
    let done = 0;
    // A lone trailing entry is padding (an odd number of 8-bit entries in an OW value).
    while (done < limit && pos + 1 < segments.length) {
      const opcode = segments[pos]!;
      const length = segments[pos + 1]!;
      switch (opcode) {
        case 0: {
          if (pos + 2 + length > segments.length)
            throw new RangeError('a discrete segment runs past the data');
          for (let i = 0; i < length; i++) push(segments[pos + 2 + i]!);
          pos += 2 + length;
          break;
        }
        case 1: {
          if (count === 0) throw new RangeError('the first segment is linear (it needs a previous value)');
          if (pos + 2 >= segments.length) throw new RangeError('a linear segment runs past the data');
          const y0 = out[count - 1]!;
          const y1 = segments[pos + 2]!;
          for (let i = 1; i <= length; i++) push(Math.round(y0 + ((y1 - y0) * i) / length));
          pos += 3;
          break;
        }
        case 2: {
          if (copying) throw new RangeError('an indirect segment copies another indirect segment');
          if (count === 0) throw new RangeError('the first segment is indirect');
          if (pos + 2 + offsetEntries > segments.length)
            throw new RangeError('an indirect segment runs past the data');
          const byteOffset =
            bytesPerEntry === 2
              ? segments[pos + 2]! + segments[pos + 3]! * 0x10000
              : segments[pos + 2]! +
                segments[pos + 3]! * 0x100 +
                (segments[pos + 4]! + segments[pos + 5]! * 0x100) * 0x10000;
          if (byteOffset % bytesPerEntry !== 0 || byteOffset / bytesPerEntry >= segments.length) {
            throw new RangeError(`an indirect segment points to byte ${byteOffset}, outside the data`);
          }
          if (expand(byteOffset / bytesPerEntry, length, true) < length) {
            throw new RangeError('an indirect segment copies more segments than follow its target');
          }
          pos += 2 + offsetEntries;
          break;
        }
        default:
          throw new RangeError(`unknown segment opcode ${opcode}`);
      }
      done++;
    }
    return done;
  };

  expand(0, Number.POSITIVE_INFINITY, false);
  if (count !== expected)
    throw new RangeError(`expands to ${count} entries, the descriptor says ${expected}`);
  return out;
}
