// Checks shared by both JPEG decoders: the frame header against the DICOM pixel module, and the
// typed array the samples are returned in.
import { allocateSamples } from '../../buffers.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../../types.js';
import { corrupt, type FrameHeader } from './markers.js';

/** Refuses a frame whose size or component count disagrees with Rows/Columns/Samples per Pixel. */
export function checkFrameAgainstInfo(frame: FrameHeader, info: EncodedFrameInfo): void {
  if (frame.lines === 0) corrupt('JPEG frame height 0 (DNL) is not supported');
  if (frame.lines !== info.rows || frame.samplesPerLine !== info.columns) {
    corrupt(
      `JPEG frame is ${frame.samplesPerLine}x${frame.lines} but the pixel module says ${info.columns}x${info.rows}`,
    );
  }
  if (frame.components.length !== info.samplesPerPixel) {
    corrupt(
      `JPEG frame has ${frame.components.length} components but Samples per Pixel is ${info.samplesPerPixel}`,
    );
  }
}

/**
 * Returns decoded samples in native Pixel Data layout: 16-bit words when the precision exceeds 8
 * or Bits Allocated is 16 (Int16Array over the same bits when Pixel Representation is 1: sign
 * extension from Bits Stored happens later), otherwise bytes.
 */
export function packSamples(
  samples: Uint16Array,
  precision: number,
  info: EncodedFrameInfo,
  colorSpace: CodecOutput['colorSpace'] = 'as-stored',
  buffers?: SampleAllocator,
): CodecOutput {
  if (precision > 8 || info.bitsAllocated > 8) {
    const words =
      info.pixelRepresentation === 1
        ? new Int16Array(samples.buffer, samples.byteOffset, samples.length)
        : samples;
    return { samples: words, planar: false, colorSpace };
  }
  const bytes = allocateSamples(Uint8Array, samples.length, buffers);
  bytes.set(samples);
  return { samples: bytes, planar: false, colorSpace };
}
