import { describe, expect, it } from 'vitest';
import { ProgressReporter, type IngestProgress } from './progress.js';

function fakeStream(isTTY: boolean): { isTTY: boolean; chunks: string[]; write(text: string): boolean } {
  const chunks: string[] = [];
  return { isTTY, chunks, write: (text: string) => chunks.push(text) > 0 };
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
  it('redraws one terminal line with counts, rate and bar, throttled, and ends it with a newline', () => {
    const stream = fakeStream(true);
    let now = 1_000;
    const reporter = new ProgressReporter({ stream, now: () => now, source: 'manifest', total: 100 });
    expect(reporter.isTty).toBe(true);
    now += 1_000;
    reporter.update(at(50));
    now += 10; // within the 100 ms draw interval: no redraw
    reporter.update(at(51));
    now += 1_000;
    reporter.update(at(80, true));
    reporter.finish(at(100));
    expect(stream.chunks).toHaveLength(4);
    const [first, second, last, newline] = stream.chunks;
    expect(first).toMatch(/^\r/);
    expect(first).toContain('\x1b[K');
    expect(first).not.toContain('\n');
    expect(first).toContain('[##########----------]  50%');
    expect(first).toContain('listed 50');
    expect(first).toContain('new 48');
    expect(first).toContain('dup 2');
    expect(first).toContain('50 keys/s');
    expect(second).toContain('paused');
    expect(last).toContain('100%');
    expect(newline).toBe('\n');
  });

  it('writes periodic JSON log lines, with a fixed message and a data object, when not a TTY', () => {
    const stream = fakeStream(false);
    let now = Date.UTC(2026, 0, 1);
    const reporter = new ProgressReporter({ stream, now: () => now, source: 's3', logIntervalMs: 10_000 });
    now += 2_000;
    reporter.update(at(1_000));
    now += 5_000; // within the log interval: nothing
    reporter.update(at(3_000));
    now += 5_000;
    reporter.update(at(6_000));
    reporter.finish(at(6_000));
    const lines = stream.chunks.map((chunk) => {
      expect(chunk.endsWith('\n')).toBe(true);
      expect(chunk).not.toContain('\r');
      return JSON.parse(chunk) as { msg: string; level: string; data: Record<string, unknown> };
    });
    expect(lines.map((line) => line.msg)).toEqual(['ingest progress', 'ingest progress', 'ingest finished']);
    expect(lines[0]?.data).toMatchObject({ source: 's3', listed: 1_000, enqueued: 998, keysPerSecond: 500 });
    expect(lines[1]?.data).toMatchObject({ listed: 6_000, keysPerSecond: 500, elapsedSeconds: 12 });
  });

  it('shows entries the source did not list, on the terminal when there are some and always in the logs', () => {
    const tty = fakeStream(true);
    const reporter = new ProgressReporter({ stream: tty, source: 'file' });
    reporter.update({ ...at(10), sourceSkipped: 0 });
    reporter.finish({ ...at(10), sourceSkipped: 3 });
    expect(tty.chunks[0]).not.toContain('not listed');
    expect(tty.chunks[1]).toContain('not listed 3');
    const log = fakeStream(false);
    new ProgressReporter({ stream: log, source: 'file' }).finish({ ...at(10), sourceSkipped: 3 });
    expect(JSON.parse(log.chunks[0] ?? '{}')).toMatchObject({ data: { sourceSkipped: 3 } });
  });

  it('prints nothing after finish', () => {
    const stream = fakeStream(false);
    const reporter = new ProgressReporter({ stream, source: 'file' });
    reporter.finish(at(3));
    reporter.update(at(4));
    reporter.finish(at(4));
    expect(stream.chunks).toHaveLength(1);
  });
});
