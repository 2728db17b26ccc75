/**
 * The STOW-RS sender against a real HTTP server on loopback (answers chosen per test): what it
 * sends, and how each answer is classified (stored, refused for good, retry later). The C-STORE
 * path and Orthanc's own answers are in findings-delivery.int.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFindingsDestination } from './destination.js';
import { DeliveryError } from './errors.js';
import { findingsSender, splitPart10, stowFailureReasons } from './senders.js';

const OBJECT = {
  sopClassUid: '1.2.840.10008.5.1.4.1.1.88.22',
  sopInstanceUid: '2.25.1234',
  bytes: new Uint8Array([1, 2, 3, 4]),
};

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running !== undefined) await new Promise((resolve) => running.close(resolve));
});

async function pacs(status: number, body: unknown): Promise<{ base: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      res.writeHead(status, { 'Content-Type': 'application/dicom+json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { base: `dicomweb+http://127.0.0.1:${port}/dicom-web`, received };
}

const settings = {
  dicomweb: { token: 'secret-token-0123456789', user: undefined, password: undefined, timeoutMs: 2000 },
  dimse: { callingAeTitle: 'CXR', timeoutMs: 2000 },
};

async function attempt(base: string): Promise<unknown> {
  const sender = findingsSender(parseFindingsDestination(base), settings);
  return sender.send(OBJECT).then(
    () => 'sent',
    (error: unknown) => error,
  );
}

const failedSop = (reason: number) => ({
  '00081198': {
    vr: 'SQ',
    Value: [{ '00081197': { vr: 'US', Value: [reason] }, '00081155': { vr: 'UI', Value: ['2.25.1234'] } }],
  },
});

describe('STOW-RS sender', () => {
  it('posts one multipart/related application/dicom part to ROOT/studies with the token', async () => {
    const { base, received } = await pacs(200, { '00081199': { vr: 'SQ', Value: [{}] } });
    expect(await attempt(base)).toBe('sent');
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/dicom-web/studies');
    expect(request.headers.authorization).toBe('Bearer secret-token-0123456789');
    const type = String(request.headers['content-type']);
    expect(type).toMatch(/^multipart\/related; type="application\/dicom"; boundary=/);
    const boundary = /boundary=(\S+)/.exec(type)?.[1];
    expect(request.body.toString('latin1')).toBe(
      `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n\x01\x02\x03\x04\r\n--${boundary}--\r\n`,
    );
  });

  it('records a refusal of the object as permanent, with the Failure Reason', async () => {
    const { base } = await pacs(409, failedSop(0xc000));
    const error = await attempt(base);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ reason: 'stow_failure_0xC000', transient: false });
    // 200 with a failed instance is a refusal too; "out of resources" is worth a retry.
    const ok = await pacs(202, failedSop(0xa700));
    expect(await attempt(ok.base)).toMatchObject({ reason: 'stow_failure_0xA700', transient: true });
  });

  it('waits (transient) for a PACS that is down, busy or misconfigured; refuses for good on other 4xx', async () => {
    for (const [status, transient] of [
      [503, true],
      [500, true],
      [429, true],
      [401, true],
      [404, true],
      [400, false],
      [415, false],
    ] as const) {
      const { base } = await pacs(status, {});
      expect(await attempt(base), String(status)).toMatchObject({ reason: `stow_http_${status}`, transient });
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    }
    // Nobody listening: connection refused.
    expect(await attempt('dicomweb+http://127.0.0.1:9/dicom-web')).toMatchObject({
      reason: 'pacs_unreachable',
      transient: true,
    });
  });

  it('reads Failure Reasons from a STOW answer and tolerates other bodies', () => {
    expect(stowFailureReasons(JSON.stringify(failedSop(0x0110)))).toEqual([0x0110]);
    expect(stowFailureReasons(JSON.stringify([failedSop(0xa900)]))).toEqual([0xa900]);
    expect(stowFailureReasons('not json')).toEqual([]);
    expect(stowFailureReasons('null')).toEqual([]);
  });
});

describe('destinations', () => {
  it('parses STOW-RS and DIMSE destinations and refuses the rest without echoing a query', () => {
    expect(parseFindingsDestination('dicomweb+https://pacs.example:8443/dicom-web/')).toMatchObject({
      kind: 'dicomweb',
      httpBase: 'https://pacs.example:8443/dicom-web',
    });
    expect(parseFindingsDestination('dimse://PACS@10.0.0.5:104')).toMatchObject({
      kind: 'dimse',
      calledAeTitle: 'PACS',
      host: '10.0.0.5',
      port: 104,
    });
    expect(() => parseFindingsDestination('dimse://PACS@host:104?patientId=SECRET')).toThrow(/no query/);
    expect(() => parseFindingsDestination('dimse://PACS@host:104?patientId=SECRET')).not.toThrow(/SECRET/);
    expect(() => parseFindingsDestination('s3://bucket/x')).toThrow(/unknown scheme/);
    expect(() => parseFindingsDestination('dicomweb+http://user:pw@pacs/dicom-web')).toThrow(/credentials/);
  });
});

describe('splitPart10', () => {
  it('returns the data set after the file meta information and its transfer syntax', () => {
    const ts = '1.2.840.10008.1.2.1\0';
    const element = (el: number, vr: string, value: Buffer): Buffer => {
      const head = Buffer.alloc(8);
      head.writeUInt16LE(0x0002, 0);
      head.writeUInt16LE(el, 2);
      head.write(vr, 4, 'latin1');
      head.writeUInt16LE(value.length, 6);
      return Buffer.concat([head, value]);
    };
    const tsElement = element(0x0010, 'UI', Buffer.from(ts, 'latin1'));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(tsElement.length, 0);
    const dataSet = Buffer.from([0x08, 0x00, 0x16, 0x00, 0x55, 0x49, 0x02, 0x00, 0x31, 0x00]);
    const file = Buffer.concat([
      Buffer.alloc(128),
      Buffer.from('DICM'),
      element(0x0000, 'UL', length),
      tsElement,
      dataSet,
    ]);
    const split = splitPart10(new Uint8Array(file));
    expect(split.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(Buffer.from(split.dataSet)).toEqual(dataSet);
    expect(() => splitPart10(new Uint8Array(200))).toThrow(/not a DICOM Part 10/);
  });
});
