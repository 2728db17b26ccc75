import type { TransferSyntaxUid } from './uids.js';
import type { DecodeWarning } from './warnings.js';

/** Typed arrays that hold stored pixel values (before any LUT). */
export type StoredSamples = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/**
 * A decoded frame's samples: integer stored values, or Float32Array for Float Pixel Data and
 * Double Float Pixel Data (7FE0,0008 / 7FE0,0009), whose values are used as they are.
 */
export type FrameSamples = StoredSamples | Float32Array;

/** A lookup table as PS3.3 C.11.1 describes it (LUT Descriptor + LUT Data). */
export interface LookupTable {
  /** Stored (or modality) value mapped to the first entry. */
  readonly firstMapped: number;
  /** Bits per entry from the descriptor's third value (8 or 16; PS3.3 C.11.1.1). */
  readonly bitsPerEntry: number;
  /** The entries, already unpacked to one number per entry. */
  readonly data: Uint16Array;
  /** LUT Explanation (0028,3003) where present. */
  readonly explanation?: string;
}

/** Modality LUT module (PS3.3 C.11.1): a linear rescale or an explicit table. */
export type ModalityLut =
  | { readonly kind: 'identity' }
  | { readonly kind: 'rescale'; readonly slope: number; readonly intercept: number; readonly type?: string }
  | { readonly kind: 'table'; readonly lut: LookupTable; readonly type?: string };

export type VoiLutFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface VoiWindow {
  readonly center: number;
  readonly width: number;
  readonly explanation?: string;
}

/** VOI LUT module (PS3.3 C.11.2): windows and/or tables; empty when the file has neither. */
export interface VoiLut {
  readonly windows: readonly VoiWindow[];
  readonly function: VoiLutFunction;
  readonly tables: readonly LookupTable[];
}

/** Palette Color Lookup Table module (PS3.3 C.7.9). */
export interface Palette {
  readonly red: LookupTable;
  readonly green: LookupTable;
  readonly blue: LookupTable;
}

/** Image Pixel module attributes (PS3.3 C.7.6.3) that decoding depends on. */
export interface PixelModule {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly photometricInterpretation: string;
  /** 64 only for Double Float Pixel Data. */
  readonly bitsAllocated: 1 | 8 | 16 | 32 | 64;
  readonly bitsStored: number;
  readonly highBit: number;
  /** 0 unsigned, 1 two's complement. */
  readonly pixelRepresentation: 0 | 1;
  /** 0 colour-by-pixel (RGBRGB...), 1 colour-by-plane (RRR...GGG...BBB...). */
  readonly planarConfiguration: 0 | 1;
  readonly numberOfFrames: number;
  readonly palette?: Palette;
  /**
   * Set when the pixels are Float Pixel Data (7FE0,0008, 'float32') or Double Float Pixel Data
   * (7FE0,0009, 'float64') instead of integer Pixel Data (7FE0,0010).
   */
  readonly floatingPoint?: 'float32' | 'float64';
}

/** Tags that describe acquisition and equipment; safe to log and to use as metric labels. */
export interface TechnicalTags {
  readonly modality?: string;
  readonly sopClassUid?: string;
  readonly manufacturer?: string;
  readonly manufacturerModelName?: string;
  readonly institutionName?: string;
  readonly viewPosition?: string;
  readonly bodyPartExamined?: string;
  readonly imageType?: string;
}

/** Identifiers of the object in the DICOM information model (no patient identity). */
export interface InstanceUids {
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
}

/**
 * Everything about an image except its pixels. `patientId` is carried only so that a caller can
 * hash it with a salt for joins; it must never be logged, printed, exported or used as a label.
 * Patient name is not read at all.
 */
export interface DicomImageInfo {
  readonly transferSyntaxUid: TransferSyntaxUid;
  /** The frame `modalityLut` and `voi` describe (they may differ per frame, see functionalGroups). */
  readonly frameIndex: number;
  /** True when the file lacked the 128-byte preamble + "DICM" and/or file meta information. */
  readonly hadPreamble: boolean;
  readonly hadFileMeta: boolean;
  readonly pixel: PixelModule;
  readonly modalityLut: ModalityLut;
  readonly voi: VoiLut;
  /**
   * Where the Modality LUT and VOI came from when an enhanced image's Shared or Per-frame
   * Functional Groups (5200,9229 / 5200,9230; PS3.3 C.7.6.16) supplied them instead of the
   * top-level attributes.
   */
  readonly functionalGroups?: {
    readonly modalityLut?: FunctionalGroupSource;
    readonly voi?: FunctionalGroupSource;
  };
  readonly technical: TechnicalTags;
  readonly uids: InstanceUids;
  /** Header-level warnings (see DecodeWarning); a decode adds its codec's own. */
  readonly warnings: readonly DecodeWarning[];
  readonly patientId?: string;
}

/** Which functional group sequence an attribute was read from. */
export type FunctionalGroupSource = 'shared' | 'per-frame';

/**
 * One decoded frame in stored-value space: unused high bits masked, signed values sign-extended
 * from BitsStored, colour converted to interleaved RGB (palette and YBR included), no LUT applied.
 * `photometricInterpretation` is what the samples are now: MONOCHROME1, MONOCHROME2 or RGB.
 */
export interface DecodedFrame {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2' | 'RGB';
  /**
   * Row-major; for RGB interleaved R,G,B per pixel. Length rows * columns * samplesPerPixel.
   * Float32Array for floating point Pixel Data (values as stored, no LUT applies).
   */
  readonly samples: FrameSamples;
  /** Bits per sample that are meaningful after conversion (BitsStored, palette entry bits, 32 for float). */
  readonly bitsStored: number;
  readonly signed: boolean;
  /**
   * Set when the codec decoded a reduced resolution level (DecodeFrameOptions.minSize): rows and
   * columns above are then the reduced ones, each side about 1 / 2^level of the stored image's.
   */
  readonly resolutionLevel?: number;
  /**
   * Set only with DecodeFrameOptions.deferHighBitCheck: `samples` are 16-bit values as stored and
   * may have bits set at or above `bitsStored` (overlays, garbage). Verify or mask (maskHighBits)
   * before using them.
   */
  readonly highBitsUnchecked?: true;
}

/** What a codec needs to know about the frame it decodes. */
export interface EncodedFrameInfo {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly bitsAllocated: 1 | 8 | 16 | 32;
  readonly bitsStored: number;
  readonly pixelRepresentation: 0 | 1;
  readonly planarConfiguration: 0 | 1;
  readonly photometricInterpretation: string;
  /**
   * A codec that can decode a reduced resolution level (JPEG 2000, HTJ2K, JPEG DCT) may return
   * the frame reduced by 2^level on each side, as long as both sides stay at least this large; it
   * then says so in CodecOutput.reduced. Other codecs ignore it.
   */
  readonly minSize?: { readonly columns: number; readonly rows: number };
}

/**
 * What a codec returns: the samples in the same layout as native (uncompressed) Pixel Data of
 * the same frame would have, plus whether a colour transform already produced RGB.
 * - `samples`: 8-bit sample data as Uint8Array (or Int8Array), up to 16 bits as Uint16Array /
 *   Int16Array, interleaved unless `planar` is true.
 * - `colorSpace`: 'RGB' when the codec converted YCbCr to RGB itself (JPEG baseline with YBR_FULL_422,
 *   JPEG 2000 with an MCT), otherwise 'as-stored'.
 */
export interface CodecOutput {
  readonly samples: StoredSamples;
  readonly planar: boolean;
  readonly colorSpace: 'RGB' | 'as-stored';
  /** What the codec tolerated (e.g. a libjpeg warning it decoded through). */
  readonly warnings?: readonly DecodeWarning[];
  /** Set when the samples are a reduced resolution level (EncodedFrameInfo.minSize). */
  readonly reduced?: { readonly level: number; readonly columns: number; readonly rows: number };
}

/** Typed arrays a decoder allocates per frame: stored samples plus float scratch. */
export type SampleArray = StoredSamples | Float32Array | Float64Array;

/** A typed array constructor (Uint16Array, Float32Array...) as a SampleAllocator receives it. */
export interface SampleArrayType<T extends SampleArray> {
  new (length: number): T;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * Where decoders get their large per-frame arrays (see FrameBufferCache). Arrays it returns may
 * hold stale data: a decoder using one must write every element it later reads.
 */
export interface SampleAllocator {
  /** An array of exactly `length` elements. */
  allocate<T extends SampleArray>(type: SampleArrayType<T>, length: number): T;
  /** Called by decodeFrame before each frame: arrays handed out earlier may be reused from now on. */
  startFrame?(): void;
}

/**
 * A decoder for one transfer syntax's encapsulated frame. Throws DicomRejectedError('corrupt_stream')
 * on bad input. With `buffers`, its output arrays come from there instead of being allocated.
 */
export type FrameCodec = (
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
) => Promise<CodecOutput>;
