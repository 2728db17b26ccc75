import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import { decodeHtj2k } from './htj2k.js';
import { decodeJpeg2000 } from './jpeg2000.js';
import { decodeJpegLs } from './jpeg-ls.js';
import {
  interleavePlanes,
  loadCodec,
  resolveWasmBuild,
  toCodecOutput,
  WASM_BUILDS,
  type WasmBuild,
} from './wasm.js';
import { encodeHtj2k, frameInfoOf, makePhantom } from '../testing/index.js';

const info = frameInfoOf(makePhantom({ rows: 2, columns: 3, bitsStored: 12 }));
const frameInfo = { width: 3, height: 2, bitsPerSample: 12, componentCount: 1 };

describe('wasm codec loading', () => {
  it.each(Object.keys(WASM_BUILDS) as WasmBuild[])('uses the wasm build of %s, not asm.js', (build) => {
    const glue = resolveWasmBuild(build);
    expect(glue).toMatch(/wasm[^/]*\.js$|openjphjs\.js$/);
    expect(existsSync(glue.replace(/\.js$/, '.wasm'))).toBe(true);
  });

  it('instantiates each module once and reuses it', async () => {
    const [a, b] = await Promise.all([loadCodec('charls'), loadCodec('charls')]);
    expect(a).toBe(b);
    expect(await loadCodec('charls')).toBe(a);
    expect(typeof a.module.JpegLSDecoder).toBe('function');
  });

  it('decodes inside a worker thread', async () => {
    const codecs = fileURLToPath(new URL('./htj2k.ts', import.meta.url));
    const image = makePhantom({ rows: 64, columns: 48, bitsStored: 12 });
    const stream = await encodeHtj2k(image);
    // The worker runs the TypeScript source through tsx's loader, as the decode pool's bootstrap
    // does; an ESM data: URL worker needs absolute URLs for everything it imports.
    const tsxApi = pathToFileURL(
      createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    );
    const source = `
      import { parentPort, workerData } from 'node:worker_threads';
      import { register } from '${tsxApi.href}';
      register();
      try {
        const { decodeHtj2k } = await import(workerData.codecs);
        const first = await decodeHtj2k(workerData.stream, workerData.info);
        const second = await decodeHtj2k(workerData.stream, workerData.info);
        parentPort.postMessage({ first: Array.from(first.samples), same: second.samples.length === first.samples.length });
      } catch (e) {
        parentPort.postMessage({ error: String(e) });
      }`;
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), {
      workerData: { codecs: pathToFileURL(codecs).href, stream, info: frameInfoOf(image) },
    });
    const result = await new Promise<{ first?: number[]; same?: boolean; error?: string }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      },
    );
    await worker.terminate();
    expect(result.error).toBeUndefined();
    expect(result.same).toBe(true);
    expect(result.first).toEqual(Array.from(image.samples));
  });

  it('frees decoder memory: the wasm heap stops growing over many frames', async () => {
    // 512 KB of output per frame, so a leaked decoder (input + output + state) shows as tens of MB.
    const image = makePhantom({ rows: 512, columns: 512, bitsStored: 12 });
    const frame = frameInfoOf(image);
    const stream = await encodeHtj2k(image);
    const cases = [
      { build: 'openjph', frames: 60, decode: () => decodeHtj2k(stream, frame) },
      // OpenJPEG >= 2.5 reads the same HTJ2K stream; it is slower, so fewer frames.
      { build: 'openjpeg', frames: 10, decode: () => decodeJpeg2000(stream, frame) },
      // The exception path: CharLS throws a C++ exception for this input.
      { build: 'charls', frames: 300, decode: () => decodeJpegLs(stream, frame).catch(() => undefined) },
    ] as const;
    for (const { build, frames, decode } of cases) {
      for (let i = 0; i < 3; i++) await decode();
      const heapSize = async (): Promise<number> =>
        ((await loadCodec(build)).module.HEAPU8 as Uint8Array).length;
      const before = await heapSize();
      for (let i = 0; i < frames; i++) await decode();
      expect((await heapSize()) - before, build).toBeLessThanOrEqual(4 << 20);
    }
  });
});

describe('toCodecOutput', () => {
  const bytes16 = new Uint8Array(12).map((_, i) => i);

  it('types samples by BitsAllocated and PixelRepresentation', () => {
    expect(toCodecOutput('t', { frameInfo, bytes: bytes16 }, info, 'as-stored').samples).toBeInstanceOf(
      Uint16Array,
    );
    const signed = toCodecOutput(
      't',
      { frameInfo, bytes: bytes16 },
      { ...info, pixelRepresentation: 1 },
      'as-stored',
    );
    expect(signed.samples).toBeInstanceOf(Int16Array);
    // An 8-bit stream in a 16-bit container is widened, not reinterpreted.
    const widened = toCodecOutput(
      't',
      { frameInfo: { ...frameInfo, bitsPerSample: 8 }, bytes: new Uint8Array([1, 2, 3, 4, 5, 255]) },
      { ...info, bitsStored: 8 },
      'as-stored',
    );
    expect(Array.from(widened.samples)).toEqual([1, 2, 3, 4, 5, 255]);
  });

  it.each([
    ['empty output', { frameInfo, bytes: new Uint8Array(0) }],
    ['short output', { frameInfo, bytes: bytes16.subarray(0, 10) }],
    ['wrong width', { frameInfo: { ...frameInfo, width: 4 }, bytes: bytes16 }],
    ['wrong components', { frameInfo: { ...frameInfo, componentCount: 3 }, bytes: bytes16 }],
    ['too many bits', { frameInfo: { ...frameInfo, bitsPerSample: 17 }, bytes: bytes16 }],
  ])('rejects %s as corrupt_stream', (_name, decoded) => {
    expect(() => toCodecOutput('t', decoded, info, 'as-stored')).toThrow(DicomRejectedError);
    try {
      toCodecOutput('t', decoded, info, 'as-stored');
    } catch (error) {
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
    }
  });

  it('interleaves planar colour', () => {
    const planar = new Uint8Array([1, 2, 10, 20, 100, 200]);
    expect(Array.from(interleavePlanes(planar, 2, 3, 1))).toEqual([1, 10, 100, 2, 20, 200]);
  });
});
