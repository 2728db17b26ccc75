/**
 * Typed reads of data elements from a dicom-parser DataSet: strings, multi-valued numbers, US
 * values, sequence items and LUTs (PS3.3 C.11.1.1). Absent or empty elements read as undefined
 * (or []), so that callers decide what a missing attribute means.
 */
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import type { LookupTable } from './types.js';

/** A text value with trailing NULs and surrounding spaces removed; undefined when absent or empty. */
export function stringValue(dataSet: DataSet, tag: string): string | undefined {
  const element = dataSet.elements[tag];
  if (element === undefined || element.length === 0) return undefined;
  const text = dicomParser
    .readFixedString(dataSet.byteArray, element.dataOffset, element.length)
    .replace(/\0+$/, '')
    .trim();
  return text === '' ? undefined : text;
}

/** The backslash-separated values of a text element. */
export function stringValues(dataSet: DataSet, tag: string): string[] {
  const text = stringValue(dataSet, tag);
  return text === undefined ? [] : text.split('\\').map((value) => value.trim());
}

/** DS / IS values as numbers; an empty or unparsable value is NaN. */
export function numberValues(dataSet: DataSet, tag: string): number[] {
  return stringValues(dataSet, tag).map((value) => (value === '' ? Number.NaN : Number(value)));
}

/** Value `index` of a US element. */
export function uint16(dataSet: DataSet, tag: string, index = 0): number | undefined {
  const element = dataSet.elements[tag];
  if (element === undefined || element.length < (index + 1) * 2) return undefined;
  return dataSet.byteArrayParser.readUint16(dataSet.byteArray, element.dataOffset + index * 2);
}

/** The data set of a sequence's first item. */
export function firstItem(dataSet: DataSet, tag: string): DataSet | undefined {
  return dataSet.elements[tag]?.items?.[0]?.dataSet;
}

/** A LUT Descriptor (PS3.3 C.11.1.1): entries (0 means 65536), first mapped value, bits per entry. */
export interface LutDescriptor {
  readonly entries: number;
  readonly firstMapped: number;
  readonly bitsPerEntry: number;
}

/**
 * Reads a LUT Descriptor; the first mapped value is SS when stored values are signed (C.11.1.1).
 * Undefined when it has fewer than three values.
 */
export function readLutDescriptor(
  dataSet: DataSet,
  tag: string,
  signedFirstMapped: boolean,
): LutDescriptor | undefined {
  const entriesValue = uint16(dataSet, tag, 0);
  const firstValue = uint16(dataSet, tag, 1);
  const bitsPerEntry = uint16(dataSet, tag, 2);
  if (entriesValue === undefined || firstValue === undefined || bitsPerEntry === undefined) return undefined;
  return {
    entries: entriesValue === 0 ? 65536 : entriesValue,
    firstMapped: signedFirstMapped && firstValue >= 0x8000 ? firstValue - 0x10000 : firstValue,
    bitsPerEntry,
  };
}

/**
 * A LUT from its descriptor and data (PS3.3 C.11.1.1): a first value of 0 means 65536 entries,
 * the first mapped value is SS when stored values are signed, and 8-bit entries may be packed
 * two per word or written one per 16-bit word (some writers put them in the high byte).
 */
export function readLut(
  dataSet: DataSet,
  descriptorTag: string,
  dataTag: string,
  signedFirstMapped: boolean,
  explanation?: string,
): LookupTable | undefined {
  const descriptor = readLutDescriptor(dataSet, descriptorTag, signedFirstMapped);
  const dataElement = dataSet.elements[dataTag];
  if (descriptor === undefined || dataElement === undefined) return undefined;
  const { entries, firstMapped, bitsPerEntry } = descriptor;
  const { byteArray, byteArrayParser } = dataSet;
  const offset = dataElement.dataOffset;
  let data: Uint16Array;
  if (bitsPerEntry <= 8 && dataElement.length >= entries && dataElement.length < entries * 2) {
    data = Uint16Array.from(byteArray.subarray(offset, offset + entries));
  } else {
    const count = Math.min(entries, Math.floor(dataElement.length / 2));
    data = new Uint16Array(count);
    for (let i = 0; i < count; i++) data[i] = byteArrayParser.readUint16(byteArray, offset + i * 2);
    if (bitsPerEntry <= 8 && data.some((value) => value > 0xff)) {
      for (let i = 0; i < count; i++) data[i] = data[i]! >>> 8;
    }
  }
  if (data.length === 0) return undefined;
  return { firstMapped, bitsPerEntry, data, ...(explanation === undefined ? {} : { explanation }) };
}
