import { describe, expect, it } from 'vitest';
import { TrainProgress, type EpochLine } from './progress.js';

const epoch: EpochLine = {
  epoch: 2,
  epochs: 10,
  loss: 0.5,
  valLoss: 0.6,
  meanAuroc: 0.91,
  best: true,
  seconds: 1.25,
  perLabel: { opacity: { auroc: 0.91, sensitivity: 0.9, specificity: Number.NaN } },
};

function stream(isTTY: boolean): { write: (t: string) => void; isTTY: boolean; text: () => string } {
  let out = '';
  return { write: (t) => void (out += t), isTTY, text: () => out };
}

describe('TrainProgress', () => {
  it('writes one JSON line per epoch off a terminal, undefined metrics as null', () => {
    const s = stream(false);
    new TrainProgress({ stream: s, now: () => 0 }).epoch(epoch);
    const line = JSON.parse(s.text()) as { msg: string; data: Record<string, unknown> };
    expect(line.msg).toBe('train epoch');
    expect(line.data).toMatchObject({
      epoch: 2,
      epochs: 10,
      best: true,
      perLabel: { opacity: { auroc: 0.91, sensitivity: 0.9, specificity: null } },
    });
  });

  it('draws an epoch line and a redrawn extraction bar on a terminal', () => {
    const s = stream(true);
    let now = 0;
    const progress = new TrainProgress({ stream: s, now: () => now });
    now = 2000;
    progress.extraction({ done: 10, total: 40, cached: 4, computed: 6, skipped: 0 });
    progress.extraction({ done: 11, total: 40, cached: 4, computed: 7, skipped: 0 }); // throttled
    now = 4000;
    progress.extractionFinished({ done: 40, total: 40, cached: 4, computed: 36, skipped: 0 });
    progress.epoch(epoch);
    const text = s.text();
    expect(text).toContain('\r');
    expect(text).toContain('[#####---------------]  25%  10/40');
    expect(text).toContain('5.0 images/s');
    expect(text).not.toContain('11/40');
    expect(text).toContain('[####################] 100%  40/40');
    expect(text).toContain('epoch  2/10');
    expect(text).toContain('opacity auc 0.910 sens 0.900 spec n/a');
    expect(text).toContain('*best');
  });
});
