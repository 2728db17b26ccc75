/**
 * JPEG 2000 and HTJ2K encoders for tests, from the same wasm packages the decoders use (no
 * installed Debian tool writes HTJ2K). CommonJS modules, hence require.
 */
import { createRequire } from 'node:module';

import type { NativeImage } from './write-dicom.js';

interface WasmEncoder {
  getDecodedBuffer(frameInfo: object): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  setQuality?(reversible: boolean, quantizationStep: number): void;
  delete(): void;
}

const requireCjs = createRequire(import.meta.url);

async function encodeWith(
  specifier: string,
  className: string,
  image: NativeImage,
  configure?: (encoder: WasmEncoder) => void,
  extraInfo: object = {},
): Promise<Uint8Array> {
  const factory = requireCjs(specifier) as (o: object) => Promise<Record<string, unknown>>;
  const module = await factory({ print: () => undefined, printErr: () => undefined });
  const Encoder = module[className] as new () => WasmEncoder;
  const encoder = new Encoder();
  try {
    configure?.(encoder);
    const input = encoder.getDecodedBuffer({
      width: image.columns,
      height: image.rows,
      bitsPerSample: image.bitsStored,
      componentCount: image.samplesPerPixel,
      isSigned: image.pixelRepresentation === 1,
      ...extraInfo,
    });
    const s = image.samples;
    input.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
    encoder.encode();
    const out = encoder.getEncodedBuffer().slice();
    if (out.length === 0) throw new Error(`${className} produced an empty codestream`);
    return out;
  } finally {
    encoder.delete();
  }
}

/**
 * HTJ2K codestream of `image` from OpenJPH's wasm encoder. Reversible (lossless) by default;
 * `quantizationStep` makes it irreversible (lossy). Colour images use the RCT/ICT.
 */
export function encodeHtj2k(
  image: NativeImage,
  options: { quantizationStep?: number } = {},
): Promise<Uint8Array> {
  const step = options.quantizationStep;
  return encodeWith(
    '@cornerstonejs/codec-openjph/wasmjs',
    'HTJ2KEncoder',
    image,
    (e) => {
      if (step !== undefined) e.setQuality?.(false, step);
    },
    { isUsingColorTransform: image.samplesPerPixel === 3 },
  );
}

/** Classic JPEG 2000 codestream from OpenJPEG's wasm encoder: lossless, MCT on for colour. */
export function encodeJ2kWithOpenJpeg(image: NativeImage): Promise<Uint8Array> {
  return encodeWith('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', image);
}
