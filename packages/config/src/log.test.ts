import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  LogOutput,
  errorSummary,
  formatDuration,
  jsonLineLogger,
  redactUris,
  stopOnSignals,
  uriHash,
} from './log.js';
import { renderTerminal } from './testing/terminal.js';

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

describe('object URIs in log lines', () => {
  const uri = 's3://archive/export/DOE^JOHN_MRN-998877.dcm';

  it('are written as their hash, at every level and depth, unless CXR_LOG_URIS asks for them', () => {
    const lines: string[] = [];
    const log = jsonLineLogger('worker', 'debug', (line) => lines.push(line));
    log('info', 'job rejected', { jobId: 'scr_1', uri, reason: 'not_dicom' });
    log('debug', 'batch', { items: [{ uri }], first: { uri } });
    const text = lines.join('');
    expect(text).not.toMatch(/DOE|JOHN|998877|archive/);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      data: { jobId: 'scr_1', uriHash: uriHash(uri), reason: 'not_dicom' },
    });
    expect((JSON.parse(lines[1]!) as { data: unknown }).data).toEqual({
      items: [{ uriHash: uriHash(uri) }],
      first: { uriHash: uriHash(uri) },
    });

    const optIn: string[] = [];
    jsonLineLogger('worker', 'info', (line) => optIn.push(line), { logUris: true })('info', 'job rejected', {
      uri,
    });
    expect(JSON.parse(optIn[0]!)).toMatchObject({ data: { uriHash: uriHash(uri), uri } });
  });

  it('hash to the first 16 hex digits of the SHA-256 of the URI (computable from the store)', () => {
    expect(uriHash(uri)).toBe(createHash('sha256').update(uri).digest('hex').slice(0, 16));
    expect(uriHash(uri)).toMatch(/^[0-9a-f]{16}$/);
    expect(redactUris({ uri: 42, other: 'x' })).toEqual({ uri: 42, other: 'x' });
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

/** A stream that records what is written, as a terminal or not. */
function fakeStream(
  isTTY: boolean,
  columns?: number,
): { isTTY: boolean; columns?: number; text: string; write(t: string): boolean } {
  return {
    isTTY,
    ...(columns !== undefined ? { columns } : {}),
    text: '',
    write(t: string) {
      this.text += t;
      return true;
    },
  };
}

/** Every log line has this shape, whoever writes it. */
const LOG_KEYS = ['time', 'level', 'service', 'msg', 'data'];

describe('LogOutput', () => {
  it('on a terminal prints log lines above the progress line, never onto it', () => {
    const stream = fakeStream(true);
    const output = new LogOutput(stream);
    const log = output.logger('screen');
    expect(output.drawsProgress).toBe(true);
    log('info', 'worker started', { maxBatch: 8 });
    output.progress('screening 1/10  0.5 images/s  ETA 18s');
    log('warn', 'job failed', { jobId: 'j1' });
    output.progress('screening 2/10  0.7 images/s  ETA 11s');
    log('info', 'job rejected', { jobId: 'j2' });
    output.endProgress();
    log('info', 'screening finished', {});
    const shown = renderTerminal(stream.text);
    expect(
      shown.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { msg: string }).msg : line)),
    ).toEqual([
      'worker started',
      'job failed',
      'job rejected',
      'screening 2/10  0.7 images/s  ETA 11s',
      'screening finished',
    ]);
    for (const line of shown.filter((l) => l.startsWith('{'))) {
      expect(Object.keys(JSON.parse(line) as object)).toEqual(LOG_KEYS);
    }
  });

  it('cuts the progress line to the terminal width so it can be redrawn in place', () => {
    const stream = fakeStream(true, 20);
    const output = new LogOutput(stream);
    output.progress('screening 1,234/5,678  12.5 images/s  ETA 5m50s');
    output.progress('screening 1,240/5,678  12.5 images/s  ETA 5m49s');
    expect(renderTerminal(stream.text)).toEqual(['screening 1,240/5,6']);
  });

  it('off a terminal, or with CXR_LOG_FORMAT=json, draws nothing: every line is a log line', () => {
    for (const [stream, format] of [
      [fakeStream(false), 'auto'],
      [fakeStream(true), 'json'],
    ] as const) {
      const output = new LogOutput(stream, format);
      expect(output.drawsProgress).toBe(false);
      output.logger('ingest')('info', 'ingest started', {});
      output.progress('ingest 50%');
      output.endProgress();
      output.logger('ingest')('info', 'ingest finished', {});
      const lines = stream.text.trimEnd().split('\n');
      expect(lines.map((line) => Object.keys(JSON.parse(line) as object))).toEqual([LOG_KEYS, LOG_KEYS]);
    }
  });
});

describe('formatDuration', () => {
  it('reads like a clock, coarser as it grows', () => {
    expect([0.4, 45, 185, 3599.6, 7440, Number.POSITIVE_INFINITY, -1].map(formatDuration)).toEqual([
      '0s',
      '45s',
      '3m05s',
      '1h00m',
      '2h04m',
      '?',
      '?',
    ]);
  });
});
