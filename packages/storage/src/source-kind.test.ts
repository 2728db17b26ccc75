import { describe, expect, it } from 'vitest';
import { sourceKindOf } from './source-kind.js';

describe('sourceKindOf', () => {
  it('labels plain paths as openObjectSource opens them: a folder, or a manifest by suffix', () => {
    expect(sourceKindOf('/data/archive')).toBe('file');
    expect(sourceKindOf('archive/2026')).toBe('file');
    expect(sourceKindOf('/data/list.csv')).toBe('manifest');
    expect(sourceKindOf('file:///data/archive')).toBe('file');
    expect(sourceKindOf('manifest:/data/list.jsonl')).toBe('manifest');
    expect(sourceKindOf('s3://bucket/prefix/')).toBe('s3');
    expect(sourceKindOf('dicomweb+https://pacs/qido')).toBe('dicomweb');
    expect(sourceKindOf('dicomweb+http://pacs:8042/dicom-web?modality=CR#filters=0123')).toBe('dicomweb');
    expect(sourceKindOf('gopher://host/x')).toBe('other');
  });

  it('labels a DIMSE source by its scheme only, never its PACS or filters', () => {
    expect(sourceKindOf('dimse://PACS@10.0.0.5:104?since=2024-01-01&patientId=X')).toBe('dimse');
  });
});
