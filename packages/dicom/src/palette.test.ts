import { describe, expect, it } from 'vitest';
import { expandSegmentedLut } from './palette.js';

/** Segmented Palette Color Lookup Table Data expansion, PS3.3 C.7.9.2. */
describe('expandSegmentedLut', () => {
  it('expands discrete, linear and indirect segments', () => {
    // discrete [5, 9]; linear to 21 over 3 (13, 17, 21); indirect: 2 segments from byte 0 (16-bit).
    const out = expandSegmentedLut([0, 2, 5, 9, 1, 3, 21, 2, 2, 0, 0], 10, 2);
    // The copy re-expands both: the linear segment ramps again from the copied 9.
    expect(Array.from(out)).toEqual([5, 9, 13, 17, 21, 5, 9, 13, 17, 21]);
  });

  it('rounds linear entries to the nearest integer and runs down as well as up', () => {
    expect(Array.from(expandSegmentedLut([0, 1, 10, 1, 3, 0], 4, 2))).toEqual([10, 7, 3, 0]);
    expect(Array.from(expandSegmentedLut([0, 1, 0, 1, 4, 2], 5, 2))).toEqual([0, 1, 1, 2, 2]);
  });

  it('reads 8-bit indirect offsets from four entries (byte offset, least significant 16 bits first)', () => {
    // discrete [1, 2] at bytes 0-3; discrete [3] at bytes 4-6; indirect copy of 1 segment at byte 4.
    expect(Array.from(expandSegmentedLut([0, 2, 1, 2, 0, 1, 3, 2, 1, 4, 0, 0, 0], 4, 1))).toEqual([
      1, 2, 3, 3,
    ]);
  });

  it.each([
    ['a linear first segment', [1, 2, 5], 2, /first segment is linear/],
    ['an indirect first segment', [2, 1, 0, 0], 1, /first segment is indirect/],
    [
      'an indirect segment copying an indirect one',
      [0, 1, 7, 2, 1, 6, 0, 2, 1, 6, 0],
      3,
      /copies another indirect/,
    ],
    ['an offset past the data', [0, 1, 7, 2, 1, 200, 0], 2, /points to byte 200/],
    ['an odd byte offset in 16-bit data', [0, 1, 7, 2, 1, 3, 0], 2, /points to byte 3/],
    ['a discrete segment longer than the data', [0, 5, 1, 2], 5, /runs past the data/],
    ['an unknown opcode', [3, 1, 1], 1, /unknown segment opcode 3/],
    ['too many entries', [0, 3, 1, 2, 3], 2, /more than the descriptor's 2 entries/],
    ['too few entries', [0, 1, 1], 2, /expands to 1 entries, the descriptor says 2/],
  ] as const)('refuses %s', (_name, segments, expected, message) => {
    expect(() => expandSegmentedLut(segments, expected, 2)).toThrow(message);
  });
});
