/**
 * HTJ2K (High-Throughput JPEG 2000, ISO/IEC 15444-15; PS3.5 A.4.11, transfer syntaxes
 * 1.2.840.10008.1.2.4.201 / .202 / .203) with the OpenJPH wasm build.
 *
 * OpenJPH given a classic (Part 1) codestream returns an EMPTY buffer without throwing, and
 * writers do put classic streams in HTJ2K syntaxes, so the main header decides the decoder: a
 * stream without Part 15 capabilities goes to OpenJPEG, which decodes both kinds.
 */
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../types.js';
import {
  decodeReduced,
  decodeWithOpenJpeg,
  j2kColorSpace,
  readJ2kMainHeader,
  reducedLevel,
  rejectTruncated,
} from './jpeg2000.js';
import { lastCodecError, loadCodec, runWasmDecoder, toCodecOutput } from './wasm.js';

const LABEL = 'HTJ2K';

/** Decodes one HTJ2K codestream with OpenJPH; rejects empty output with OpenJPH's own message. */
async function decodeWithOpenJph(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers: SampleAllocator | undefined,
  level: number,
): Promise<CodecOutput> {
  const codec = await loadCodec('openjph');
  const decoded = runWasmDecoder(codec, 'HTJ2KDecoder', LABEL, encoded, undefined, buffers, level);
  if (decoded.bytes.length === 0) {
    throw new DicomRejectedError(
      'corrupt_stream',
      `${LABEL}: ${lastCodecError(codec) ?? 'decoder returned no pixels'}`,
    );
  }
  const mct = decoded.frameInfo.isUsingColorTransform === true;
  return toCodecOutput(LABEL, decoded, info, j2kColorSpace(info, mct), buffers);
}

/** Decodes an HTJ2K frame (.201, .202, .203), or a classic JPEG 2000 frame found in those syntaxes. */
export async function decodeHtj2k(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  const header = readJ2kMainHeader(encoded);
  if (!header)
    throw new DicomRejectedError('corrupt_stream', `${LABEL}: no JPEG 2000 codestream (SOC/SIZ) found`);
  rejectTruncated(header, LABEL);
  if (!header.htj2k) return decodeWithOpenJpeg(encoded, info, `${LABEL} (classic JPEG 2000 stream)`, buffers);
  try {
    return await decodeReduced(reducedLevel(info, header.decompositionLevels), info, (level, levelInfo) =>
      decodeWithOpenJph(encoded, levelInfo, buffers, level),
    );
  } catch (error) {
    // OpenJPH leaves out some Part 15 options (e.g. mixed HT/classic code-blocks) that OpenJPEG
    // decodes; a stream both decoders refuse is reported with OpenJPH's reason.
    if (!(error instanceof DicomRejectedError)) throw error;
    try {
      return await decodeWithOpenJpeg(encoded, info, LABEL, buffers);
    } catch {
      throw error;
    }
  }
}
