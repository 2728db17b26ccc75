import { describe, expect, it } from 'vitest';
import type { Logger, ProgressOutput } from '@cxr/config/log';
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

/** A progress output and logger that record everything: the drawn lines and the log entries. */
function recorder(drawsProgress: boolean): {
  output: ProgressOutput;
  log: Logger;
  lines: string[];
  entries: { msg: string; data: Record<string, unknown> }[];
  ended: () => number;
} {
  const lines: string[] = [];
  const entries: { msg: string; data: Record<string, unknown> }[] = [];
  let ended = 0;
  return {
    output: {
      drawsProgress,
      writeLine: (line) => void lines.push(line),
      progress: (text) => void lines.push(text),
      endProgress: () => void (ended += 1),
    },
    log: (_level, msg, data = {}) => void entries.push({ msg, data: { ...data } }),
    lines,
    entries,
    ended: () => ended,
  };
}

describe('TrainProgress', () => {
  it('logs one line per epoch off a terminal, undefined metrics as null', () => {
    const r = recorder(false);
    new TrainProgress({ output: r.output, log: r.log, now: () => 0 }).epoch(epoch);
    expect(r.lines).toEqual([]);
    expect(r.entries).toHaveLength(1);
    expect(r.entries[0]?.msg).toBe('train epoch');
    expect(r.entries[0]?.data).toMatchObject({
      epoch: 2,
      epochs: 10,
      best: true,
      perLabel: { opacity: { auroc: 0.91, sensitivity: 0.9, specificity: null } },
    });
  });

  it('draws an epoch line and a redrawn extraction line with its ETA on a terminal', () => {
    const r = recorder(true);
    let now = 0;
    const progress = new TrainProgress({ output: r.output, log: r.log, now: () => now });
    now = 2000;
    progress.extraction({ done: 10, total: 40, cached: 4, computed: 6, skipped: 0 });
    progress.extraction({ done: 11, total: 40, cached: 4, computed: 7, skipped: 0 }); // throttled
    now = 4000;
    progress.extractionFinished({ done: 40, total: 40, cached: 4, computed: 36, skipped: 0 });
    progress.epoch(epoch);
    expect(r.entries).toEqual([]);
    expect(r.lines).toHaveLength(3);
    const [first, finished, epochLine] = r.lines;
    expect(first).toContain('[#####---------------]  25%  10/40');
    expect(first).toContain('5.0 images/s');
    expect(first).toContain('ETA 6s');
    expect(r.lines.join('\n')).not.toContain('11/40');
    expect(finished).toContain('[####################] 100%  40/40');
    expect(epochLine).toContain('epoch  2/10');
    expect(epochLine).toContain('opacity auc 0.910 sens 0.900 spec n/a');
    expect(epochLine).toContain('*best');
    // The extraction line and the epoch line each end: they stay on screen.
    expect(r.ended()).toBe(2);
  });

  it("renders the training's events: rates from extraction-started, notices as plain lines, epochs", () => {
    const r = recorder(true);
    let now = 0;
    const progress = new TrainProgress({ output: r.output, log: r.log, now: () => now });
    // Listing and loading the base took 10 s: the rate counts from the extraction-started event.
    now = 10_000;
    progress.render({ kind: 'extraction-started', total: 40 });
    now = 12_000;
    progress.render({
      kind: 'extraction',
      progress: { done: 10, total: 40, cached: 0, computed: 10, skipped: 0 },
    });
    progress.render({ kind: 'notice', message: '3 of 40 listed objects have no row (first: "a.dcm")' });
    progress.render({
      kind: 'extraction-finished',
      progress: { done: 40, total: 40, cached: 0, computed: 40, skipped: 0 },
    });
    progress.render({ kind: 'epoch', epoch });
    expect(r.lines[0]).toContain('5.0 images/s');
    expect(r.lines[1]).toBe('3 of 40 listed objects have no row (first: "a.dcm")\n');
    expect(r.lines[3]).toContain('epoch  2/10');
    expect(r.entries).toEqual([]);
  });
});
