import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CXR_PIPELINE_VERSION, dicomDateTime, findingsSeriesDescription } from './dataset.js';

describe('findings dataset helpers', () => {
  it('writes the version of this package in Software Versions', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(CXR_PIPELINE_VERSION).toBe(pkg.version);
  });

  it('names the model and says "not a diagnosis" in at most 64 characters (LO)', () => {
    expect(findingsSeriesDescription('report', 'seed', '1')).toBe(
      'AI screening (cxr-pipeline, seed 1), not a diagnosis',
    );
    const long = findingsSeriesDescription(
      'summary',
      'a-very-long-model-identifier-from-a-vendor',
      '2026.03.04-rc1',
    );
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^AI screening summary \(a-very-long.*\.\.\.\), not a diagnosis$/);
  });

  it("renders times in the source's Timezone Offset From UTC when it has one", () => {
    const now = new Date('2026-03-04T23:30:15Z');
    expect(dicomDateTime(now, '+0100')).toEqual({ date: '20260305', time: '003015' });
    expect(dicomDateTime(now, '-0530')).toEqual({ date: '20260304', time: '180015' });
    const local = dicomDateTime(now, undefined);
    expect(local.time).toBe(
      [now.getHours(), now.getMinutes(), now.getSeconds()].map((n) => String(n).padStart(2, '0')).join(''),
    );
  });
});
