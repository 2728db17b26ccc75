/**
 * DecodeFrameOptions.deferHighBitCheck: which frames come back unchecked, and that every consumer
 * sees the same image as from the ordinary (masked) decode, overlay bits above Bits Stored or not.
 */
import { describe, expect, it } from 'vitest';
import { decodeFrame } from './decode.js';
import { renderMonochromeShrunk, renderToDisplay } from './lut/render.js';
import { maskHighBits } from './pixels.js';
import { SopClass, writeNativeImage, type NativeImage } from './testing/write-dicom.js';
import type { DecodedFrame } from './types.js';

const rows = 260;
const columns = 256;

/** 12-bit values in a 16-bit word; with `overlay`, bit 13 or 15 set on every seventh pixel. */
function samples12(overlay: boolean): Uint16Array {
  return Uint16Array.from({ length: rows * columns }, (_, i) => {
    const value = (i * 37) % 4096;
    return overlay && i % 7 === 0 ? value | (i % 2 === 0 ? 0x2000 : 0x8000) : value;
  });
}

function file(image: Partial<NativeImage> & { samples: NativeImage['samples'] }, window = true): Uint8Array {
  return writeNativeImage(
    {
      rows,
      columns,
      samplesPerPixel: 1,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelRepresentation: 0,
      photometricInterpretation: 'MONOCHROME2',
      ...image,
    },
    {
      sopClassUid: SopClass.ComputedRadiography,
      modality: 'CR',
      ...(window ? { window: { center: 2000, width: 3000 } } : {}),
    },
  );
}

describe('deferHighBitCheck', () => {
  it('returns unsigned 12-in-16-bit monochrome samples as stored, flagged, and only those', async () => {
    const dirty = file({ samples: samples12(true) });
    const deferred = await decodeFrame(dirty, { deferHighBitCheck: true });
    expect(deferred.frame.highBitsUnchecked).toBe(true);
    expect(deferred.frame.samples[0]).toBe(0x2000);
    const ordinary = await decodeFrame(dirty);
    expect(ordinary.frame.highBitsUnchecked).toBeUndefined();
    expect(ordinary.frame.samples[0]).toBe(0);
    // Not deferred: signed samples, 8 bits allocated, all 16 bits stored.
    for (const image of [
      { samples: Int16Array.from(samples12(false), (v) => v - 2048), pixelRepresentation: 1 as const },
      { samples: Uint8Array.from(samples12(false), (v) => v >> 4), bitsAllocated: 8 as const, bitsStored: 8 },
      { samples: samples12(true), bitsStored: 16 },
    ]) {
      const { frame } = await decodeFrame(file(image), { deferHighBitCheck: true });
      expect(frame.highBitsUnchecked).toBeUndefined();
    }
  });

  it('maskHighBits gives the ordinary decode: the same view when clean, masked values when not', async () => {
    const clean = await decodeFrame(file({ samples: samples12(false) }), { deferHighBitCheck: true });
    const checked = maskHighBits(clean.frame);
    expect(checked.highBitsUnchecked).toBeUndefined();
    expect(checked.samples).toBe(clean.frame.samples);
    const dirtyBytes = file({ samples: samples12(true) });
    const dirty = await decodeFrame(dirtyBytes, { deferHighBitCheck: true });
    const masked = maskHighBits(dirty.frame);
    expect(masked.highBitsUnchecked).toBeUndefined();
    expect(masked.samples).not.toBe(dirty.frame.samples);
    expect(Array.from(masked.samples)).toEqual(Array.from((await decodeFrame(dirtyBytes)).frame.samples));
    const plain: DecodedFrame = masked;
    expect(maskHighBits(plain)).toBe(plain);
  });

  it.each([
    ['file window, whole frame in 4x4 boxes', true, { left: 0, top: 0, width: 256, height: 260 }, 4, 4],
    ['file window, whole frame in 2x2 boxes', true, { left: 0, top: 0, width: 256, height: 260 }, 2, 2],
    ['file window, a region (checked by a scan)', true, { left: 0, top: 2, width: 256, height: 256 }, 4, 4],
    [
      'no window (percentiles, checked by the histogram)',
      false,
      { left: 0, top: 0, width: 256, height: 260 },
      4,
      4,
    ],
  ] as const)(
    'renderMonochromeShrunk, %s: undefined for overlay bits, the ordinary image when clean',
    async (_n, window, region, kx, ky) => {
      for (const overlay of [false, true]) {
        const bytes = file({ samples: samples12(overlay) }, window);
        const deferred = await decodeFrame(bytes, { deferHighBitCheck: true });
        const ordinary = await decodeFrame(bytes);
        const options = { voi: 'file' } as const;
        const [fromDeferred, fromOrdinary] = [deferred, ordinary].map(({ frame, info }) =>
          renderMonochromeShrunk(frame, info, options, region, kx, ky, undefined, true),
        );
        expect(fromOrdinary).toBeDefined();
        if (overlay) {
          expect(fromDeferred).toBeUndefined();
        } else {
          expect(fromDeferred?.values).toEqual(fromOrdinary!.values);
          expect(fromDeferred?.storedMoments).toEqual(fromOrdinary!.storedMoments);
        }
      }
    },
  );

  it('renderToDisplay of an unchecked frame with overlay bits is that of the masked frame', async () => {
    const bytes = file({ samples: samples12(true) }, false);
    const deferred = await decodeFrame(bytes, { deferHighBitCheck: true });
    const ordinary = await decodeFrame(bytes);
    expect(renderToDisplay(deferred.frame, deferred.info).values).toEqual(
      renderToDisplay(ordinary.frame, ordinary.info).values,
    );
  });
});
