import dicomParser from 'dicom-parser';
import type { DataSet, Element, Fragment } from 'dicom-parser';
import { frameDecoderFor } from './codecs/index.js';
import { DicomRejectedError } from './errors.js';
import { parseDicomBytes, type ParsedDicom } from './parse.js';
import { extractNativeFrame, nativePixelDataLength, toDecodedFrame } from './pixels.js';
import { Tag } from './tags.js';
import type {
  DecodedFrame,
  DicomImageInfo,
  EncodedFrameInfo,
  InstanceUids,
  LookupTable,
  ModalityLut,
  Palette,
  PixelModule,
  SampleAllocator,
  TechnicalTags,
  VoiLut,
  VoiLutFunction,
  VoiWindow,
} from './types.js';
import { isKnownTransferSyntax, TransferSyntax, type TransferSyntaxUid } from './uids.js';

/** A decoded frame together with the image description it was decoded with. */
export interface DecodeFrameResult {
  readonly info: DicomImageInfo;
  readonly frame: DecodedFrame;
  readonly frameIndex: number;
}

export interface DecodeFrameOptions {
  /** Zero-based frame index; 0 by default. */
  readonly frame?: number;
  /**
   * Where to allocate the frame's sample arrays, e.g. a FrameBufferCache kept per thread so that
   * decoding allocates no large arrays in steady state. The returned samples then alias the
   * allocator's memory and are valid only until the next decodeFrame call with it. Without it
   * (the default) every array is fresh and the result is the caller's to keep.
   */
  readonly buffers?: SampleAllocator;
  /**
   * Called with the header once it has been read, before any pixel is decoded: throwing (a
   * DicomRejectedError, e.g. `not_applicable`) refuses the image without the cost of decoding it.
   */
  readonly checkHeader?: (info: DicomImageInfo) => void;
  /**
   * Rows x Columns above this are rejected (`image_too_large`) from the header, before any pixel
   * memory is allocated; default `DEFAULT_MAX_IMAGE_PIXELS`.
   */
  readonly maxImagePixels?: number;
}

/**
 * Default pixel limit of one frame: 8192 x 8192, twice the area of the largest real CR/DX
 * (a 50 um mammography CR is about 4800 x 6000, a stitched long-leg DX about 3000 x 9000) and
 * below sharp's own 16383 x 16383 limit, which would otherwise fail the resize with an error
 * that is no reject reason. Decoding such a frame to the model input takes about 1 GB.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192;

/** Reads everything about the image except its pixels. Throws DicomRejectedError for unusable input. */
export function readDicomInfo(bytes: Uint8Array): DicomImageInfo {
  return describe(parseDicomBytes(bytes));
}

/** Parses the file once and decodes one frame to stored values (no LUT applied). */
export async function decodeFrame(
  bytes: Uint8Array,
  options?: DecodeFrameOptions,
): Promise<DecodeFrameResult> {
  const parsed = parseDicomBytes(bytes);
  const info = describe(parsed);
  options?.checkHeader?.(info);
  const maxPixels = options?.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  const { rows, columns } = info.pixel;
  if (rows * columns > maxPixels) {
    throw new DicomRejectedError(
      'image_too_large',
      `image of ${columns}x${rows} pixels exceeds the limit of ${maxPixels} pixels`,
    );
  }
  const frameIndex = options?.frame ?? 0;
  const frames = info.pixel.numberOfFrames;
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= frames) {
    throw new DicomRejectedError(
      'frame_out_of_range',
      `frame ${frameIndex} requested, the image has ${frames}`,
    );
  }
  const element = parsed.dataSet.elements[Tag.PixelData]!;
  const decoder = frameDecoderFor(info.transferSyntaxUid);
  const buffers = options?.buffers;
  buffers?.startFrame?.();
  if (decoder === 'native') {
    return { info, frame: decodeNativeFrame(parsed, element, info.pixel, frameIndex, buffers), frameIndex };
  }

  const encoded = encapsulatedFrame(parsed, element, frameIndex, frames, info.transferSyntaxUid);
  const output = await decoder(encoded, encodedFrameInfo(info.pixel), buffers).catch((error: unknown) => {
    if (error instanceof DicomRejectedError) throw error;
    throw new DicomRejectedError(
      'corrupt_stream',
      `${info.transferSyntaxUid} decoder failed: ${oneLine(error)}`,
      {
        cause: error,
      },
    );
  });
  return { info, frame: toDecodedFrame(output, info.pixel, buffers), frameIndex };
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : 'unknown error';
  return text.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 160);
}

function encodedFrameInfo(pixel: PixelModule): EncodedFrameInfo {
  return {
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: pixel.samplesPerPixel,
    bitsAllocated: pixel.bitsAllocated,
    bitsStored: pixel.bitsStored,
    pixelRepresentation: pixel.pixelRepresentation,
    planarConfiguration: pixel.planarConfiguration,
    photometricInterpretation: pixel.photometricInterpretation,
  };
}

function decodeNativeFrame(
  parsed: ParsedDicom,
  element: Element,
  pixel: PixelModule,
  frameIndex: number,
  buffers: SampleAllocator | undefined,
): DecodedFrame {
  if (element.encapsulatedPixelData === true || element.hadUndefinedLength === true) {
    throw new DicomRejectedError('corrupt_stream', `encapsulated Pixel Data in a native transfer syntax`);
  }
  const expected = nativePixelDataLength(pixel);
  if (element.length < expected) {
    throw new DicomRejectedError(
      'pixel_data_short',
      `Pixel Data has ${element.length} bytes, ${pixel.rows}x${pixel.columns}x${pixel.samplesPerPixel}x${pixel.numberOfFrames} frames at ${pixel.bitsAllocated} bits needs ${expected}`,
    );
  }
  const { byteArray } = parsed.dataSet;
  if (element.dataOffset + expected > byteArray.length) {
    throw new DicomRejectedError('truncated', 'file ends inside Pixel Data');
  }
  const pixelData = byteArray.subarray(element.dataOffset, element.dataOffset + element.length);
  return extractNativeFrame(
    pixelData,
    frameIndex,
    pixel,
    { bigEndian: parsed.bigEndian, vr: element.vr },
    buffers,
  );
}

const JPEG_FAMILY: ReadonlySet<string> = new Set([
  TransferSyntax.JpegBaseline8Bit,
  TransferSyntax.JpegExtended12Bit,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLosslessSV1,
]);

/**
 * The bytes of one frame of encapsulated Pixel Data (PS3.5 A.4): located through the Extended
 * Offset Table or the Basic Offset Table when present, else one fragment per frame when the
 * counts match, else all fragments for a single frame. Copies only when a frame spans fragments.
 */
function encapsulatedFrame(
  parsed: ParsedDicom,
  element: Element,
  frameIndex: number,
  frames: number,
  uid: TransferSyntaxUid,
): Uint8Array {
  const fragments = element.fragments;
  if (element.encapsulatedPixelData !== true || fragments === undefined || fragments.length === 0) {
    throw new DicomRejectedError('corrupt_stream', `${uid} requires encapsulated Pixel Data with fragments`);
  }
  const bot = element.basicOffsetTable ?? [];
  let offsets: readonly number[] | undefined;
  if (parsed.extendedOffsets !== undefined && parsed.extendedOffsets.length >= frames) {
    offsets = parsed.extendedOffsets;
  } else if (bot.length >= frames && bot.length > 0) {
    offsets = bot;
  }

  let selected: Fragment[];
  if (offsets !== undefined) {
    selected = fragmentsBetween(fragments, offsets, frameIndex);
  } else if (fragments.length === frames) {
    selected = [fragments[frameIndex]!];
  } else if (frames === 1) {
    selected = fragments;
  } else if (JPEG_FAMILY.has(uid)) {
    // No offset table and several fragments per frame: find frame starts by JPEG SOI markers.
    let table: number[];
    try {
      table = dicomParser.createJPEGBasicOffsetTable(parsed.dataSet, element);
    } catch (error) {
      throw new DicomRejectedError('corrupt_stream', `cannot locate JPEG frames: ${oneLine(error)}`, {
        cause: error,
      });
    }
    selected = fragmentsBetween(fragments, table, frameIndex);
  } else {
    throw new DicomRejectedError(
      'corrupt_stream',
      `${fragments.length} fragments for ${frames} frames and no offset table: cannot locate frame ${frameIndex}`,
    );
  }
  return joinFragments(parsed.dataSet, selected);
}

function fragmentsBetween(fragments: Fragment[], offsets: readonly number[], frameIndex: number): Fragment[] {
  const start = offsets[frameIndex];
  const end = offsets[frameIndex + 1] ?? Number.POSITIVE_INFINITY;
  const selected = fragments.filter(
    (fragment) => start !== undefined && fragment.offset >= start && fragment.offset < end,
  );
  if (selected.length === 0) {
    throw new DicomRejectedError(
      'corrupt_stream',
      `offset table entry for frame ${frameIndex} matches no fragment`,
    );
  }
  return selected;
}

function joinFragments(dataSet: DataSet, fragments: readonly Fragment[]): Uint8Array {
  const { byteArray } = dataSet;
  let total = 0;
  for (const fragment of fragments) {
    if (fragment.position + fragment.length > byteArray.length) {
      throw new DicomRejectedError('truncated', 'file ends inside a Pixel Data fragment');
    }
    total += fragment.length;
  }
  const only = fragments.length === 1 ? fragments[0] : undefined;
  if (only !== undefined) return byteArray.subarray(only.position, only.position + only.length);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const fragment of fragments) {
    joined.set(byteArray.subarray(fragment.position, fragment.position + fragment.length), at);
    at += fragment.length;
  }
  return joined;
}

// ---------------------------------------------------------------------------------------------
// Attribute reading

function stringValue(dataSet: DataSet, tag: string): string | undefined {
  const element = dataSet.elements[tag];
  if (element === undefined || element.length === 0) return undefined;
  const text = dicomParser
    .readFixedString(dataSet.byteArray, element.dataOffset, element.length)
    .replace(/\0+$/, '')
    .trim();
  return text === '' ? undefined : text;
}

function stringValues(dataSet: DataSet, tag: string): string[] {
  const text = stringValue(dataSet, tag);
  return text === undefined ? [] : text.split('\\').map((value) => value.trim());
}

function numberValues(dataSet: DataSet, tag: string): number[] {
  return stringValues(dataSet, tag).map((value) => (value === '' ? Number.NaN : Number(value)));
}

function uint16(dataSet: DataSet, tag: string, index = 0): number | undefined {
  const element = dataSet.elements[tag];
  if (element === undefined || element.length < (index + 1) * 2) return undefined;
  return dataSet.byteArrayParser.readUint16(dataSet.byteArray, element.dataOffset + index * 2);
}

function firstItem(dataSet: DataSet, tag: string): DataSet | undefined {
  return dataSet.elements[tag]?.items?.[0]?.dataSet;
}

function describe(parsed: ParsedDicom): DicomImageInfo {
  const { dataSet } = parsed;
  const uid = parsed.transferSyntaxUid;
  if (!isKnownTransferSyntax(uid)) {
    throw new DicomRejectedError(
      'unsupported_transfer_syntax',
      `transfer syntax ${uid.replace(/[^0-9.]/g, '?').slice(0, 64)} is not supported`,
    );
  }
  if (dataSet.elements[Tag.PixelData] === undefined) {
    if (
      dataSet.elements[Tag.FloatPixelData] !== undefined ||
      dataSet.elements[Tag.DoubleFloatPixelData] !== undefined
    ) {
      throw new DicomRejectedError('unsupported_pixel_module', 'floating point Pixel Data (7FE0,0008/0009)');
    }
    throw new DicomRejectedError('no_pixel_data', 'no Pixel Data (7FE0,0010) in the data set');
  }
  const pixel = readPixelModule(dataSet);
  const patientId = stringValue(dataSet, Tag.PatientId);
  return {
    transferSyntaxUid: uid,
    hadPreamble: parsed.hadPreamble,
    hadFileMeta: parsed.hadFileMeta,
    pixel,
    modalityLut: readModalityLut(dataSet, pixel.pixelRepresentation),
    voi: readVoiLut(dataSet, pixel.pixelRepresentation),
    technical: readTechnicalTags(dataSet),
    uids: readInstanceUids(dataSet),
    ...(patientId === undefined ? {} : { patientId }),
  };
}

const SUPPORTED_PHOTOMETRIC = new Set([
  'MONOCHROME1',
  'MONOCHROME2',
  'PALETTE COLOR',
  'RGB',
  'YBR_FULL',
  'YBR_FULL_422',
  // Valid only for compressed syntaxes; pixels.ts accepts them only when a codec produced RGB.
  'YBR_PARTIAL_420',
  'YBR_PARTIAL_422',
  'YBR_ICT',
  'YBR_RCT',
]);

function badModule(message: string): DicomRejectedError {
  return new DicomRejectedError('unsupported_pixel_module', message);
}

/** Image Pixel module (PS3.3 C.7.6.3) with its consistency rules checked. */
function readPixelModule(dataSet: DataSet): PixelModule {
  const rows = uint16(dataSet, Tag.Rows);
  const columns = uint16(dataSet, Tag.Columns);
  if (rows === undefined || columns === undefined || rows === 0 || columns === 0) {
    throw badModule('missing or zero Rows (0028,0010) / Columns (0028,0011)');
  }
  const samplesPerPixel = uint16(dataSet, Tag.SamplesPerPixel) ?? 1;
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) throw badModule(`Samples per Pixel ${samplesPerPixel}`);
  const bitsAllocated = uint16(dataSet, Tag.BitsAllocated);
  if (bitsAllocated !== 1 && bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw badModule(`Bits Allocated ${bitsAllocated ?? 'missing'}`);
  }
  const bitsStored = uint16(dataSet, Tag.BitsStored) ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw badModule(`Bits Stored ${bitsStored} with Bits Allocated ${bitsAllocated}`);
  }
  const highBit = uint16(dataSet, Tag.HighBit) ?? bitsStored - 1;
  if (highBit < bitsStored - 1 || highBit > bitsAllocated - 1) {
    throw badModule(`High Bit ${highBit} with Bits Stored ${bitsStored} and Bits Allocated ${bitsAllocated}`);
  }
  const pixelRepresentation = uint16(dataSet, Tag.PixelRepresentation) ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw badModule(`Pixel Representation ${pixelRepresentation}`);
  }
  const planar = samplesPerPixel === 3 ? (uint16(dataSet, Tag.PlanarConfiguration) ?? 0) : 0;
  if (planar !== 0 && planar !== 1) throw badModule(`Planar Configuration ${planar}`);
  if (bitsAllocated === 1 && samplesPerPixel !== 1) throw badModule('Bits Allocated 1 with colour samples');

  const photometricInterpretation =
    stringValue(dataSet, Tag.PhotometricInterpretation)?.toUpperCase() ??
    (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2');
  if (!SUPPORTED_PHOTOMETRIC.has(photometricInterpretation)) {
    throw new DicomRejectedError(
      'unsupported_photometric',
      `photometric interpretation ${JSON.stringify(photometricInterpretation.replace(/[^A-Z0-9_ ]/g, '?').slice(0, 32))} is not supported`,
    );
  }
  const framesValue = numberValues(dataSet, Tag.NumberOfFrames)[0];
  const numberOfFrames =
    framesValue !== undefined && Number.isInteger(framesValue) && framesValue >= 1 ? framesValue : 1;
  const palette = photometricInterpretation === 'PALETTE COLOR' ? readPalette(dataSet) : undefined;
  return {
    rows,
    columns,
    samplesPerPixel,
    photometricInterpretation,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation,
    planarConfiguration: planar,
    numberOfFrames,
    ...(palette === undefined ? {} : { palette }),
  };
}

/**
 * A LUT from its descriptor and data (PS3.3 C.11.1.1): a first value of 0 means 65536 entries,
 * the first mapped value is SS when stored values are signed, and 8-bit entries may be packed
 * two per word or written one per 16-bit word (some writers put them in the high byte).
 */
function readLut(
  dataSet: DataSet,
  descriptorTag: string,
  dataTag: string,
  signedFirstMapped: boolean,
  explanation?: string,
): LookupTable | undefined {
  const entriesValue = uint16(dataSet, descriptorTag, 0);
  const firstValue = uint16(dataSet, descriptorTag, 1);
  const bitsPerEntry = uint16(dataSet, descriptorTag, 2);
  const dataElement = dataSet.elements[dataTag];
  if (
    entriesValue === undefined ||
    firstValue === undefined ||
    bitsPerEntry === undefined ||
    dataElement === undefined
  ) {
    return undefined;
  }
  const entries = entriesValue === 0 ? 65536 : entriesValue;
  const firstMapped = signedFirstMapped && firstValue >= 0x8000 ? firstValue - 0x10000 : firstValue;
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

/** Palette Color Lookup Table module (PS3.3 C.7.9); segmented palettes are not read. */
function readPalette(dataSet: DataSet): Palette | undefined {
  const red = readLut(dataSet, Tag.RedPaletteDescriptor, Tag.RedPaletteData, false);
  const green = readLut(dataSet, Tag.GreenPaletteDescriptor, Tag.GreenPaletteData, false);
  const blue = readLut(dataSet, Tag.BluePaletteDescriptor, Tag.BluePaletteData, false);
  return red && green && blue ? { red, green, blue } : undefined;
}

/** Modality LUT module (PS3.3 C.11.1): the Modality LUT Sequence wins over Rescale Slope/Intercept. */
function readModalityLut(dataSet: DataSet, pixelRepresentation: 0 | 1): ModalityLut {
  const item = firstItem(dataSet, Tag.ModalityLutSequence);
  if (item !== undefined) {
    const lut = readLut(
      item,
      Tag.LutDescriptor,
      Tag.LutData,
      pixelRepresentation === 1,
      stringValue(item, Tag.LutExplanation),
    );
    const type = stringValue(item, Tag.ModalityLutType);
    if (lut !== undefined) return { kind: 'table', lut, ...(type === undefined ? {} : { type }) };
  }
  const slope = numberValues(dataSet, Tag.RescaleSlope)[0];
  const intercept = numberValues(dataSet, Tag.RescaleIntercept)[0];
  if (slope === undefined && intercept === undefined) return { kind: 'identity' };
  const type = stringValue(dataSet, Tag.RescaleType);
  return {
    kind: 'rescale',
    // A zero or unparsable slope would flatten the image; treat it as absent (1).
    slope: slope !== undefined && Number.isFinite(slope) && slope !== 0 ? slope : 1,
    intercept: intercept !== undefined && Number.isFinite(intercept) ? intercept : 0,
    ...(type === undefined ? {} : { type }),
  };
}

/** VOI LUT module (PS3.3 C.11.2): all window pairs with explanations, the function, and tables. */
function readVoiLut(dataSet: DataSet, pixelRepresentation: 0 | 1): VoiLut {
  const centers = numberValues(dataSet, Tag.WindowCenter);
  const widths = numberValues(dataSet, Tag.WindowWidth);
  const explanations = stringValues(dataSet, Tag.WindowCenterWidthExplanation);
  const windows: VoiWindow[] = [];
  for (let i = 0; i < Math.min(centers.length, widths.length); i++) {
    const center = centers[i]!;
    const width = widths[i]!;
    // PS3.3 C.11.2.1.2: width must be >= 1 (> 0 for LINEAR_EXACT); others are unusable.
    if (!Number.isFinite(center) || !Number.isFinite(width) || width <= 0) continue;
    const explanation = explanations[i];
    windows.push({ center, width, ...(explanation ? { explanation } : {}) });
  }
  const fn = stringValue(dataSet, Tag.VoiLutFunction)?.toUpperCase();
  const voiFunction: VoiLutFunction = fn === 'LINEAR_EXACT' || fn === 'SIGMOID' ? fn : 'LINEAR';
  const tables: LookupTable[] = [];
  for (const item of dataSet.elements[Tag.VoiLutSequence]?.items ?? []) {
    if (item.dataSet === undefined) continue;
    const lut = readLut(
      item.dataSet,
      Tag.LutDescriptor,
      Tag.LutData,
      pixelRepresentation === 1,
      stringValue(item.dataSet, Tag.LutExplanation),
    );
    if (lut !== undefined) tables.push(lut);
  }
  return { windows, function: voiFunction, tables };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}

function readTechnicalTags(dataSet: DataSet): TechnicalTags {
  return {
    ...optional('modality', stringValue(dataSet, Tag.Modality)),
    ...optional('sopClassUid', stringValue(dataSet, Tag.SopClassUid)),
    ...optional('manufacturer', stringValue(dataSet, Tag.Manufacturer)),
    ...optional('manufacturerModelName', stringValue(dataSet, Tag.ManufacturerModelName)),
    ...optional('institutionName', stringValue(dataSet, Tag.InstitutionName)),
    ...optional('viewPosition', stringValue(dataSet, Tag.ViewPosition)),
    ...optional('bodyPartExamined', stringValue(dataSet, Tag.BodyPartExamined)),
    ...optional('imageType', stringValue(dataSet, Tag.ImageType)),
  };
}

function readInstanceUids(dataSet: DataSet): InstanceUids {
  return {
    ...optional('studyInstanceUid', stringValue(dataSet, Tag.StudyInstanceUid)),
    ...optional('seriesInstanceUid', stringValue(dataSet, Tag.SeriesInstanceUid)),
    ...optional('sopInstanceUid', stringValue(dataSet, Tag.SopInstanceUid)),
  };
}
