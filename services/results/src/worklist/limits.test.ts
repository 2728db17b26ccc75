import { describe, expect, it } from 'vitest';
import { MAX_WORKLIST_PAGE_SIZE, VIEWER_URL_PLACEHOLDERS } from '@cxr/config';
import { MAX_WORKLIST_LIMIT } from '@cxr/store';

describe('worklist limits', () => {
  it('CXR_WORKLIST_MAX_PAGE_SIZE allows no page the store refuses (@cxr/config depends on no package)', () => {
    expect(MAX_WORKLIST_PAGE_SIZE).toBe(MAX_WORKLIST_LIMIT);
  });

  it('offers the DICOM keywords of the UIDs a row holds as viewer placeholders', () => {
    expect(VIEWER_URL_PLACEHOLDERS).toEqual(['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID']);
  });
});
