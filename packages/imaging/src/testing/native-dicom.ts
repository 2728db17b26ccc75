// The imaging package's test image: a monochrome CR (16 bits allocated) written by the shared
// test writer in @cxr/dicom/testing, with this package's defaults, for tests and benchmarks.
import { SopClass, gradientSamples, writeNativeImage } from '@cxr/dicom/testing';

export { gradientSamples };

/** Options of a synthetic monochrome image. */
export interface NativeImageOptions {
  readonly rows: number;
  readonly columns: number;
  readonly bitsStored: number;
  readonly samples: Uint16Array;
  readonly photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  readonly window?: { readonly center: number; readonly width: number };
}

/** Builds a Part 10 CR file (Explicit VR Little Endian, unsigned 16-bit allocated) holding `samples`. */
export function writeNativeDicom(options: NativeImageOptions): Uint8Array {
  return writeNativeImage(
    {
      rows: options.rows,
      columns: options.columns,
      samplesPerPixel: 1,
      bitsAllocated: 16,
      bitsStored: options.bitsStored,
      pixelRepresentation: 0,
      photometricInterpretation: options.photometric ?? 'MONOCHROME2',
      samples: options.samples,
    },
    {
      sopClassUid: SopClass.ComputedRadiography,
      modality: 'CR',
      ...(options.window === undefined ? {} : { window: options.window }),
    },
  );
}
