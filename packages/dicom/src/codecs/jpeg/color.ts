// What a JPEG stream says about itself before its first scan, read the way libjpeg(-turbo) reads
// it (jdmarker.c, jdapimin.c default_decompress_parms), so that our decoders and the libjpeg-turbo
// wasm build agree with each other and with dcmtk/gdcm on every stream:
// - the colour space of a 3-component frame: a JFIF APP0 means YCbCr; else an Adobe APP14's
//   transform flag decides (0 RGB, 1 YCbCr, anything else YCbCr with a warning); else component
//   ids 'R','G','B' mean RGB and any other ids (DICOM's usual 1,2,3) YCbCr;
// - quirks libjpeg only warns about and decodes through: scan headers of a sequential (SOF0/SOF1)
//   frame whose spectral selection / successive approximation fields are not 0, 63, 0, 0 (IJG
//   jdhuff.c: "Invalid SOS parameters for sequential JPEG"; GE archives hold such files), and an
//   Adobe transform flag other than 0 or 1.
import type { EncodedFrameInfo } from '../../types.js';
import { decodeWarning, type DecodeWarning } from '../../warnings.js';

/** How libjpeg decides the colour space of a 3-component stream, for messages. */
export type JpegColorEvidence =
  | 'JFIF APP0 marker'
  | 'Adobe APP14 transform 0'
  | 'Adobe APP14 transform 1'
  | 'Adobe APP14 unknown transform'
  | "component ids 'R','G','B'"
  | 'component ids other than R,G,B';

/** Marker-level facts of one JPEG stream that decoding depends on. */
export interface JpegStreamFacts {
  /** Components in the frame header (0 when there is none before the first scan). */
  readonly components: number;
  /** SOFn process nibble (0 baseline, 1 extended, 3 lossless, ...), -1 without a frame header. */
  readonly process: number;
  /** For 3 components: true when libjpeg treats the samples as YCbCr and converts them to RGB. */
  readonly ycbcr: boolean;
  readonly colorEvidence: JpegColorEvidence;
  /** The first scan header's Ss, Se, Ah, Al when a sequential frame's scan has other than 0, 63, 0, 0. */
  readonly invalidSequentialScan?: {
    readonly ss: number;
    readonly se: number;
    readonly ah: number;
    readonly al: number;
  };
}

function ascii(bytes: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Reads the markers up to and including the first SOS (nothing after it is looked at). */
export function readJpegStreamFacts(bytes: Uint8Array): JpegStreamFacts {
  let jfif = false;
  let adobeTransform: number | undefined;
  let componentIds: number[] = [];
  let process = -1;
  let invalidSequentialScan: JpegStreamFacts['invalidSequentialScan'];
  let o = 2; // after SOI
  while (o + 4 <= bytes.length) {
    if (bytes[o] !== 0xff) break;
    const marker = bytes[o + 1]!;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    const length = (bytes[o + 2]! << 8) | bytes[o + 3]!;
    const body = o + 4;
    // libjpeg examines only segments long enough for the full identifier: JFIF needs 14 data
    // bytes ("JFIF\0" + version, units, density, thumbnail size), Adobe 12 (APP0_DATA_LEN and
    // APP14_DATA_LEN in jdmarker.c). The last Adobe marker seen wins.
    if (marker === 0xe0 && length - 2 >= 14 && ascii(bytes, body, 'JFIF\0')) jfif = true;
    if (marker === 0xee && length - 2 >= 12 && ascii(bytes, body, 'Adobe') && body + 11 < bytes.length) {
      adobeTransform = bytes[body + 11];
    }
    if (isSof(marker)) {
      // SOFn: P(1) Y(2) X(2) Nf(1), then Nf x (C, H/V, Tq)
      process = marker & 0x0f;
      const nf = bytes[body + 5] ?? 0;
      componentIds = [];
      for (let i = 0; i < nf; i++) componentIds.push(bytes[body + 6 + i * 3] ?? 0);
    }
    if (marker === 0xda) {
      // SOS: Ls(2) Ns(1) Ns x (Cs, Td/Ta) Ss(1) Se(1) Ah/Al(1)
      const ns = bytes[body] ?? 0;
      const p = body + 1 + 2 * ns;
      if ((process === 0 || process === 1) && p + 2 < bytes.length) {
        const ss = bytes[p]!;
        const se = bytes[p + 1]!;
        const ah = bytes[p + 2]! >> 4;
        const al = bytes[p + 2]! & 15;
        if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) invalidSequentialScan = { ss, se, ah, al };
      }
      break; // entropy-coded data follows
    }
    o += 2 + length;
  }
  let ycbcr: boolean;
  let colorEvidence: JpegColorEvidence;
  if (jfif) {
    ycbcr = true;
    colorEvidence = 'JFIF APP0 marker';
  } else if (adobeTransform !== undefined) {
    ycbcr = adobeTransform !== 0;
    colorEvidence =
      adobeTransform === 0
        ? 'Adobe APP14 transform 0'
        : adobeTransform === 1
          ? 'Adobe APP14 transform 1'
          : 'Adobe APP14 unknown transform';
  } else {
    const [a, b, c] = componentIds;
    ycbcr = !(a === 0x52 && b === 0x47 && c === 0x42);
    colorEvidence = ycbcr ? 'component ids other than R,G,B' : "component ids 'R','G','B'";
  }
  return {
    components: componentIds.length,
    process,
    ycbcr: componentIds.length === 3 && ycbcr,
    colorEvidence,
    ...(invalidSequentialScan === undefined ? {} : { invalidSequentialScan }),
  };
}

/**
 * The warnings libjpeg would print for this stream and decode through anyway: the ignored scan
 * parameters, and a colour space that contradicts Photometric Interpretation (the stream wins,
 * as in libjpeg-turbo and gdcm).
 */
export function jpegStreamWarnings(
  facts: JpegStreamFacts,
  info: EncodedFrameInfo,
  scan: JpegStreamFacts['invalidSequentialScan'] = facts.invalidSequentialScan,
): DecodeWarning[] {
  const warnings: DecodeWarning[] = [];
  if (scan !== undefined) {
    warnings.push(
      decodeWarning(
        'jpeg_sos_parameters_ignored',
        `sequential JPEG scan header has Ss=${scan.ss} Se=${scan.se} Ah=${scan.ah} Al=${scan.al} (should be 0, 63, 0, 0); ignored as libjpeg does`,
      ),
    );
  }
  if (facts.components === 3) {
    const photometric = info.photometricInterpretation.trim().toUpperCase();
    const declaredYcbcr = photometric.startsWith('YBR_');
    if (facts.ycbcr !== declaredYcbcr || facts.colorEvidence === 'Adobe APP14 unknown transform') {
      warnings.push(
        decodeWarning(
          'jpeg_color_space_from_stream',
          `JPEG stream is ${facts.ycbcr ? 'YCbCr' : 'RGB'} (${facts.colorEvidence}) while Photometric Interpretation is ${photometric.replace(/[^A-Z0-9_ ]/g, '?').slice(0, 16)}; decoded as the stream says`,
        ),
      );
    }
  }
  return warnings;
}
