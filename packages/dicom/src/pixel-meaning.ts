/**
 * Attributes that change what stored pixel values mean and that the decoder does not apply: each
 * is refused with unsupported_pixel_module rather than decoded into silently wrong values. The
 * full audit (what is applied, what is irrelevant to a classifier's input and why, what is
 * refused) is in README.md, "DICOM decoding".
 */
import type { DataSet } from 'dicom-parser';
import { stringValue, uint16 } from './attributes.js';
import { DicomRejectedError } from './errors.js';
import { Tag } from './tags.js';
import type { PixelModule } from './types.js';

function refuse(message: string): never {
  throw new DicomRejectedError('unsupported_pixel_module', message);
}

/** Refuses a data set whose pixel values carry a meaning this decoder would get wrong. */
export function checkPixelMeaning(dataSet: DataSet, pixel: PixelModule): void {
  checkEmbeddedOverlays(dataSet, pixel);
  checkPresentationLut(dataSet, pixel);
}

/**
 * Overlay Planes (PS3.3 C.9.2) may live in unused high bits of Pixel Data (retired, but old CR/MR
 * archives have them): Overlay Data (60xx,3000) absent and Overlay Bits Allocated (60xx,0100)
 * equal to the pixels' Bits Allocated instead of 1. Bits outside High Bit / Bits Stored are
 * masked off anyway; an overlay bit inside the stored bits would be read as part of every pixel
 * value. (Overlay Bits Allocated 1 without Overlay Data is an empty overlay: harmless.)
 */
function checkEmbeddedOverlays(dataSet: DataSet, pixel: PixelModule): void {
  if (pixel.floatingPoint !== undefined || pixel.bitsAllocated === 1) return;
  const lowBit = pixel.highBit - pixel.bitsStored + 1;
  for (let group = 0x6000; group <= 0x601e; group += 2) {
    const prefix = `x${group.toString(16)}`;
    const position = uint16(dataSet, `${prefix}0102`);
    const bitsAllocated = uint16(dataSet, `${prefix}0100`) ?? 1;
    if (position === undefined || bitsAllocated <= 1 || dataSet.elements[`${prefix}3000`] !== undefined)
      continue;
    if (position >= lowBit && position <= pixel.highBit) {
      refuse(
        `overlay (${group.toString(16).toUpperCase()},0102) is embedded in bit ${position} of the stored pixel values (bits ${lowBit}-${pixel.highBit})`,
      );
    }
  }
}

/**
 * Presentation LUT Shape (2050,0020) in an image may only restate the photometric polarity:
 * IDENTITY for MONOCHROME2 and colour, INVERSE for MONOCHROME1 (e.g. PS3.3 C.8.11.3 DX Image).
 * Any other combination, LIN OD, or a Presentation LUT Sequence asks for a presentation
 * transform that is not applied here.
 */
function checkPresentationLut(dataSet: DataSet, pixel: PixelModule): void {
  if (dataSet.elements[Tag.PresentationLutSequence] !== undefined) {
    refuse('Presentation LUT Sequence (2050,0010) in the image is not applied');
  }
  const shape = stringValue(dataSet, Tag.PresentationLutShape)?.toUpperCase();
  if (shape === undefined) return;
  const expected = pixel.photometricInterpretation === 'MONOCHROME1' ? 'INVERSE' : 'IDENTITY';
  if (shape !== expected) {
    refuse(
      `Presentation LUT Shape (2050,0020) ${JSON.stringify(shape.replace(/[^A-Z0-9_ ]/g, '?').slice(0, 16))} contradicts Photometric Interpretation ${pixel.photometricInterpretation}`,
    );
  }
}
