/**
 * Test helper: an HTTP proxy in front of a real server that fails chosen requests, to exercise
 * transient-error handling against real sockets (no mocks).
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What to do with a failed request: answer 503 (like S3's ServiceUnavailable), cut the socket
 * (ECONNRESET), or never answer (for timeouts; the socket is freed on close()).
 */
export type FaultKind = 'status-503' | 'reset' | 'hang';

/** Decides per request whether to inject a fault (see `FaultProxy.failWhen`). */
export type FaultRule = (request: {
  readonly method: string;
  readonly path: string;
}) => FaultKind | undefined;

export interface FaultProxy {
  readonly endpoint: string;
  /** Requests seen so far (failed ones included). */
  readonly requestCount: number;
  /** Fails the next `count` requests with `kind`; later requests are forwarded. */
  failNext(count: number, kind: FaultKind): void;
  /**
   * Per-request faults: `rule` sees each request (method and path, e.g. `GET /bucket/key`) and
   * returns the fault to inject, or undefined to go on (to `failNext`, then forwarding).
   */
  failWhen(rule: FaultRule | undefined): void;
  close(): Promise<void>;
}

/** Starts a proxy on a random loopback port forwarding to `target` (e.g. http://127.0.0.1:PORT). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  let pendingFaults = 0;
  let faultKind: FaultKind = 'status-503';
  let requestCount = 0;
  let rule: FaultRule | undefined;
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    // Headers pass through untouched: the SigV4 signature covers Host.
    const upstream = request(
      {
        hostname: targetUrl.hostname,
        port: targetUrl.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.destroy();
    });
    req.pipe(upstream);
  };

  const fail = (kind: FaultKind, req: IncomingMessage, res: ServerResponse): void => {
    if (kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    if (kind === 'hang') return;
    res.writeHead(503, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected fault</Message></Error>',
    );
  };

  const server = createServer((req, res) => {
    requestCount++;
    const ruled = rule?.({ method: req.method ?? '', path: req.url ?? '' });
    if (ruled !== undefined) {
      fail(ruled, req, res);
      return;
    }
    if (pendingFaults > 0) {
      pendingFaults--;
      fail(faultKind, req, res);
      return;
    }
    forward(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requestCount() {
      return requestCount;
    },
    failNext(count, kind) {
      pendingFaults = count;
      faultKind = kind;
    },
    failWhen(next) {
      rule = next;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
  };
}
