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
    expect(sourceKindOf('dicomweb+https://pacs/qido')).toBe('other');
  });
});
