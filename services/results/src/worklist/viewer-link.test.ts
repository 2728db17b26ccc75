import { describe, expect, it } from 'vitest';
import { viewerUrl } from './viewer-link.js';

const uids = {
  StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1',
  SeriesInstanceUID: '1.2.826.0.1.3680043.8.498.1.1',
  SOPInstanceUID: '1.2.826.0.1.3680043.8.498.1.1.1',
};

describe('viewerUrl', () => {
  it('fills an OHIF template', () => {
    expect(viewerUrl('https://pacs.example/ohif/viewer?StudyInstanceUIDs={StudyInstanceUID}', uids)).toBe(
      'https://pacs.example/ohif/viewer?StudyInstanceUIDs=1.2.826.0.1.3680043.8.498.1',
    );
  });

  it('fills an Orthanc Explorer 2 template and every placeholder, URL-encoded', () => {
    expect(
      viewerUrl(
        'http://pacs:8042/ui/app/#/filtered-studies?StudyInstanceUID="{StudyInstanceUID}"&expand=series',
        uids,
      ),
    ).toBe(
      'http://pacs:8042/ui/app/#/filtered-studies?StudyInstanceUID="1.2.826.0.1.3680043.8.498.1"&expand=series',
    );
    expect(
      viewerUrl('https://v/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}', {
        ...uids,
        SOPInstanceUID: '1.2&x=<y> z',
      }),
    ).toBe('https://v/1.2.826.0.1.3680043.8.498.1/1.2.826.0.1.3680043.8.498.1.1/1.2%26x%3D%3Cy%3E%20z');
  });

  it('gives no link when the row lacks a UID the template needs', () => {
    expect(
      viewerUrl('https://v/?study={StudyInstanceUID}', { ...uids, StudyInstanceUID: null }),
    ).toBeUndefined();
    expect(viewerUrl('https://v/?study={StudyInstanceUID}', { ...uids, SOPInstanceUID: null })).toBeDefined();
  });
});
