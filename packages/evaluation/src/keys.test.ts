/**
 * The `file` key matching shared by `cxr evaluate` and `cxr train` (audit finding 17): names are
 * compared whole or without an image extension, never cut at their last dot.
 */
import { describe, expect, it } from 'vitest';
import {
  baseName,
  fileKeyMatcher,
  UNMATCHED_KEYS_SHOWN,
  UnmatchedKeyCollector,
  unmatchedLine,
  withoutImageExtension,
} from './keys.js';

describe('baseName', () => {
  it('is the last URI segment, decoded, without query or fragment', () => {
    expect(baseName('s3://bucket/a/b/img%201.dcm')).toBe('img 1.dcm');
    expect(baseName('file:///data/x.dcm?versionId=3')).toBe('x.dcm');
    expect(baseName('C:\\data\\y.dcm')).toBe('y.dcm');
    expect(baseName('bad%zz.dcm')).toBe('bad%zz.dcm');
  });
});

describe('fileKeyMatcher', () => {
  const uid = '1.2.840.113619.2.55.3.604688119.969.1268071029.320';

  it('matches UID-named files with and without .dcm, on either side', () => {
    const find = fileKeyMatcher([uid, `${uid}9.dcm`, '1.2.3']);
    expect(find(`file:///archive/${uid}.dcm`)).toBe(0);
    expect(find(`s3://b/${uid}`)).toBe(0);
    expect(find(`s3://b/${uid}9`)).toBe(1);
    // Cutting at the last dot would make 1.2.3 and 1.2.4 (and 1.2) the same key.
    expect(find('s3://b/1.2.4.dcm')).toBeUndefined();
    expect(find('s3://b/1.2.dcm')).toBeUndefined();
    expect(find('s3://b/1.2.3.DCM')).toBe(2);
  });

  it('keeps dots that are not an image extension (x.jpeg_ls_lossless)', () => {
    const find = fileKeyMatcher(['other_TestPattern_Palette_16.jpeg_ls_lossless', 'x']);
    expect(find('file:///d/other_TestPattern_Palette_16.jpeg_ls_lossless.dcm')).toBe(0);
    expect(find('file:///d/other_TestPattern_Palette_16.jpeg_ls_lossless')).toBe(0);
    expect(find('file:///d/other_TestPattern_Palette_16.dcm')).toBeUndefined();
    expect(find('file:///d/x.jpeg_ls_lossless.dcm')).toBeUndefined();
  });

  it("finds NIH's PNG names in a DICOM archive, exact names first, ambiguous stems nowhere", () => {
    const find = fileKeyMatcher(['00000001_000.png', 'a.dcm', 'a.png', 'b.dicom']);
    expect(find('s3://b/00000001_000.dcm')).toBe(0);
    expect(find('s3://b/a.png')).toBe(2);
    expect(find('s3://b/a.dcm')).toBe(1);
    expect(find('s3://b/a')).toBeUndefined();
    expect(find('s3://b/b.dcm')).toBe(3);
  });

  it('removes only one known image extension', () => {
    expect(withoutImageExtension('a.DCM')).toBe('a');
    expect(withoutImageExtension('a.dcm.dcm')).toBe('a.dcm');
    expect(withoutImageExtension('a.jpeg')).toBe('a');
    expect(withoutImageExtension('a.txt')).toBe('a.txt');
    expect(withoutImageExtension('.dcm')).toBe('.dcm');
  });
});

describe('unmatched keys', () => {
  it('counts every key, keeps the first few in order, and says so on one line', () => {
    const keys = new UnmatchedKeyCollector();
    for (const [order, key] of [7, 3, 9, 1, 5, 8, 2].entries())
      keys.add(`k${key}`, [7, 3, 9, 1, 5, 8, 2][order]);
    const result = keys.result();
    expect(result.count).toBe(7);
    expect(result.first).toHaveLength(UNMATCHED_KEYS_SHOWN);
    expect(result.first).toEqual(['k1', 'k2', 'k3', 'k5', 'k7']);
    expect(unmatchedLine(result, 18, 'listed objects have no row')).toBe(
      '7 of 18 listed objects have no row (first: "k1", "k2", "k3", "k5", "k7", ...)',
    );
    expect(unmatchedLine({ count: 1, first: ['a,b\nc'] }, 2, 'rows')).toBe('1 of 2 rows (first: "a,b\\nc")');
    expect(unmatchedLine(new UnmatchedKeyCollector().result(), 3, 'rows')).toBeUndefined();
  });
});
