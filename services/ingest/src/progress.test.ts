import { describe, expect, it } from 'vitest';
import type { Logger, ProgressOutput } from '@cxr/config/log';
import { ProgressReporter, type IngestProgress } from './progress.js';

/** A progress output that records the lines drawn; `drawsProgress` picks the mode. */
function fakeOutput(drawsProgress: boolean): ProgressOutput & { lines: string[]; ended: number } {
  const out = {
    drawsProgress,
    lines: [] as string[],
    ended: 0,
    writeLine: (line: string) => void out.lines.push(line),
    progress: (text: string) => void out.lines.push(text),
    endProgress: () => void (out.ended += 1),
  };
  return out;
}

function fakeLog(): Logger & { entries: { level: string; msg: string; data: Record<string, unknown> }[] } {
  const entries: { level: string; msg: string; data: Record<string, unknown> }[] = [];
  const log: Logger = (level, msg, data = {}) => {
    entries.push({ level, msg, data: { ...data } });
  };
  return Object.assign(log, { entries });
}

const at = (listed: number, paused = false): IngestProgress => ({
  listed,
  enqueued: listed - 2,
  duplicates: 2,
  skipped: 0,
  sourceSkipped: 0,
  paused,
});

describe('ProgressReporter', () => {
  it('redraws one terminal line with counts, rate, bar and ETA, throttled, and ends it once', () => {
    const output = fakeOutput(true);
    const log = fakeLog();
    let now = 1_000;
    const reporter = new ProgressReporter({ output, log, now: () => now, source: 'manifest', total: 100 });
    expect(reporter.isTty).toBe(true);
    now += 1_000;
    reporter.update(at(50));
    now += 10; // within the 100 ms draw interval: no redraw
    reporter.update(at(51));
    now += 1_000;
    reporter.update(at(80, true));
    reporter.finish(at(100));
    expect(output.lines).toHaveLength(3);
    expect(output.ended).toBe(1);
    const [first, second, last] = output.lines;
    expect(first).not.toMatch(/[\r\n]/);
    expect(first).toContain('[##########----------]  50%');
    expect(first).toContain('listed 50');
    expect(first).toContain('new 48');
    expect(first).toContain('dup 2');
    expect(first).toContain('50 keys/s');
    expect(first).toContain('ETA 1s');
    expect(second).toContain('paused');
    expect(last).toContain('100%');
    expect(last).not.toContain('ETA');
    expect(log.entries).toEqual([]);
  });

  it('logs progress periodically, with a fixed message and a data object, when no line is drawn', () => {
    const output = fakeOutput(false);
    const log = fakeLog();
    let now = Date.UTC(2026, 0, 1);
    const reporter = new ProgressReporter({
      output,
      log,
      now: () => now,
      source: 's3',
      logIntervalMs: 10_000,
    });
    now += 2_000;
    reporter.update(at(1_000));
    now += 5_000; // within the log interval: nothing
    reporter.update(at(3_000));
    now += 5_000;
    reporter.update(at(6_000));
    reporter.finish(at(6_000));
    expect(output.lines).toEqual([]);
    expect(log.entries.map((entry) => `${entry.level} ${entry.msg}`)).toEqual([
      'info ingest progress',
      'info ingest progress',
      'info ingest finished',
    ]);
    expect(log.entries[0]?.data).toMatchObject({
      source: 's3',
      listed: 1_000,
      enqueued: 998,
      keysPerSecond: 500,
    });
    expect(log.entries[1]?.data).toMatchObject({ listed: 6_000, keysPerSecond: 500, elapsedSeconds: 12 });
  });

  it('shows entries the source did not list, on the terminal when there are some and always in the logs', () => {
    const tty = fakeOutput(true);
    const reporter = new ProgressReporter({ output: tty, log: fakeLog(), source: 'file' });
    reporter.update({ ...at(10), sourceSkipped: 0 });
    reporter.finish({ ...at(10), sourceSkipped: 3 });
    expect(tty.lines[0]).not.toContain('not listed');
    expect(tty.lines[1]).toContain('not listed 3');
    const log = fakeLog();
    new ProgressReporter({ output: fakeOutput(false), log, source: 'file' }).finish({
      ...at(10),
      sourceSkipped: 3,
    });
    expect(log.entries[0]?.data).toMatchObject({ sourceSkipped: 3 });
  });

  it('prints nothing after finish', () => {
    const log = fakeLog();
    const reporter = new ProgressReporter({ output: fakeOutput(false), log, source: 'file' });
    reporter.finish(at(3));
    reporter.update(at(4));
    reporter.finish(at(4));
    expect(log.entries).toHaveLength(1);
  });
});
