/**
 * Shared plumbing for the Emscripten-built codecs (@cornerstonejs/codec-*): lazy once-per-thread
 * module initialization, a decoder lifecycle that always frees wasm memory, copying the result
 * out of the wasm heap into a correctly typed array, and the checks every decoder's output must
 * pass before anyone trusts it (a decoder that "succeeds" with an empty or short buffer is the
 * main trap with these builds).
 *
 * Module state lives in this module's scope, so each worker_thread (which has its own module
 * graph) initializes its own instance once and reuses it for every frame.
 */
import { createRequire } from 'node:module';

import { allocateSamples } from '../buffers.js';
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator, StoredSamples } from '../types.js';

const requireCjs = createRequire(import.meta.url);

/** Frame description returned by every @cornerstonejs decoder's getFrameInfo(). */
export interface WasmFrameInfo {
  readonly width: number;
  readonly height: number;
  readonly bitsPerSample: number;
  readonly componentCount: number;
  readonly isSigned?: boolean;
  /** OpenJPH only: the stream used the inverse RCT/ICT (multiple component transform). */
  readonly isUsingColorTransform?: boolean;
}

/** The embind surface shared by JpegLSDecoder, JPEGDecoder, J2KDecoder and HTJ2KDecoder. */
export interface WasmDecoder {
  /** Resizes the decoder's input buffer and returns a view of it in the wasm heap. */
  getEncodedBuffer(length: number): Uint8Array;
  /** A view of the decoded pixels in the wasm heap; invalid after delete() or heap growth. */
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  /** OpenJPEG and OpenJPH: decode only up to resolution level `level` (0 = full) of all layers (0). */
  decodeSubResolution?(level: number, layer: number): void;
  /** OpenJPEG and OpenJPH: the image size at a resolution level (getFrameInfo keeps the full size). */
  calculateSizeAtDecompositionLevel?(level: number): { width: number; height: number };
  getFrameInfo(): WasmFrameInfo;
  /** Frees the C++ object; embind objects are not garbage collected. */
  delete(): void;
}

/** An Emscripten module instance, as far as this package uses it. */
export type EmscriptenModule = Record<string, unknown>;

type ModuleFactory = (overrides: {
  print: (text: string) => void;
  printErr: (text: string) => void;
}) => Promise<EmscriptenModule>;

/**
 * The wasm builds, by package export. Each package's bare specifier resolves to an asm.js build
 * that is 2-10x slower (DEPENDENCY_NOTES.md), so the wasm entry points are named explicitly.
 */
export const WASM_BUILDS = {
  charls: '@cornerstonejs/codec-charls/decodewasmjs',
  libjpegTurbo: '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
  openjpeg: '@cornerstonejs/codec-openjpeg/decodewasmjs',
  openjph: '@cornerstonejs/codec-openjph/wasmjs',
} as const;

export type WasmBuild = keyof typeof WASM_BUILDS;

/** Resolved path of a wasm build's JS glue (for tests and diagnostics). */
export function resolveWasmBuild(build: WasmBuild): string {
  return requireCjs.resolve(WASM_BUILDS[build]);
}

/** A loaded codec module plus the diagnostics it printed during the current decode. */
export interface LoadedCodec {
  readonly build: WasmBuild;
  readonly module: EmscriptenModule;
  /** Lines the C/C++ code printed (OpenJPEG and OpenJPH report errors this way, not by throwing). */
  readonly messages: string[];
}

const loaded = new Map<WasmBuild, Promise<LoadedCodec>>();

/**
 * Returns the codec module, loading and instantiating the wasm on first use. Concurrent first
 * calls share one instantiation. A failed load is not cached, so a later call retries.
 */
export function loadCodec(build: WasmBuild): Promise<LoadedCodec> {
  let pending = loaded.get(build);
  if (!pending) {
    pending = instantiate(build);
    loaded.set(build, pending);
    pending.catch(() => loaded.delete(build));
  }
  return pending;
}

async function instantiate(build: WasmBuild): Promise<LoadedCodec> {
  const messages: string[] = [];
  // Keep the last few lines only: OpenJPEG prints [INFO] lines for every frame.
  const keep = (text: string): void => {
    messages.push(text);
    if (messages.length > 16) messages.shift();
  };
  try {
    const factory = requireCjs(WASM_BUILDS[build]) as ModuleFactory;
    const module = await factory({ print: keep, printErr: keep });
    return { build, module, messages };
  } catch (error) {
    // Not the input's fault: a missing or broken codec package is an environment failure.
    throw new Error(`cannot load the ${build} wasm codec`, { cause: error });
  }
}

/** Forgets a module instance, e.g. after a wasm trap left it in an unknown state. */
function discard(build: WasmBuild): void {
  loaded.delete(build);
}

/** What a decoder produced, copied out of the wasm heap. */
export interface DecodedWasmFrame {
  readonly frameInfo: WasmFrameInfo;
  /**
   * A copy of the decoded bytes (owned by JS, safe after the decoder is deleted); with a
   * SampleAllocator it may be a view at the start of a larger reused buffer.
   */
  readonly bytes: Uint8Array;
}

/**
 * Runs one decode with a fresh decoder object: copies `encoded` into the wasm heap, decodes,
 * copies the pixels out (into `buffers` when given) and always deletes the decoder. `inspect`
 * runs after decode() while the decoder is alive, for codec-specific getters (e.g.
 * getInterleaveMode). Any exception becomes DicomRejectedError('corrupt_stream').
 */
export function runWasmDecoder<T = undefined>(
  codec: LoadedCodec,
  className: string,
  label: string,
  encoded: Uint8Array,
  inspect?: (decoder: WasmDecoder) => T,
  buffers?: SampleAllocator,
  level = 0,
): DecodedWasmFrame & { readonly extra: T | undefined } {
  const Decoder = codec.module[className] as (new () => WasmDecoder) | undefined;
  if (typeof Decoder !== 'function') throw new Error(`${codec.build} has no ${className}`);
  if (encoded.length === 0) throw new DicomRejectedError('corrupt_stream', `${label}: empty codestream`);
  codec.messages.length = 0;
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    let frameInfo: WasmFrameInfo;
    if (level === 0) {
      decoder.decode();
      frameInfo = { ...decoder.getFrameInfo() };
    } else {
      if (
        decoder.decodeSubResolution === undefined ||
        decoder.calculateSizeAtDecompositionLevel === undefined
      ) {
        throw new Error(`${className} cannot decode a reduced resolution level`);
      }
      decoder.decodeSubResolution(level, 0);
      const { width, height } = decoder.calculateSizeAtDecompositionLevel(level);
      frameInfo = { ...decoder.getFrameInfo(), width, height };
    }
    const extra = inspect ? inspect(decoder) : undefined;
    const view = decoder.getDecodedBuffer();
    // A copy (a memcpy either way): the view itself dies with the decoder or on heap growth.
    let bytes: Uint8Array;
    if (buffers === undefined) {
      bytes = new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    } else {
      bytes = buffers.allocate(Uint8Array, view.byteLength);
      bytes.set(view);
    }
    return { frameInfo, bytes, extra };
  } catch (error) {
    if (error instanceof DicomRejectedError) throw error;
    // A wasm trap (WebAssembly.RuntimeError: out-of-bounds access, unreachable, abort) can leave
    // the module's heap inconsistent; the next call gets a fresh instance.
    if (error instanceof Error && error.name === 'RuntimeError') discard(codec.build);
    throw new DicomRejectedError('corrupt_stream', `${label}: ${describeFailure(codec, error)}`);
  } finally {
    try {
      decoder.delete();
    } catch {
      // A trapped module may refuse even this; it has been discarded above.
    }
  }
}

/** One line saying why a decode failed: the C++ exception text or the codec's last error line. */
function describeFailure(codec: LoadedCodec, error: unknown): string {
  let text = '';
  // Emscripten throws C++ exceptions as a pointer (number); CharLS exports a way to read them.
  const getMessage = codec.module.getExceptionMessage as ((pointer: number) => unknown) | undefined;
  if (typeof error === 'number' && typeof getMessage === 'function') {
    try {
      const message: unknown = getMessage(error);
      text = Array.isArray(message)
        ? message.filter((m) => typeof m === 'string' && m).join(': ')
        : String(message);
    } catch {
      text = '';
    }
  } else if (error instanceof Error) {
    text = error.message;
  }
  if (!text) text = lastCodecError(codec) ?? 'decoder failed';
  return oneLine(text);
}

/** The codec's most recent error-looking diagnostic line, if any. */
export function lastCodecError(codec: LoadedCodec): string | undefined {
  for (let i = codec.messages.length - 1; i >= 0; i--) {
    const line = codec.messages[i];
    if (line !== undefined && !line.startsWith('[INFO]') && line.trim()) return oneLine(line);
  }
  return undefined;
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/**
 * Checks what a decoder reported against the Image Pixel module and turns the bytes into the
 * typed array native Pixel Data of the same frame would give: Uint8Array for BitsAllocated 8,
 * Uint16Array / Int16Array (PixelRepresentation 1) for BitsAllocated 16 (PS3.5 8.1.1), and one
 * byte (0 or 1) per sample for BitsAllocated 1 from a 1-bit codestream (JPEG 2000 segmentations;
 * gdcm decodes them the same way). Sample values are not sign-extended or masked here; that is
 * the frame decoder's job for native data too.
 */
export function toCodecOutput(
  label: string,
  decoded: DecodedWasmFrame,
  info: EncodedFrameInfo,
  colorSpace: CodecOutput['colorSpace'],
  buffers?: SampleAllocator,
): CodecOutput {
  const { frameInfo: fi, bytes } = decoded;
  const reject = (what: string): never => {
    throw new DicomRejectedError('corrupt_stream', `${label}: ${what}`);
  };
  if (bytes.length === 0) reject('decoder returned no pixels');
  if (fi.width !== info.columns || fi.height !== info.rows) {
    reject(`frame is ${fi.width}x${fi.height}, Columns x Rows say ${info.columns}x${info.rows}`);
  }
  if (fi.componentCount !== info.samplesPerPixel) {
    reject(`frame has ${fi.componentCount} components, SamplesPerPixel says ${info.samplesPerPixel}`);
  }
  if (info.bitsAllocated === 1) {
    // Bits are not masked for BitsAllocated 1, so only a true 1-bit component is acceptable.
    if (fi.bitsPerSample !== 1) {
      reject(`frame has ${fi.bitsPerSample} bits per sample, BitsAllocated is 1`);
    }
  } else if (info.bitsAllocated !== 8 && info.bitsAllocated !== 16) {
    throw new DicomRejectedError(
      'unsupported_pixel_module',
      `${label}: BitsAllocated ${info.bitsAllocated} is not supported for this syntax`,
    );
  }
  // Streams may declare more precision than BitsStored (dcmcjpls writes P=16 for 12-bit data), so
  // only the container size is checked: the samples must fit BitsAllocated.
  if (fi.bitsPerSample < 1 || fi.bitsPerSample > info.bitsAllocated) {
    reject(`frame has ${fi.bitsPerSample} bits per sample, BitsAllocated is ${info.bitsAllocated}`);
  }
  const count = info.rows * info.columns * info.samplesPerPixel;
  const bytesPerSample = fi.bitsPerSample <= 8 ? 1 : 2;
  if (bytes.length !== count * bytesPerSample) {
    reject(`decoder returned ${bytes.length} bytes, expected ${count * bytesPerSample}`);
  }
  const signed = info.pixelRepresentation === 1;
  let samples: StoredSamples;
  if (info.bitsAllocated <= 8) {
    samples = bytes;
  } else if (bytesPerSample === 2) {
    // `bytes` may be the start of a larger (reused) buffer: view exactly its own bytes.
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    samples = signed
      ? new Int16Array(aligned.buffer, aligned.byteOffset, count)
      : new Uint16Array(aligned.buffer, aligned.byteOffset, count);
  } else {
    // An 8-bit stream in a 16-bit container (BitsStored <= 8, BitsAllocated 16): widen.
    const wide = signed
      ? allocateSamples(Int16Array, count, buffers)
      : allocateSamples(Uint16Array, count, buffers);
    wide.set(signed ? new Int8Array(bytes.buffer, bytes.byteOffset, count) : bytes);
    samples = wide;
  }
  return { samples, planar: false, colorSpace };
}

/** Rearranges colour-by-plane bytes (RRR...GGG...BBB...) into colour-by-pixel (RGBRGB...). */
export function interleavePlanes(
  planar: Uint8Array,
  pixels: number,
  components: number,
  bytesPerSample: number,
  buffers?: SampleAllocator,
): Uint8Array {
  const out = allocateSamples(Uint8Array, planar.length, buffers);
  const plane = pixels * bytesPerSample;
  for (let c = 0; c < components; c++) {
    for (let p = 0; p < pixels; p++) {
      for (let b = 0; b < bytesPerSample; b++) {
        out[(p * components + c) * bytesPerSample + b] = planar[c * plane + p * bytesPerSample + b]!;
      }
    }
  }
  return out;
}
