/**
 * The HTTP/1.1 client against scripted servers on loopback (raw TCP, so that every framing and
 * every way of failing is written out byte for byte): Content-Length, chunked and close-delimited
 * bodies in any split, 1xx answers, a sink that pauses the connection, kept connections reused
 * and a stale one retried once, the inactivity timeout, the abort signal, a cut body.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpTimeoutError, type HttpResponse } from './client.js';

/** A server that hands every request (head text) and its socket to `answer`. */
async function rawServer(
  answer: (socket: Socket, request: string, index: number) => void,
): Promise<{ port: number; connections: () => number; server: Server }> {
  let connections = 0;
  let index = 0;
  const server = createServer((socket) => {
    connections += 1;
    let text = '';
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      for (let end = text.indexOf('\r\n\r\n'); end !== -1; end = text.indexOf('\r\n\r\n')) {
        const request = text.slice(0, end);
        text = text.slice(end + 4);
        answer(socket, request, index++);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, connections: () => connections, server };
}

const servers: Server[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

function client(port: number, maxSockets = 2): HttpClient {
  const made = new HttpClient({ protocol: 'http:', hostname: '127.0.0.1', port, maxSockets });
  clients.push(made);
  return made;
}

/** Writes `bytes` in pieces of `size`, one per timer tick (each a separate read on the client). */
async function dribble(socket: Socket, bytes: Buffer, size: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += size) {
    socket.write(bytes.subarray(at, at + size));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The whole body of a response, copied. */
async function bodyOf(response: HttpResponse): Promise<Buffer> {
  const parts: Buffer[] = [];
  await response.consume((bytes) => {
    parts.push(Buffer.from(bytes));
  });
  return Buffer.concat(parts);
}

const BODY = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));

describe('HttpClient', () => {
  it('reads a Content-Length body split anywhere, and reuses the connection for the next request', async () => {
    const requests: string[] = [];
    const { port, connections } = await rawServer((socket, request, index) => {
      requests.push(request);
      const head = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\nKeep-Alive: timeout=5\r\n\r\n`;
      void dribble(socket, Buffer.concat([Buffer.from(head), BODY]), [7, 1000, 100_000][index % 3] ?? 7);
    });
    const http = client(port);
    for (let i = 0; i < 3; i++) {
      const response = await http.get({ path: '/a?b=1', headers: { Accept: 'x/y' }, timeoutMs: 2000 });
      expect(response.status).toBe(200);
      expect((await bodyOf(response)).equals(BODY)).toBe(true);
      expect(response.complete).toBe(true);
    }
    expect(connections()).toBe(1);
    expect(requests[0]).toMatch(/^GET \/a\?b=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAccept: x\/y\r\n/);
  });

  it('reads a chunked body with extensions and trailers, after a 100 Continue', async () => {
    const { port, connections } = await rawServer((socket) => {
      const chunks = [BODY.subarray(0, 1), BODY.subarray(1, 4000), BODY.subarray(4000)];
      const body = Buffer.concat([
        ...chunks.flatMap((chunk, i) => [
          Buffer.from(`${chunk.length.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n`),
          chunk,
          Buffer.from('\r\n'),
        ]),
        Buffer.from('0\r\nX-Trailer: 1\r\n\r\n'),
      ]);
      const head = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
      void dribble(socket, Buffer.concat([Buffer.from(head), body]), 13);
    });
    const http = client(port);
    for (let i = 0; i < 2; i++) {
      const response = await http.get({ path: '/', headers: {}, timeoutMs: 2000 });
      expect(response.status).toBe(200);
      expect((await bodyOf(response)).equals(BODY)).toBe(true);
    }
    expect(connections()).toBe(1);
  });

  it('reads a body that ends with the connection, and does not reuse that connection', async () => {
    const { port, connections } = await rawServer((socket) => {
      socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n'), BODY]));
    });
    const http = client(port);
    for (let i = 0; i < 2; i++) {
      const response = await http.get({ path: '/', headers: {}, timeoutMs: 2000 });
      expect(response.headers['content-type']).toBe('a/b');
      expect((await bodyOf(response)).equals(BODY)).toBe(true);
    }
    expect(connections()).toBe(2);
  });

  it('holds the body back while the sink waits, and delivers the rest in order afterwards', async () => {
    const big = Buffer.alloc(3_000_000, 1);
    big.writeUInt32BE(0xdeadbeef, big.length - 4);
    const { port } = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(big);
    });
    const http = client(port);
    const response = await http.get({ path: '/', headers: {}, timeoutMs: 2000 });
    let received = 0;
    let calls = 0;
    let release: (() => void) | undefined;
    const parts: Buffer[] = [];
    const done = response.consume((bytes) => {
      calls += 1;
      received += bytes.length;
      parts.push(Buffer.from(bytes));
      if (calls === 1) {
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      }
      return undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Paused: the first piece only, though the server sent everything.
    expect(calls).toBe(1);
    release?.();
    await done;
    expect(received).toBe(big.length);
    expect(Buffer.concat(parts).equals(big)).toBe(true);
  });

  it('sends again, once, a request that met a kept connection the server had closed', async () => {
    const { port, connections } = await rawServer((socket, _request, index) => {
      // The second request on the first connection: closed unanswered, as a server whose idle
      // timeout just ran out does.
      if (index === 1) {
        socket.destroy();
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const http = client(port, 1);
    const first = await http.get({ path: '/', headers: {}, timeoutMs: 2000 });
    expect((await bodyOf(first)).toString()).toBe('ok');
    const second = await http.get({ path: '/', headers: {}, timeoutMs: 2000 });
    expect((await bodyOf(second)).toString()).toBe('ok');
    expect(connections()).toBe(2);
  });

  it('fails a fresh connection that closes unanswered, with ECONNRESET and no second try', async () => {
    let asked = 0;
    const { port } = await rawServer((socket) => {
      asked += 1;
      socket.destroy();
    });
    const error = await client(port)
      .get({ path: '/', headers: {}, timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('ECONNRESET');
    expect(asked).toBe(1);
  });

  it('times out a silent server, and stops at the abort signal', async () => {
    const { port } = await rawServer(() => undefined);
    const started = Date.now();
    const timeout = await client(port)
      .get({ path: '/', headers: {}, timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(HttpTimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    const aborted = await client(port)
      .get({ path: '/', headers: {}, timeoutMs: 5000, signal: AbortSignal.timeout(100) })
      .catch((e: unknown) => e);
    expect((aborted as Error).name).toBe('TimeoutError');
  });

  it('reports a body cut short as ECONNRESET, and the response as incomplete', async () => {
    const { port } = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part', () => socket.destroy());
    });
    const response = await client(port).get({ path: '/', headers: {}, timeoutMs: 2000 });
    const error = await bodyOf(response).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('ECONNRESET');
    expect(response.complete).toBe(false);
  });

  it('refuses a header value with a line break, and an answer that is not HTTP', async () => {
    const { port } = await rawServer((socket) => {
      socket.end('SSH-2.0-OpenSSH\r\n\r\n');
    });
    await expect(
      client(port).get({ path: '/', headers: { Authorization: 'a\r\nX: b' }, timeoutMs: 2000 }),
    ).rejects.toThrow(/line break/);
    await expect(client(port).get({ path: '/', headers: {}, timeoutMs: 2000 })).rejects.toThrow(
      /not an HTTP\/1\.1 answer/,
    );
  });
});
