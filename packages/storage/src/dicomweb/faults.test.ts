/**
 * The DICOMweb adapter against a scripted PACS on a real loopback socket (node:http, and https
 * with a certificate made for the test): every way a PACS answers badly gets a clear one-line
 * reason and the right outcome: HTML or an empty multipart (failed at once), 404/410 (failed at
 * once, one request), 429/503 (waited out, Retry-After honoured), a QIDO answer that is not JSON
 * (the window reported, the listing goes on), credentials sent but never echoed, a custom CA, and
 * the request budget held.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ObjectFetchError, ObjectListError } from '../errors.js';
import { createObjectFetcher, openObjectSource } from '../open.js';
import type { PacsObserver } from '../pacs/budget.js';
import type { SkippedEntry } from '../types.js';
import { DEFAULT_DICOMWEB_SETTINGS, type DicomwebSettings } from './source.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface FakePacs {
  readonly base: string;
  readonly requests: { path: string; authorization: string | undefined }[];
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  handle(handler: Handler): void;
  close(): Promise<void>;
}

async function fakePacs(tls?: { key: string; cert: string }): Promise<FakePacs> {
  let handler: Handler = (_req, res) => res.end();
  const requests: FakePacs['requests'] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  };
  const server: Server = tls === undefined ? createServer(listener) : createHttpsServer(tls, listener);
  let connections = 0;
  server.on(tls === undefined ? 'connection' : 'secureConnection', () => {
    connections += 1;
  });
  // Like Orthanc, which answers `Keep-Alive: timeout=1`.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    connections: () => connections,
    base: `dicomweb+${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/dicom-web`,
    requests,
    handle: (next) => {
      handler = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A small fake instance: preamble, DICM, a few bytes. */
const INSTANCE = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(400, 7)]);
const SOP = '/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5';

function multipartAnswer(res: ServerResponse, parts: readonly Buffer[]): void {
  const boundary = 'a1b2c3';
  res.writeHead(200, { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` });
  for (const part of parts) {
    res.write(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
    res.write(part);
    res.write('\r\n');
  }
  res.end(`--${boundary}--\r\n`);
}

function recorder(): PacsObserver & { requests: string[]; throttled: string[] } {
  const requests: string[] = [];
  const throttled: string[] = [];
  return {
    requests,
    throttled,
    observePacsRequest: (operation, statusClass) => requests.push(`${operation} ${statusClass}`),
    countPacsThrottled: (reason) => throttled.push(reason),
  };
}

const settings: DicomwebSettings = {
  ...DEFAULT_DICOMWEB_SETTINGS,
  timeoutMs: 2000,
  requestDeadlineMs: 10_000,
};
const isDicm = (head: Uint8Array): void => {
  if (Buffer.from(head.subarray(128, 132)).toString('latin1') !== 'DICM') throw new Error('not_dicom');
};

async function fetchError(
  pacs: FakePacs,
  observer = recorder(),
  extra: Partial<DicomwebSettings> = {},
): Promise<unknown> {
  const fetcher = createObjectFetcher({
    env: {},
    dicomweb: { ...settings, ...extra },
    pacsObserver: observer,
  });
  try {
    await fetcher.fetch(`${pacs.base}${SOP}`, { head: { bytes: 132, check: isDicm } });
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await fetcher.close();
  }
}

describe('DICOMweb adapter against a misbehaving PACS', () => {
  let pacs: FakePacs;
  beforeAll(async () => {
    pacs = await fakePacs();
  });
  afterAll(async () => {
    await pacs.close();
  });
  afterEach(() => {
    pacs.requests.length = 0;
  });

  it('retrieves with the WADO-RS Accept header for the stored bytes and reads the part', async () => {
    let accept: string | undefined;
    pacs.handle((req, res) => {
      accept = req.headers.accept;
      multipartAnswer(res, [INSTANCE]);
    });
    const observer = recorder();
    const fetcher = createObjectFetcher({ env: {}, dicomweb: settings, pacsObserver: observer });
    const bytes = await fetcher.fetch(`${pacs.base}${SOP}`);
    await fetcher.close();
    expect(Buffer.from(bytes).equals(INSTANCE)).toBe(true);
    expect(accept).toBe('multipart/related; type="application/dicom"; transfer-syntax=*');
    expect(pacs.requests.map((r) => r.path)).toEqual([`/dicom-web${SOP}`]);
    expect(observer.requests).toEqual(['wado 2xx']);
  });

  it('reuses its connections to a PACS that announces a 1-second keep-alive, as Orthanc does', async () => {
    pacs.handle((_req, res) => {
      multipartAnswer(res, [INSTANCE]);
    });
    const fetcher = createObjectFetcher({ env: {}, dicomweb: settings });
    const before = pacs.connections();
    for (let i = 0; i < 10; i++) await fetcher.fetch(`${pacs.base}${SOP}`);
    await fetcher.close();
    // A client that gives up a socket 1 s before the announced timeout (Node's agent does) opens
    // a new connection per retrieve: a third of curl's throughput against Orthanc.
    expect(pacs.connections() - before).toBe(1);
  });

  it('fails at once, with one request and a reason, on 404 and 410', async () => {
    for (const status of [404, 410]) {
      pacs.requests.length = 0;
      pacs.handle((_req, res) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end('{"Details":"Accessing an inexistent instance"}');
      });
      const observer = recorder();
      const error = await fetchError(pacs, observer);
      expect(error).toBeInstanceOf(ObjectFetchError);
      expect((error as ObjectFetchError).transient).toBe(false);
      expect((error as Error).message).toMatch(new RegExp(`not found on the PACS \\(HTTP ${status}\\)$`));
      expect(pacs.requests).toHaveLength(1);
      expect(observer.requests).toEqual(['wado 4xx']);
    }
  });

  it('fails at once on an HTML page, an empty multipart and an HTML part', async () => {
    pacs.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html><body>Single sign-on</body></html>');
    });
    const html = await fetchError(pacs);
    expect((html as ObjectFetchError).transient).toBe(false);
    expect((html as Error).message).toMatch(
      /answered text\/html, not multipart\/related or application\/dicom$/,
    );

    pacs.handle((_req, res) => {
      multipartAnswer(res, []);
    });
    const empty = await fetchError(pacs);
    expect((empty as ObjectFetchError).transient).toBe(false);
    expect((empty as Error).message).toMatch(/holds no instance \(empty multipart\)$/);

    pacs.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'multipart/related; boundary=zz' });
      res.end('--zz\r\nContent-Type: text/html\r\n\r\n<html/>\r\n--zz--');
    });
    expect(((await fetchError(pacs)) as Error).message).toMatch(
      /part is text\/html, not application\/dicom$/,
    );

    // A part that says DICOM but is not: the head check's own error, unchanged.
    pacs.handle((_req, res) => {
      multipartAnswer(res, [Buffer.from('\x89PNG\r\n\x1a\n'.padEnd(300, '.'))]);
    });
    expect(((await fetchError(pacs)) as Error).message).toBe('not_dicom');
  });

  it('waits out 429 with Retry-After and 503 with backoff, then retrieves', async () => {
    let calls = 0;
    const at: number[] = [];
    pacs.handle((_req, res) => {
      calls += 1;
      at.push(Date.now());
      if (calls === 1) {
        res.writeHead(429, { 'Retry-After': '1' });
        res.end();
      } else if (calls === 2) {
        res.writeHead(503);
        res.end();
      } else multipartAnswer(res, [INSTANCE]);
    });
    const observer = recorder();
    const fetcher = createObjectFetcher({ env: {}, dicomweb: settings, pacsObserver: observer });
    const bytes = await fetcher.fetch(`${pacs.base}${SOP}`);
    await fetcher.close();
    expect(Buffer.from(bytes).equals(INSTANCE)).toBe(true);
    expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(990);
    expect((at[2] ?? 0) - (at[1] ?? 0)).toBeGreaterThanOrEqual(100);
    expect(observer.throttled).toEqual(['pacs_429', 'pacs_503']);
    expect(observer.requests).toEqual(['wado 4xx', 'wado 5xx', 'wado 2xx']);
  });

  it('gives up on a PACS that keeps answering 429 beyond the deadline, as a transient failure', async () => {
    pacs.handle((_req, res) => {
      res.writeHead(429, { 'Retry-After': '30' });
      res.end();
    });
    const error = await fetchError(pacs, recorder(), { requestDeadlineMs: 2000 });
    expect((error as ObjectFetchError).transient).toBe(true);
    expect((error as Error).message).toMatch(/asked to slow down \(HTTP 429\)/);
    expect(pacs.requests).toHaveLength(1);
  });

  it('retries a reset connection as transient, and counts it as a network failure', async () => {
    pacs.handle((req) => {
      req.socket.destroy();
    });
    const observer = recorder();
    const error = await fetchError(pacs, observer);
    expect((error as ObjectFetchError).transient).toBe(true);
    expect(observer.requests).toEqual(['wado network']);
  });

  it('sends the bearer token or Basic credentials, and never repeats them in an error', async () => {
    pacs.handle((_req, res) => {
      res.writeHead(401);
      res.end();
    });
    const token = 'secret-token-0123456789abcdef';
    const error = await fetchError(pacs, recorder(), { token });
    expect(pacs.requests[0]?.authorization).toBe(`Bearer ${token}`);
    expect((error as ObjectFetchError).transient).toBe(false);
    expect((error as Error).message).toMatch(
      /access denied by the PACS \(HTTP 401\): check CXR_DICOMWEB_TOKEN/,
    );
    expect((error as Error).message).not.toContain(token);
    pacs.requests.length = 0;
    await fetchError(pacs, recorder(), { user: 'cxr', password: 'pa:ss' });
    expect(pacs.requests[0]?.authorization).toBe(`Basic ${Buffer.from('cxr:pa:ss').toString('base64')}`);
  });

  it('refuses credentials written into the URI without repeating them', () => {
    let message = '';
    try {
      openObjectSource('dicomweb+http://cxr:hunter2@127.0.0.1:1/dicom-web?PatientID=CANARY-ID-0001', {
        env: {},
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/credentials do not belong in the URI: set CXR_DICOMWEB_TOKEN/);
    expect(message).not.toMatch(/hunter2|CANARY/);
  });

  it('keeps to the concurrency of the request budget', async () => {
    let active = 0;
    let peak = 0;
    pacs.handle((_req, res) => {
      active += 1;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active -= 1;
        multipartAnswer(res, [INSTANCE]);
      }, 30);
    });
    const observer = recorder();
    const fetcher = createObjectFetcher({
      env: {},
      dicomweb: { ...settings, maxConcurrency: 2, maxRequestsPerSecond: 0 },
      pacsObserver: observer,
    });
    await Promise.all(Array.from({ length: 8 }, () => fetcher.fetch(`${pacs.base}${SOP}`)));
    await fetcher.close();
    expect(peak).toBe(2);
    expect(observer.throttled.filter((reason) => reason === 'concurrency').length).toBeGreaterThanOrEqual(4);
  });

  it('reports a study window whose QIDO answer is not JSON after three tries, and lists the others', async () => {
    const dates = ['20240101', '20240102', '20240102', '20240103'];
    pacs.handle((req, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      const match = url.searchParams.get('StudyDate') ?? '';
      if (match === '20240102') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html>maintenance</html>');
        return;
      }
      const [from = '', to = from] = match.split('-');
      const items = dates
        .map((date, i) => ({ date, i }))
        .filter(({ date }) => date >= from && date <= to)
        .map(({ date, i }) => ({
          '0020000D': { Value: ['1.2'] },
          '0020000E': { Value: ['1.2.3'] },
          '00080018': { Value: [`1.2.3.${date}.${i}`] },
        }))
        .slice(0, Number(url.searchParams.get('limit')));
      res.writeHead(200, { 'Content-Type': 'application/dicom+json' });
      res.end(JSON.stringify(items));
    });
    // Pages of 2: the three days are split down to single days, one of which is broken.
    const source = openObjectSource(`${pacs.base}?study-date=20240101-20240103&modality=CR`, {
      env: {},
      dicomweb: { ...settings, pageSize: 2 },
    });
    const skipped: SkippedEntry[] = [];
    const uris: string[] = [];
    for await (const entry of source.list({ onSkip: (s) => skipped.push(s) })) uris.push(entry.uri);
    await source.close();
    expect(skipped.map((s) => s.reason)).toEqual(['query_failed']);
    expect(skipped[0]?.uri).toBe(`${pacs.base}#window=20240102&modality=CR`);
    expect(uris).toEqual([
      `${pacs.base}/studies/1.2/series/1.2.3/instances/1.2.3.20240101.0`,
      `${pacs.base}/studies/1.2/series/1.2.3/instances/1.2.3.20240103.3`,
    ]);
    expect(pacs.requests.filter((r) => r.path.includes('StudyDate=20240102&')).length).toBe(3);
  }, 30_000);

  it('ends a listing the PACS refuses (401) at once with a permanent error', async () => {
    pacs.handle((_req, res) => {
      res.writeHead(401);
      res.end();
    });
    const source = openObjectSource(`${pacs.base}?PatientID=CANARY-ID-0001`, { env: {}, dicomweb: settings });
    let error: unknown;
    try {
      for await (const _entry of source.list()) break;
    } catch (caught) {
      error = caught;
    }
    await source.close();
    expect(error).toBeInstanceOf(ObjectListError);
    expect((error as ObjectListError).transient).toBe(false);
    expect((error as Error).message).toMatch(
      /^list dicomweb\+http:\/\/127\.0\.0\.1:\d+\/dicom-web#filters=[0-9a-f]{16} failed \(permanent\): QIDO-RS: access denied/,
    );
    expect((error as Error).message).not.toContain('CANARY');
    expect(pacs.requests[0]?.path).toContain('PatientID=CANARY-ID-0001');
  });
});

describe('DICOMweb over HTTPS with a custom CA', () => {
  let dir: string;
  let pacs: FakePacs;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cxr-dicomweb-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=cxr-test-pacs',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    pacs = await fakePacs({
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    });
    pacs.handle((_req, res) => {
      multipartAnswer(res, [INSTANCE]);
    });
  });
  afterAll(async () => {
    await pacs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts the PACS with CXR_DICOMWEB_CA_FILE and refuses it, permanently, without', async () => {
    const fetcher = createObjectFetcher({
      env: {},
      dicomweb: { ...settings, caFile: join(dir, 'cert.pem') },
    });
    const bytes = await fetcher.fetch(`${pacs.base}${SOP}`);
    await fetcher.close();
    expect(Buffer.from(bytes).equals(INSTANCE)).toBe(true);
    const error = await fetchError(pacs);
    expect(error).toBeInstanceOf(ObjectFetchError);
    expect((error as ObjectFetchError).transient).toBe(false);
    expect((error as Error).message).toMatch(/TLS certificate not trusted \(\w+\): set CXR_DICOMWEB_CA_FILE/);
  });

  it('names CXR_DICOMWEB_CA_FILE when it cannot be read', () => {
    expect(() =>
      openObjectSource(pacs.base, { env: {}, dicomweb: { ...settings, caFile: join(dir, 'missing.pem') } }),
    ).toThrow(/^CXR_DICOMWEB_CA_FILE cannot be read \(.*\): .*missing\.pem$/);
  });
});
