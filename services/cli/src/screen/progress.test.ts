import { describe, expect, it } from 'vitest';
import type { Logger, ProgressOutput } from '@cxr/config/log';
import { ScreenProgress, type ScreenCounts } from './progress.js';

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

const counts = (overrides: Partial<ScreenCounts>): ScreenCounts => ({
  done: 0,
  remaining: 0,
  unstored: 0,
  listed: 0,
  listing: false,
  paused: false,
  ...overrides,
});

describe('ScreenProgress', () => {
  it('draws done/total, rate and ETA on a terminal; no ETA while the total can still grow', () => {
    const r = recorder(true);
    let now = 0;
    const progress = new ScreenProgress({ output: r.output, log: r.log, now: () => now });
    now = 10_000;
    progress.update(
      counts({ done: 20, remaining: 1_200, unstored: 3, listed: 1_223, listing: true, paused: true }),
    );
    now = 10_050; // throttled
    progress.update(counts({ done: 21, remaining: 1_202 }));
    now = 20_000;
    progress.update(counts({ done: 40, remaining: 158, unstored: 2, listed: 200 }));
    progress.finish(counts({ done: 200, listed: 200 }));
    expect(r.lines).toEqual([
      'screening 20/1,223  2.0 images/s  ETA ?  listing: 1,223 listed (paused: queue above high water)',
      'screening 40/200  2.0 images/s  ETA 1m20s',
      'screening 200/200  10.0 images/s  ETA 0s',
    ]);
    expect(r.ended()).toBe(1);
    expect(r.entries).toEqual([]);
  });

  it('logs `screening progress` every 10 s when no line is drawn, and nothing at finish', () => {
    const r = recorder(false);
    let now = 0;
    const progress = new ScreenProgress({ output: r.output, log: r.log, now: () => now });
    now = 4_000;
    progress.update(counts({ done: 8, remaining: 10, unstored: 2, listed: 20 }));
    now = 9_000;
    progress.update(counts({ done: 12, remaining: 6, unstored: 2, listed: 20 }));
    now = 14_000;
    progress.update(counts({ done: 14, remaining: 6, listed: 20 }));
    progress.finish(counts({ done: 20, listed: 20 }));
    expect(r.lines).toEqual([]);
    expect(r.ended()).toBe(0);
    expect(r.entries).toEqual([
      {
        msg: 'screening progress',
        data: {
          done: 8,
          total: 20,
          remaining: 10,
          unstored: 2,
          listed: 20,
          listing: false,
          imagesPerSecond: 2,
          etaSeconds: 6,
        },
      },
      {
        msg: 'screening progress',
        data: expect.objectContaining({ done: 14, total: 20, etaSeconds: 6 }) as unknown,
      },
    ]);
  });
});
