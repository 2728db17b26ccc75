import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { errorSummary, jsonLineLogger, stopOnSignals } from './log.js';

describe('jsonLineLogger', () => {
  it('writes one JSON object per line with a fixed message and a data object', () => {
    const lines: string[] = [];
    const log = jsonLineLogger('worker', 'info', (line) => lines.push(line));
    log('info', 'batch done', { size: 8 });
    log('debug', 'dropped below the level', {});
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      service: 'worker',
      msg: 'batch done',
      data: { size: 8 },
    });
  });
});

describe('errorSummary', () => {
  it('keeps the class name and code, never the message', () => {
    const error = Object.assign(new Error('GET s3://bucket/DOE^JOHN.dcm failed'), { code: 'ECONNRESET' });
    const summary = errorSummary(error);
    expect(summary).toEqual({ errorName: 'Error', errorCode: 'ECONNRESET' });
    expect(JSON.stringify(summary)).not.toContain('DOE');
    expect(errorSummary('text')).toEqual({ errorName: 'string' });
  });
});

describe('stopOnSignals', () => {
  it('stops once on the first signal and logs the request and the completion', async () => {
    const lines: string[] = [];
    let stops = 0;
    const signals = new EventEmitter();
    stopOnSignals(
      () => {
        stops++;
        return Promise.resolve();
      },
      jsonLineLogger('test', 'info', (line) => lines.push(line)),
      signals,
    );
    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    await new Promise((resolve) => setImmediate(resolve));
    expect(stops).toBe(1);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
      'shutdown requested',
      'shutdown complete',
    ]);
  });
});
