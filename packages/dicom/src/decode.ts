import dicomParser from 'dicom-parser';
import type { DataSet, Element, Fragment } from 'dicom-parser';
import { firstItem, numberValues, readLut, stringValue, stringValues, uint16 } from './attributes.js';
import { frameDecoderFor } from './codecs/index.js';
import { DicomRejectedError } from './errors.js';
import { frameFunctionalGroups, functionalGroupMacro } from './functional-groups.js';
import { readPalette } from './palette.js';
import { parseDicomBytes, type ParsedDicom } from './parse.js';
import { checkPixelMeaning } from './pixel-meaning.js';
import { extractFloatFrame, extractNativeFrame, nativePixelDataLength, toDecodedFrame } from './pixels.js';
import { Tag } from './tags.js';
import type {
  DecodedFrame,
  DicomImageInfo,
  EncodedFrameInfo,
  FunctionalGroupSource,
  InstanceUids,
  LookupTable,
  ModalityLut,
  PixelModule,
  SampleAllocator,
  TechnicalTags,
  VoiLut,
  VoiLutFunction,
  VoiWindow,
} from './types.js';
import {
  isKnownTransferSyntax,
  TRANSFER_SYNTAX_NAMES,
  TransferSyntax,
  type TransferSyntaxUid,
} from './uids.js';
import { decodeWarning, type DecodeWarning } from './warnings.js';

/** A decoded frame together with the image description it was decoded with. */
export interface DecodeFrameResult {
  /** The image description, with the Modality LUT and VOI of this frame. */
  readonly info: DicomImageInfo;
  readonly frame: DecodedFrame;
  readonly frameIndex: number;
  /** Everything tolerated on the way: the header's warnings (info.warnings) and the codec's. */
  readonly warnings: readonly DecodeWarning[];
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
  /**
   * JPEG 2000 and HTJ2K frames may be decoded at a reduced resolution level (each side 1/2^r
   * of the stored one, r up to the stream's decomposition levels) as long as both sides stay at
   * least this large: the frame's rows and columns are then the reduced ones and
   * `frame.resolutionLevel` says r. Other syntaxes ignore it. Default: full resolution.
   */
  readonly minSize?: { readonly columns: number; readonly rows: number };
  /**
   * For callers that check the samples themselves on their way through them (the model-input
   * box pass: renderMonochromeShrunk checks a flagged frame): native unsigned monochrome 16-bit
   * samples with Bits Stored below 16 and High Bit at Bits Stored - 1 are returned as stored,
   * without the read-only scan for bits above Bits Stored (3-4 ms on a 2048x2500 frame), and the
   * frame says so with `highBitsUnchecked`. Such a frame may hold overlay or garbage bits above
   * Bits Stored: the caller must verify it, or mask it (maskHighBits), before any other use.
   */
  readonly deferHighBitCheck?: boolean;
}

/**
/**
 * Default pixel limit of one frame: 8192 x 8192, twice the area of the largest real CR/DX
 * (a 50 um mammography CR is about 4800 x 6000, a stitched long-leg DX about 3000 x 9000) and
 * below sharp's own 16383 x 16383 limit, which would otherwise fail the resize with an error
 * that is no reject reason. Decoding such a frame to the model input takes about 1 GB.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192;

/**
 * Reads everything about the image except its pixels; the Modality LUT and VOI are those of frame
 * `options.frame` (0 by default: they differ per frame only in enhanced multi-frame images).
 * Throws DicomRejectedError for unusable input.
 */
export function readDicomInfo(bytes: Uint8Array, options?: { readonly frame?: number }): DicomImageInfo {
  return describe(parseDicomBytes(bytes), options?.frame ?? 0);
}

/** Parses the file once and decodes one frame to stored values (no LUT applied). */
export async function decodeFrame(
  bytes: Uint8Array,
  options?: DecodeFrameOptions,
): Promise<DecodeFrameResult> {
  const parsed = parseDicomBytes(bytes);
  const frameIndex = options?.frame ?? 0;
  const info = describe(parsed, frameIndex);
  options?.checkHeader?.(info);
  const maxPixels = options?.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  const { rows, columns } = info.pixel;
  if (rows * columns > maxPixels) {
    throw new DicomRejectedError(
      'image_too_large',
      `image of ${columns}x${rows} pixels exceeds the limit of ${maxPixels} pixels`,
    );
  }
  const frames = info.pixel.numberOfFrames;
  const buffers = options?.buffers;
  buffers?.startFrame?.();
  const decoder = frameDecoderFor(info.transferSyntaxUid);
  if (info.pixel.floatingPoint !== undefined) {
    if (decoder !== 'native') {
      throw new DicomRejectedError(
        'unsupported_pixel_module',
        `floating point Pixel Data in ${TRANSFER_SYNTAX_NAMES[info.transferSyntaxUid]} (only native syntaxes carry it)`,
      );
    }
    const frame = decodeFloatFrame(parsed, info.pixel, frameIndex, buffers);
    return { info, frame, frameIndex, warnings: info.warnings };
  }
  const element = parsed.dataSet.elements[Tag.PixelData]!;
  if (decoder === 'native') {
    const frame = decodeNativeFrame(
      parsed,
      element,
      info.pixel,
      frameIndex,
      buffers,
      options?.deferHighBitCheck === true,
    );
    return { info, frame, frameIndex, warnings: info.warnings };
  }

  checkEncapsulatedBitDepth(info.pixel, info.transferSyntaxUid);
  const encoded = encapsulatedFrame(parsed, element, frameIndex, frames, info.transferSyntaxUid);
  const frameInfo = encodedFrameInfo(info.pixel);
  const codecInfo = options?.minSize === undefined ? frameInfo : { ...frameInfo, minSize: options.minSize };
  const output = await decoder(encoded, codecInfo, buffers).catch((error: unknown) => {
    if (error instanceof DicomRejectedError) throw error;
    throw new DicomRejectedError(
      'corrupt_stream',
      `${info.transferSyntaxUid} decoder failed: ${oneLine(error)}`,
      {
        cause: error,
      },
    );
  });
  const warnings = output.warnings === undefined ? info.warnings : [...info.warnings, ...output.warnings];
  return { info, frame: toDecodedFrame(output, info.pixel, buffers), frameIndex, warnings };
}

/** Syntaxes whose decoders return one sample per byte for a 1-bit (precision 1) codestream. */
const ONE_BIT_SYNTAXES: ReadonlySet<TransferSyntaxUid> = new Set([
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.Htj2kLossless,
  TransferSyntax.Htj2kLosslessRpcl,
  TransferSyntax.Htj2k,
]);

/**
 * Bits Allocated 1 (segmentations, masks) is decoded natively and from JPEG 2000 / HTJ2K, whose
 * codestreams carry 1-bit components; JPEG, JPEG-LS and RLE define no 1-bit coding, so such a
 * file is refused with that reason rather than decoded into values no one can vouch for.
 */
function checkEncapsulatedBitDepth(pixel: PixelModule, uid: TransferSyntaxUid): void {
  if (pixel.bitsAllocated === 1 && !ONE_BIT_SYNTAXES.has(uid)) {
    throw new DicomRejectedError(
      'unsupported_pixel_module',
      `Bits Allocated 1 (a 1-bit image such as a segmentation) in ${TRANSFER_SYNTAX_NAMES[uid]} is not supported`,
    );
  }
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : 'unknown error';
  return text.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 160);
}

function encodedFrameInfo(pixel: PixelModule): EncodedFrameInfo {
  const { bitsAllocated } = pixel;
  // Only Double Float Pixel Data has 64 bits, and it is never encapsulated (decodeFrame).
  if (bitsAllocated === 64) throw new DicomRejectedError('unsupported_pixel_module', 'Bits Allocated 64');
  return {
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: pixel.samplesPerPixel,
    bitsAllocated,
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
  deferHighBitCheck: boolean,
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
    deferHighBitCheck,
  );
}

/** One frame of Float (OF) or Double Float (OD) Pixel Data (7FE0,0008 / 7FE0,0009), as float32. */
function decodeFloatFrame(
  parsed: ParsedDicom,
  pixel: PixelModule,
  frameIndex: number,
  buffers: SampleAllocator | undefined,
): DecodedFrame {
  const tag = pixel.floatingPoint === 'float64' ? Tag.DoubleFloatPixelData : Tag.FloatPixelData;
  const element = parsed.dataSet.elements[tag]!;
  if (element.hadUndefinedLength === true) {
    throw new DicomRejectedError('corrupt_stream', 'floating point Pixel Data with an undefined length');
  }
  const expected = nativePixelDataLength(pixel);
  if (element.length < expected) {
    throw new DicomRejectedError(
      'pixel_data_short',
      `${pixel.floatingPoint === 'float64' ? 'Double Float' : 'Float'} Pixel Data has ${element.length} bytes, ${pixel.rows}x${pixel.columns}x${pixel.numberOfFrames} frames at ${pixel.bitsAllocated} bits needs ${expected}`,
    );
  }
  const { byteArray } = parsed.dataSet;
  if (element.dataOffset + expected > byteArray.length) {
    throw new DicomRejectedError('truncated', 'file ends inside floating point Pixel Data');
  }
  const data = byteArray.subarray(element.dataOffset, element.dataOffset + expected);
  return extractFloatFrame(data, frameIndex, pixel, parsed.bigEndian, buffers);
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
  checkEncapsulationComplete(parsed.dataSet, element);
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

/**
 * Encapsulated Pixel Data ends with a Sequence Delimitation Item (FFFE,E0DD; PS3.5 A.4).
 * dicom-parser reads fragments up to the end of the file when it is missing, and takes a stray
 * tag for a fragment running to the end of the file. The first means the file was cut inside
 * Pixel Data: `truncated`, for every syntax and every frame, as for native data (a frame that
 * looks complete may still miss fragments, and JPEG 2000 decoders render a cut codestream at
 * lower quality without complaint). The second is a corrupt encapsulation.
 */
function checkEncapsulationComplete(dataSet: DataSet, element: Element): void {
  const { byteArray } = dataSet;
  const end = element.dataOffset + element.length;
  if (element.length === 0xffffffff || end > byteArray.length) {
    throw new DicomRejectedError(
      'truncated',
      'file ends inside encapsulated Pixel Data (no Sequence Delimitation Item after the last fragment)',
    );
  }
  // dicom-parser sets the length to end just after the delimiter (item tag FFFE,E0DD, little endian).
  const at = end - 8;
  if (
    byteArray[at] !== 0xfe ||
    byteArray[at + 1] !== 0xff ||
    byteArray[at + 2] !== 0xdd ||
    byteArray[at + 3] !== 0xe0
  ) {
    throw new DicomRejectedError(
      'corrupt_stream',
      'encapsulated Pixel Data holds a tag that is neither an item nor the Sequence Delimitation Item',
    );
  }
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

/** Which element holds the pixels (PS3.3 C.7.6.3: exactly one of the three). */
function pixelDataKind(dataSet: DataSet): PixelModule['floatingPoint'] | 'integer' {
  const present = [
    dataSet.elements[Tag.PixelData] === undefined ? undefined : ('integer' as const),
    dataSet.elements[Tag.FloatPixelData] === undefined ? undefined : ('float32' as const),
    dataSet.elements[Tag.DoubleFloatPixelData] === undefined ? undefined : ('float64' as const),
  ].filter((kind) => kind !== undefined);
  const only = present[0];
  if (only === undefined) {
    throw new DicomRejectedError('no_pixel_data', 'no Pixel Data (7FE0,0010, 0008 or 0009) in the data set');
  }
  if (present.length > 1) {
    throw new DicomRejectedError(
      'unsupported_pixel_module',
      'more than one of Pixel Data, Float Pixel Data and Double Float Pixel Data (7FE0,0010/0008/0009)',
    );
  }
  return only;
}

function describe(parsed: ParsedDicom, frameIndex: number): DicomImageInfo {
  const { dataSet } = parsed;
  const uid = parsed.transferSyntaxUid;
  if (!isKnownTransferSyntax(uid)) {
    throw new DicomRejectedError(
      'unsupported_transfer_syntax',
      `transfer syntax ${uid.replace(/[^0-9.]/g, '?').slice(0, 64)} is not supported`,
    );
  }
  const kind = pixelDataKind(dataSet);
  const pixel = readPixelModule(dataSet, kind === 'integer' ? undefined : kind);
  const frames = pixel.numberOfFrames;
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= frames) {
    throw new DicomRejectedError(
      'frame_out_of_range',
      `frame ${frameIndex} requested, the image has ${frames}`,
    );
  }
  checkPixelMeaning(dataSet, pixel);
  const warnings: DecodeWarning[] = [];
  const groups = frameFunctionalGroups(dataSet, frameIndex, frames);
  const signed = pixel.pixelRepresentation === 1;

  // Enhanced images keep rescale and VOI in functional groups (PS3.3 C.7.6.16.2.9-10); they win
  // over top-level attributes, which those IODs do not use.
  const transformation = functionalGroupMacro(groups, Tag.PixelValueTransformationSequence);
  const frameVoi = functionalGroupMacro(groups, Tag.FrameVoiLutSequence);
  // Float Pixel Data holds the values themselves: no Modality LUT applies (PS3.3 C.7.6.24).
  const modalityLut: ModalityLut =
    pixel.floatingPoint !== undefined
      ? { kind: 'identity' }
      : readModalityLut(transformation?.item ?? dataSet, signed, warnings);
  const voi = readVoiLut(frameVoi?.item ?? dataSet, signed, warnings);
  const fromGroups: { modalityLut?: FunctionalGroupSource; voi?: FunctionalGroupSource } = {
    ...(transformation === undefined || pixel.floatingPoint !== undefined
      ? {}
      : { modalityLut: transformation.source }),
    ...(frameVoi === undefined ? {} : { voi: frameVoi.source }),
  };

  const patientId = stringValue(dataSet, Tag.PatientId);
  return {
    transferSyntaxUid: uid,
    frameIndex,
    hadPreamble: parsed.hadPreamble,
    hadFileMeta: parsed.hadFileMeta,
    pixel,
    modalityLut,
    voi,
    ...(Object.keys(fromGroups).length === 0 ? {} : { functionalGroups: fromGroups }),
    technical: readTechnicalTags(dataSet),
    uids: readInstanceUids(dataSet),
    warnings,
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

/**
 * Image Pixel module (PS3.3 C.7.6.3) with its consistency rules checked, or for Float / Double
 * Float Pixel Data the Floating Point Image Pixel module (C.7.6.24): one sample per pixel,
 * MONOCHROME2, Bits Allocated 32 / 64 and no Bits Stored, High Bit or Pixel Representation.
 */
function readPixelModule(dataSet: DataSet, floatingPoint: PixelModule['floatingPoint']): PixelModule {
  const rows = uint16(dataSet, Tag.Rows);
  const columns = uint16(dataSet, Tag.Columns);
  if (rows === undefined || columns === undefined || rows === 0 || columns === 0) {
    throw badModule('missing or zero Rows (0028,0010) / Columns (0028,0011)');
  }
  const samplesPerPixel = uint16(dataSet, Tag.SamplesPerPixel) ?? 1;
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) throw badModule(`Samples per Pixel ${samplesPerPixel}`);
  const framesValue = numberValues(dataSet, Tag.NumberOfFrames)[0];
  const numberOfFrames =
    framesValue !== undefined && Number.isInteger(framesValue) && framesValue >= 1 ? framesValue : 1;
  if (floatingPoint !== undefined)
    return readFloatPixelModule(dataSet, floatingPoint, rows, columns, samplesPerPixel, numberOfFrames);
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

  const photometricInterpretation = readPhotometric(dataSet, samplesPerPixel);
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

function readPhotometric(dataSet: DataSet, samplesPerPixel: number): string {
  const photometricInterpretation =
    stringValue(dataSet, Tag.PhotometricInterpretation)?.toUpperCase() ??
    (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2');
  if (!SUPPORTED_PHOTOMETRIC.has(photometricInterpretation)) {
    throw new DicomRejectedError(
      'unsupported_photometric',
      `photometric interpretation ${JSON.stringify(photometricInterpretation.replace(/[^A-Z0-9_ ]/g, '?').slice(0, 32))} is not supported`,
    );
  }
  return photometricInterpretation;
}

function readFloatPixelModule(
  dataSet: DataSet,
  floatingPoint: 'float32' | 'float64',
  rows: number,
  columns: number,
  samplesPerPixel: number,
  numberOfFrames: number,
): PixelModule {
  const bits = floatingPoint === 'float32' ? 32 : 64;
  const bitsAllocated = uint16(dataSet, Tag.BitsAllocated) ?? bits;
  if (bitsAllocated !== bits) {
    throw badModule(
      `Bits Allocated ${bitsAllocated} with ${floatingPoint === 'float32' ? 'Float' : 'Double Float'} Pixel Data (${bits} required)`,
    );
  }
  const photometricInterpretation = readPhotometric(dataSet, samplesPerPixel);
  if (
    samplesPerPixel !== 1 ||
    (photometricInterpretation !== 'MONOCHROME2' && photometricInterpretation !== 'MONOCHROME1')
  ) {
    throw badModule(
      `floating point Pixel Data with ${samplesPerPixel} samples per pixel and ${photometricInterpretation}`,
    );
  }
  return {
    rows,
    columns,
    samplesPerPixel: 1,
    photometricInterpretation,
    bitsAllocated: bits,
    bitsStored: bits,
    highBit: bits - 1,
    pixelRepresentation: 1,
    planarConfiguration: 0,
    numberOfFrames,
    floatingPoint,
  };
}

/**
 * Modality LUT module (PS3.3 C.11.1): the Modality LUT Sequence wins over Rescale Slope/Intercept.
 * A table that cannot be read, or a rescale value that is not a number, is refused: falling back
 * to another transform would give values off by the rescale. A Rescale Slope of 0 (which would
 * flatten the image) is read as 1, with a warning.
 */
function readModalityLut(dataSet: DataSet, signed: boolean, warnings: DecodeWarning[]): ModalityLut {
  const item = firstItem(dataSet, Tag.ModalityLutSequence);
  if (item !== undefined) {
    const lut = readLut(item, Tag.LutDescriptor, Tag.LutData, signed, stringValue(item, Tag.LutExplanation));
    if (lut === undefined) {
      throw badModule('Modality LUT Sequence (0028,3000) item without a usable LUT Descriptor and LUT Data');
    }
    const type = stringValue(item, Tag.ModalityLutType);
    return { kind: 'table', lut, ...(type === undefined ? {} : { type }) };
  }
  const slope = numberValues(dataSet, Tag.RescaleSlope)[0];
  const intercept = numberValues(dataSet, Tag.RescaleIntercept)[0];
  if (slope === undefined && intercept === undefined) return { kind: 'identity' };
  if (
    (slope !== undefined && !Number.isFinite(slope)) ||
    (intercept !== undefined && !Number.isFinite(intercept))
  ) {
    throw badModule('Rescale Slope (0028,1053) or Rescale Intercept (0028,1052) is not a number');
  }
  if (slope === 0) {
    warnings.push(decodeWarning('rescale_slope_ignored', 'Rescale Slope (0028,1053) is 0; read as 1'));
  }
  const type = stringValue(dataSet, Tag.RescaleType);
  return {
    kind: 'rescale',
    slope: slope === undefined || slope === 0 ? 1 : slope,
    intercept: intercept ?? 0,
    ...(type === undefined ? {} : { type }),
  };
}

/** VOI LUT module (PS3.3 C.11.2): all window pairs with explanations, the function, and tables. */
function readVoiLut(dataSet: DataSet, signed: boolean, warnings: DecodeWarning[]): VoiLut {
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
    const lut =
      item.dataSet === undefined
        ? undefined
        : readLut(
            item.dataSet,
            Tag.LutDescriptor,
            Tag.LutData,
            signed,
            stringValue(item.dataSet, Tag.LutExplanation),
          );
    if (lut !== undefined) tables.push(lut);
    else {
      // Rendering falls back to a window or statistics, which the render result reports.
      warnings.push(
        decodeWarning(
          'voi_lut_unreadable',
          'VOI LUT Sequence (0028,3010) item without a usable LUT Descriptor and LUT Data skipped',
        ),
      );
    }
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
