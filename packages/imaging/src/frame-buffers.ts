// Per-thread reuse of the large arrays one image needs while it is decoded and preprocessed.
// Allocating and first touching a fresh 10-20 MB typed array per image costs page faults, GC and
// munmap (with TLB shootdowns across the threads of the process): measured here, a full-frame
// Float32Array cost 20-120 ms fresh against a steady ~21 ms reused, and a decode pool's decode
// stage slowed from ~84 to ~107 ms/image going from one thread to two. So each thread keeps one
// of each and lends it to one task at a time: a concurrent caller in the same thread (tests,
// benchmarks running tasks in parallel) finds nothing to borrow and allocates, which is slower
// but correct, since sharing one buffer between tasks in flight would corrupt both.
import { FrameBufferCache } from '@cxr/dicom';

/** Full-frame Float32Arrays longer than this (values) are not kept: a rare huge image should not pin its memory. */
const MAX_SPARE_VALUES = 12_000_000;
let spareFrame: Float32Array | undefined;

/** A Float32Array of at least `length` values (contents unspecified); give it back with returnFrameBuffer. */
export function borrowFrameBuffer(length: number): Float32Array {
  const spare = spareFrame;
  if (spare !== undefined && spare.length >= length) {
    spareFrame = undefined;
    return spare;
  }
  return new Float32Array(length);
}

/** Keeps a borrowed (or any no longer used) full-frame buffer for the next image in this thread. */
export function returnFrameBuffer(buffer: Float32Array): void {
  if (buffer.length <= MAX_SPARE_VALUES && (spareFrame === undefined || spareFrame.length < buffer.length)) {
    spareFrame = buffer;
  }
}

let spareSampleCache: FrameBufferCache | undefined = new FrameBufferCache();

/**
 * This thread's FrameBufferCache for decodeFrame, or undefined while another task holds it.
 * Frames decoded with it are valid until it is returned; give it back with returnSampleCache.
 */
export function borrowSampleCache(): FrameBufferCache | undefined {
  const cache = spareSampleCache;
  spareSampleCache = undefined;
  return cache;
}

/** Returns the cache borrowed with borrowSampleCache, once nothing uses the frame decoded with it. */
export function returnSampleCache(cache: FrameBufferCache): void {
  spareSampleCache = cache;
}
