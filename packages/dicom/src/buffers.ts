import type { SampleAllocator, SampleArray, SampleArrayType } from './types.js';

/**
 * Reuse of the large per-frame arrays a decode produces (codec output, masked samples, RGB
 * conversions: 10-20 MB each for a 2048x2500 radiograph).
 *
 * Why: a fresh typed array of that size costs page faults on first touch and an munmap (with a
 * TLB shootdown across every thread of the process) when it is collected. With two decode
 * threads this made the decode stage ~25% slower per image than with one, while the same work
 * over reused buffers scaled almost linearly.
 */

/** An array from `buffers` when given (contents unspecified), else a fresh zero-filled one. */
export function allocateSamples<T extends SampleArray>(
  type: SampleArrayType<T>,
  length: number,
  buffers: SampleAllocator | undefined,
): T {
  return buffers === undefined ? new type(length) : buffers.allocate(type, length);
}

/** Limits of a FrameBufferCache. */
export interface FrameBufferCacheOptions {
  /** Buffers kept at most; a frame needing more gets fresh arrays for the rest. Default 8. */
  readonly maxBuffers?: number;
  /** Bytes kept at most over all buffers; larger requests get fresh arrays. Default 256 MiB. */
  readonly maxBytes?: number;
}

/**
 * A SampleAllocator that keeps the ArrayBuffers of one decoded frame and hands them out again
 * for the next one. Within a frame every `allocate` gets its own buffer (a codec's output and the
 * colour conversion made from it are alive at the same time); `startFrame` (called by
 * decodeFrame) makes all of them available again. The best-fitting free buffer is used, any
 * typed array kind can reuse any buffer, and a buffer too small for the new frame is replaced by
 * a larger one, so in steady state a decode allocates nothing large.
 *
 * Contract: a frame decoded with a cache aliases its memory and stays valid only until the next
 * decodeFrame call with the same cache; reused arrays are NOT zeroed (decoders write every
 * sample). Use one cache per decode in flight, e.g. one per worker thread.
 */
export class FrameBufferCache implements SampleAllocator {
  private readonly maxBuffers: number;
  private readonly maxBytes: number;
  private readonly buffers: ArrayBuffer[] = [];
  /** Parallel to `buffers`: true while lent out during the current frame. */
  private readonly lent: boolean[] = [];

  constructor(options: FrameBufferCacheOptions = {}) {
    this.maxBuffers = options.maxBuffers ?? 8;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  }

  /** Bytes currently held by the cache (for tests and diagnostics). */
  get retainedBytes(): number {
    return this.buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  }

  /** Makes every buffer reusable: arrays handed out before this call must no longer be used. */
  startFrame(): void {
    this.lent.fill(false);
  }

  /** An array of exactly `length` elements over a kept buffer; its contents are unspecified. */
  allocate<T extends SampleArray>(type: SampleArrayType<T>, length: number): T {
    const bytes = length * type.BYTES_PER_ELEMENT;
    let best = -1;
    let largestTooSmall = -1;
    for (let i = 0; i < this.buffers.length; i++) {
      if (this.lent[i]) continue;
      const size = this.buffers[i]!.byteLength;
      if (size >= bytes) {
        if (best < 0 || size < this.buffers[best]!.byteLength) best = i;
      } else if (largestTooSmall < 0 || size > this.buffers[largestTooSmall]!.byteLength) {
        largestTooSmall = i;
      }
    }
    if (best < 0) {
      // Grow: replace a free buffer that is too small (keeps the count bounded), else add one.
      const retained = this.retainedBytes;
      if (largestTooSmall >= 0) {
        if (retained - this.buffers[largestTooSmall]!.byteLength + bytes > this.maxBytes) {
          return new type(length);
        }
        this.buffers[largestTooSmall] = new ArrayBuffer(bytes);
        best = largestTooSmall;
      } else {
        if (this.buffers.length >= this.maxBuffers || retained + bytes > this.maxBytes) {
          return new type(length);
        }
        this.buffers.push(new ArrayBuffer(bytes));
        this.lent.push(false);
        best = this.buffers.length - 1;
      }
    }
    this.lent[best] = true;
    return new type(this.buffers[best]!, 0, length);
  }
}
