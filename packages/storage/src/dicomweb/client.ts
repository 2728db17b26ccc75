/**
 * A small HTTP/1.1 client for GET requests to one origin (one PACS), written for WADO-RS
 * throughput. node:http costs about seven times curl's CPU per retrieved byte (measured: 7 ms of
 * CPU per 2.1 MB retrieve against curl's 1 ms, bench/pacs.ts): a fresh 64 KB Buffer per socket
 * read, llhttp and two streams per chunk, their garbage. Here each connection reads into one
 * reused buffer (net's `onread`, so a read takes up to READ_BUFFER_BYTES at once), the response
 * head is parsed once, and body bytes are handed to the consumer as views of that buffer,
 * synchronously: the multipart parser copies the instance straight into its final buffer.
 *
 * What it does: keep-alive connections (at most `maxSockets`, idle ones reused newest first and
 * given up before the server's announced `Keep-Alive: timeout`), bodies framed by Content-Length,
 * chunked transfer coding or the connection's end, 1xx answers skipped, https with a custom CA, an
 * inactivity timeout, an abort signal, one resend of a request that met a kept-alive connection
 * the server had just closed. What it does not: methods other than GET, request bodies,
 * pipelining, proxies, redirects, decompression (the caller's).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** Bytes one socket read may take at once (one buffer per connection, reused). */
const READ_BUFFER_BYTES = 512 * 1024;
/** Largest response head (status line and headers) accepted. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size or trailer line accepted. */
const MAX_LINE_BYTES = 4096;
/** How long before the server's announced keep-alive timeout an idle connection is given up. */
const KEEP_ALIVE_MARGIN_MS = 250;
/** Idle time of a kept connection when the server announces no keep-alive timeout. */
const KEEP_ALIVE_IDLE_MS = 4000;

/** No bytes for the inactivity timeout: the exchange is abandoned. */
export class HttpTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** The connection failed or ended early: `code` as Node's own (ECONNRESET for a hang-up). */
export class HttpExchangeError extends Error {
  override readonly name = 'HttpExchangeError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server's answer could not be read as HTTP/1.1. */
export class HttpProtocolError extends Error {
  override readonly name = 'HttpProtocolError';
  readonly code = 'HPE_INVALID';
}

/**
 * Receives body bytes: a view that is valid only during the call (copy to keep). A returned
 * promise pauses the connection until it settles; its rejection ends the exchange.
 */
export type BodySink = (bytes: Uint8Array) => void | Promise<void>;

export interface HttpClientOptions {
  readonly protocol: 'http:' | 'https:';
  /** Host name or IP address (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** PEM certificates trusted for https (instead of the system's). */
  readonly ca?: string;
  /** Connections at most; further requests wait for one. */
  readonly maxSockets: number;
}

export interface HttpGetOptions {
  /** Path and query, already encoded (`URL.pathname + URL.search`). */
  readonly path: string;
  /** Header names and values, without Host (added); CR and LF are refused. */
  readonly headers: Readonly<Record<string, string>>;
  /** No bytes for this long abandons the exchange (HttpTimeoutError). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

type Phase =
  'head' | 'fixed' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'until-close' | 'done';

const EMPTY = Buffer.alloc(0);

/**
 * Failures of a request sent on a reused connection before any byte of an answer came back, of
 * the kind a server that closed the idle connection meanwhile gives: the request never reached it.
 */
const staleConnectionErrors = new WeakSet<Error>();

/** One request/response on a connection. */
class Exchange {
  phase: Phase = 'head';
  /** Bytes of the answer received (a reused connection that received none may be retried). */
  received = 0;
  head: Buffer = EMPTY;
  /** Body bytes left in the current framing unit (Content-Length or chunk). */
  remaining = 0;
  line = '';
  keepAlive = true;
  keepAliveMs = KEEP_ALIVE_IDLE_MS;
  response: HttpResponse | undefined;
  sink: BodySink | undefined;
  /** Raw answer bytes received but not processed yet (no sink yet, or the sink paused). */
  pending: Buffer = EMPTY;
  /** The sink returned a promise that has not settled. */
  waiting = false;
  /** The server closed the connection (the end of an `until-close` body). */
  eof = false;
  failure: Error | undefined;
  finished = false;
  onHead!: (response: HttpResponse) => void;
  onHeadError!: (error: Error) => void;
  onEnd: (() => void) | undefined;
  onBodyError: ((error: Error) => void) | undefined;
  constructor(readonly reused: boolean) {}
}

/** The answer to a GET: status and headers at once, the body through `consume` or `readable`. */
export class HttpResponse {
  readonly #connection: Connection;
  readonly #exchange: Exchange;
  #taken = false;

  constructor(
    connection: Connection,
    exchange: Exchange,
    readonly status: number,
    /** Header names in lower case; a repeated header's values joined by `, ` (Set-Cookie: a list). */
    readonly headers: IncomingHttpHeaders,
  ) {
    this.#connection = connection;
    this.#exchange = exchange;
  }

  /** Whether the whole body was received (the connection then serves the next request). */
  get complete(): boolean {
    return this.#exchange.finished && this.#exchange.failure === undefined;
  }

  /** Hands every body byte to `sink` (see BodySink); resolves at the body's end. Once per response. */
  consume(sink: BodySink): Promise<void> {
    if (this.#taken) return Promise.reject(new Error('the response body was already taken'));
    this.#taken = true;
    return this.#connection.attach(this.#exchange, sink);
  }

  /** The body as a stream of copies (for answers that are read whole, or decompressed). */
  readable(): Readable {
    let wake: (() => void) | undefined;
    const stream = new Readable({
      read: () => {
        const resume = wake;
        wake = undefined;
        resume?.();
      },
    });
    this.consume((bytes) => {
      if (stream.destroyed) return;
      if (stream.push(Buffer.from(bytes))) return;
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    }).then(
      () => stream.push(null),
      (error: unknown) => stream.destroy(error as Error),
    );
    return stream;
  }

  /** Reads the body to its end without keeping it (a short error answer), so the connection is kept. */
  discard(): void {
    this.consume(() => undefined).catch(() => undefined);
  }

  /** Ends the exchange and closes its connection unless the body was received whole. */
  destroy(): void {
    if (!this.complete) this.#connection.destroy(new HttpExchangeError('response abandoned', 'ECONNRESET'));
  }
}

/** Parses a response head; undefined `status` when it is not HTTP/1.x. */
function parseHead(text: string): { version: string; status: number; headers: IncomingHttpHeaders } {
  const lines = text.split(/\r?\n/);
  const match = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (match === null) throw new HttpProtocolError('not an HTTP/1.1 answer');
  const headers: IncomingHttpHeaders = {};
  const target = headers as Record<string, string | string[] | undefined>;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpProtocolError('malformed HTTP header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = target[name];
    if (name === 'set-cookie') target[name] = [...((before as string[] | undefined) ?? []), value];
    else target[name] = before === undefined ? value : `${before as string}, ${value}`;
  }
  return { version: match[1] ?? '1.1', status: Number(match[2]), headers };
}

/** A kept-alive connection to the origin with its own read buffer. */
class Connection {
  readonly socket: Socket;
  #exchange: Exchange | undefined;
  #destroyed = false;
  #served = 0;
  readonly #onClosed: (connection: Connection) => void;
  readonly #onReusable: (connection: Connection) => void;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Whether unprocessed bytes may stay in the read buffer while reading is stopped (see #hold). */
  readonly #inPlace: boolean;
  #abort: { signal: AbortSignal; listener: () => void } | undefined;

  constructor(
    options: HttpClientOptions,
    hooks: { onClosed: (c: Connection) => void; onReusable: (c: Connection) => void },
  ) {
    this.#onClosed = hooks.onClosed;
    this.#onReusable = hooks.onReusable;
    this.#inPlace = options.protocol === 'http:';
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread: OnReadOpts = {
      buffer,
      callback: (count: number): boolean => this.#onBytes(buffer.subarray(0, count)),
    };
    // tls.connect reads through `onread` too (Node's documentation); its typings leave it out.
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
      host: options.hostname,
      port: options.port,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      // SNI takes host names only.
      ...(/^[\d.]+$|:/.test(options.hostname) ? {} : { servername: options.hostname }),
      onread,
    };
    this.socket =
      options.protocol === 'https:'
        ? tlsConnect(tlsOptions)
        : netConnect({ host: options.hostname, port: options.port, onread });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1000);
    this.socket.on('error', (error) => {
      this.#fail(error);
    });
    this.socket.on('close', () => {
      this.#closed();
    });
    this.socket.on('timeout', () => {
      if (this.#exchange !== undefined)
        this.destroy(new HttpTimeoutError('no bytes from the server in time'));
      else this.destroy();
    });
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Sends a GET; resolves with the answer's head. */
  send(request: string, options: HttpGetOptions): Promise<HttpResponse> {
    clearTimeout(this.#idleTimer);
    this.socket.ref();
    const exchange = new Exchange(this.#served > 0);
    this.#served += 1;
    this.#exchange = exchange;
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      exchange.onHead = resolve;
      exchange.onHeadError = reject;
    });
    this.socket.setTimeout(options.timeoutMs);
    if (options.signal !== undefined) {
      const signal = options.signal;
      const listener = (): void => {
        const reason: unknown = signal.reason;
        this.destroy(reason instanceof Error ? reason : new HttpTimeoutError('aborted'));
      };
      this.#abort = { signal, listener };
      signal.addEventListener('abort', listener, { once: true });
    }
    this.socket.write(request);
    return promise;
  }

  /** Starts delivering the body of `exchange` to `sink`. */
  attach(exchange: Exchange, sink: BodySink): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (exchange.failure !== undefined) {
        reject(exchange.failure);
        return;
      }
      exchange.onEnd = resolve;
      exchange.onBodyError = reject;
      exchange.sink = sink;
      if (exchange.finished) {
        resolve();
        return;
      }
      this.#drainPending(exchange);
    });
  }

  /** Closes the connection; an exchange in progress fails with `error`. */
  destroy(error?: Error): void {
    if (error !== undefined) this.#fail(error);
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#idleTimer);
    this.socket.destroy();
  }

  /** Processes what waited in `pending`, then reads on unless the sink paused again. */
  #drainPending(exchange: Exchange): void {
    const pending = exchange.pending;
    exchange.pending = EMPTY;
    const more = pending.length === 0 || this.#process(exchange, pending);
    if (!more || exchange.finished || exchange.failure !== undefined) return;
    if (exchange.eof) {
      // The connection ended while the bytes waited: what was read is the whole body.
      if (exchange.phase === 'until-close') {
        exchange.phase = 'done';
        this.#finish(exchange);
      } else this.#fail(new HttpExchangeError('aborted: answer cut short', 'ECONNRESET'));
      return;
    }
    if (!this.#destroyed) this.socket.resume();
  }

  /** The read callback: false pauses the socket (bytes kept in `pending`). */
  #onBytes(bytes: Buffer): boolean {
    const exchange = this.#exchange;
    if (exchange === undefined || exchange.finished) {
      // Bytes nobody asked for: the connection is out of step.
      this.destroy();
      return false;
    }
    exchange.received += bytes.length;
    if (exchange.pending.length > 0 || exchange.waiting) {
      exchange.pending = Buffer.concat([exchange.pending, bytes]);
      return false;
    }
    return this.#process(exchange, bytes);
  }

  /**
   * Runs the answer's state machine over `data`; false when it must wait (no sink yet, or the
   * sink paused): the unprocessed rest is then copied into `pending` and reading stops.
   */
  #process(exchange: Exchange, data: Buffer): boolean {
    let at = 0;
    try {
      while (at < data.length && exchange.phase !== 'done') {
        switch (exchange.phase) {
          case 'head': {
            at = this.#readHead(exchange, data, at);
            // #readHead moves the phase on once the head is complete.
            const phase = exchange.phase as Phase;
            if (phase !== 'head' && exchange.sink === undefined) {
              exchange.pending = this.#hold(data.subarray(at));
              if (phase !== 'done') return false;
              // No body: the connection is free again (and reads on, to notice its close).
              this.#finish(exchange);
              return true;
            }
            break;
          }
          case 'fixed':
          case 'chunk-data':
          case 'until-close': {
            const take =
              exchange.phase === 'until-close'
                ? data.length - at
                : Math.min(exchange.remaining, data.length - at);
            const piece = data.subarray(at, at + take);
            at += take;
            exchange.remaining -= take;
            if (exchange.remaining === 0 && exchange.phase !== 'until-close') {
              exchange.phase = exchange.phase === 'fixed' ? 'done' : 'chunk-data-end';
            }
            if (!this.#deliver(exchange, piece)) {
              exchange.pending = this.#hold(data.subarray(at));
              return false;
            }
            break;
          }
          case 'chunk-size':
          case 'chunk-data-end':
          case 'trailers': {
            const eol = data.indexOf(0x0a, at);
            const end = eol === -1 ? data.length : eol;
            exchange.line += data.toString('latin1', at, end);
            at = eol === -1 ? data.length : eol + 1;
            if (exchange.line.length > MAX_LINE_BYTES)
              throw new HttpProtocolError('chunked framing line too long');
            if (eol !== -1) this.#line(exchange);
            break;
          }
        }
      }
    } catch (error) {
      this.destroy(error as Error);
      return false;
    }
    if (exchange.phase === 'done' && !exchange.finished) {
      if (at < data.length) exchange.keepAlive = false;
      this.#finish(exchange);
    }
    // Reading goes on, also on an idle connection (to notice the server closing it).
    return true;
  }

  /**
   * Keeps unprocessed bytes while reading is stopped. On a plain TCP connection a view of the
   * read buffer does (libuv reads no more into it until reading restarts, and the bytes are
   * processed before it does); TLS may still hand over decrypted bytes after a stop, so a copy.
   */
  #hold(bytes: Buffer): Buffer {
    return this.#inPlace ? bytes : Buffer.from(bytes);
  }

  /** Accumulates the head; at its end parses it and chooses the body's framing. */
  #readHead(exchange: Exchange, data: Buffer, at: number): number {
    const before = exchange.head.length;
    const head = before === 0 ? data.subarray(at) : Buffer.concat([exchange.head, data.subarray(at)]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    let end = -1;
    let bodyStart = -1;
    if (crlf !== -1 && (lf === -1 || crlf < lf)) [end, bodyStart] = [crlf, crlf + 4];
    else if (lf !== -1) [end, bodyStart] = [lf, lf + 2];
    if (end === -1) {
      if (head.length > MAX_HEAD_BYTES) throw new HttpProtocolError('HTTP answer head too long');
      exchange.head = Buffer.from(head);
      return data.length;
    }
    exchange.head = EMPTY;
    const consumed = at + bodyStart - before;
    const { version, status, headers } = parseHead(head.toString('latin1', 0, end));
    if (status >= 100 && status < 200) return consumed; // 100 Continue, 103 Early Hints: the answer follows.
    const connection = (headers.connection ?? '').toLowerCase();
    exchange.keepAlive =
      version === '1.1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    const hint = /\btimeout=(\d+)/.exec(String(headers['keep-alive'] ?? ''))?.[1];
    if (hint !== undefined) exchange.keepAliveMs = Number(hint) * 1000 - KEEP_ALIVE_MARGIN_MS;
    const chunked = /\bchunked\b/i.test(headers['transfer-encoding'] ?? '');
    const length = headers['content-length'];
    if (status === 204 || status === 304) exchange.phase = 'done';
    else if (chunked) exchange.phase = 'chunk-size';
    else if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new HttpProtocolError('invalid Content-Length');
      exchange.remaining = Number(length);
      exchange.phase = exchange.remaining === 0 ? 'done' : 'fixed';
    } else {
      exchange.phase = 'until-close';
      exchange.keepAlive = false;
    }
    const response = new HttpResponse(this, exchange, status, headers);
    exchange.response = response;
    exchange.onHead(response);
    return consumed;
  }

  /** A complete framing line of the chunked coding. */
  #line(exchange: Exchange): void {
    const line = exchange.line.replace(/\r$/, '');
    exchange.line = '';
    if (exchange.phase === 'chunk-data-end') {
      if (line !== '') throw new HttpProtocolError('chunk not followed by a line break');
      exchange.phase = 'chunk-size';
    } else if (exchange.phase === 'chunk-size') {
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line)?.[1];
      if (size === undefined) throw new HttpProtocolError('invalid chunk size');
      exchange.remaining = parseInt(size, 16);
      exchange.phase = exchange.remaining === 0 ? 'trailers' : 'chunk-data';
    } else if (line === '') {
      exchange.phase = 'done';
    }
  }

  /** Hands body bytes to the sink; false when it paused (returned a promise). */
  #deliver(exchange: Exchange, bytes: Buffer): boolean {
    const sink = exchange.sink;
    if (sink === undefined || bytes.length === 0) return true;
    const paused = sink(bytes);
    if (paused === undefined) return true;
    exchange.waiting = true;
    paused.then(
      () => {
        exchange.waiting = false;
        if (exchange.failure !== undefined || this.#exchange !== exchange) return;
        if (exchange.phase === 'done' && exchange.pending.length === 0) {
          this.#finish(exchange);
          return;
        }
        this.#drainPending(exchange);
      },
      (error: unknown) => {
        exchange.waiting = false;
        this.destroy(error instanceof Error ? error : new Error(String(error)));
      },
    );
    return false;
  }

  /** The answer ended: the body's consumer is told, the connection goes back to the pool or closes. */
  #finish(exchange: Exchange): void {
    if (exchange.finished || exchange.waiting) return;
    if (exchange.sink === undefined && exchange.phase !== 'done') return;
    exchange.finished = true;
    this.#endExchange();
    exchange.onEnd?.();
    if (exchange.sink === undefined && exchange.pending.length > 0) exchange.keepAlive = false;
    if (!exchange.keepAlive || exchange.keepAliveMs <= 0 || this.#destroyed) {
      this.destroy();
      return;
    }
    this.#exchange = undefined;
    this.socket.setTimeout(0);
    this.socket.unref();
    this.#idleTimer = setTimeout(() => {
      this.destroy();
    }, exchange.keepAliveMs);
    this.#idleTimer.unref();
    this.socket.resume();
    this.#onReusable(this);
  }

  #endExchange(): void {
    if (this.#abort !== undefined) {
      this.#abort.signal.removeEventListener('abort', this.#abort.listener);
      this.#abort = undefined;
    }
  }

  /** Fails the exchange in progress, once. */
  #fail(error: Error): void {
    const exchange = this.#exchange;
    if (exchange === undefined || exchange.finished || exchange.failure !== undefined) return;
    exchange.failure = error;
    this.#endExchange();
    if (exchange.reused && exchange.received === 0 && isStaleConnectionError(error)) {
      staleConnectionErrors.add(error);
    }
    if (exchange.response === undefined) exchange.onHeadError(error);
    else exchange.onBodyError?.(error);
    this.destroy();
  }

  #closed(): void {
    this.#destroyed = true;
    clearTimeout(this.#idleTimer);
    const exchange = this.#exchange;
    if (exchange !== undefined && !exchange.finished && exchange.failure === undefined) {
      exchange.eof = true;
      exchange.keepAlive = false;
      if (
        exchange.pending.length > 0 ||
        exchange.waiting ||
        (exchange.sink === undefined && exchange.response !== undefined)
      ) {
        // Bytes still wait for the sink: the end is judged once they are processed.
      } else if (exchange.phase === 'until-close') {
        exchange.phase = 'done';
        this.#finish(exchange);
      } else {
        this.#fail(
          new HttpExchangeError(
            exchange.response === undefined ? 'socket hang up' : 'aborted: answer cut short',
            'ECONNRESET',
          ),
        );
      }
    }
    this.#onClosed(this);
  }
}

/** Whether an error is of the kind a kept connection the server closed meanwhile gives. */
function isStaleConnectionError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/** The client of one origin; see the file comment. */
export class HttpClient {
  readonly #options: HttpClientOptions;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #waiters: (() => void)[] = [];
  readonly #hostHeader: string;
  #closed = false;

  constructor(options: HttpClientOptions) {
    if (!Number.isInteger(options.maxSockets) || options.maxSockets < 1) {
      throw new RangeError('maxSockets must be a positive integer');
    }
    this.#options = options;
    const defaultPort = options.protocol === 'https:' ? 443 : 80;
    const host = options.hostname.includes(':') ? `[${options.hostname}]` : options.hostname;
    this.#hostHeader = options.port === defaultPort ? host : `${host}:${options.port}`;
  }

  /** Connections open now (idle or busy). */
  get connections(): number {
    return this.#all.size;
  }

  /** Sends a GET and resolves with the answer's head; the body must then be consumed or destroyed. */
  async get(options: HttpGetOptions): Promise<HttpResponse> {
    let request = `GET ${options.path} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n`;
    for (const [name, value] of Object.entries(options.headers)) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
        throw new TypeError(`HTTP header ${name.replace(/[^\w-]/g, '')} holds a line break`);
      request += `${name}: ${value}\r\n`;
    }
    if (/[\s]/.test(options.path)) throw new TypeError('HTTP request path holds white space');
    request += 'Connection: keep-alive\r\n\r\n';
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const connection = await this.#connection(options.signal);
      try {
        return await connection.send(request, options);
      } catch (error) {
        // A kept connection closed by the server as the request went out: a GET is safe to repeat.
        if (attempt === 0 && staleConnectionErrors.has(error as Error)) continue;
        throw error;
      }
    }
  }

  /** An idle connection (newest first), a new one, or the next released one. */
  async #connection(signal: AbortSignal | undefined): Promise<Connection> {
    for (;;) {
      if (this.#closed) throw new HttpExchangeError('client closed', 'ECONNABORTED');
      let idle = this.#idle.pop();
      while (idle?.destroyed === true) idle = this.#idle.pop();
      if (idle !== undefined) return idle;
      if (this.#all.size < this.#options.maxSockets) {
        const connection = new Connection(this.#options, {
          onClosed: (c) => {
            this.#all.delete(c);
            const at = this.#idle.indexOf(c);
            if (at !== -1) this.#idle.splice(at, 1);
            this.#wake();
          },
          onReusable: (c) => {
            if (this.#closed) {
              c.destroy();
              return;
            }
            this.#idle.push(c);
            this.#wake();
          },
        });
        this.#all.add(connection);
        return connection;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.#waiters.indexOf(wake);
          if (at !== -1) this.#waiters.splice(at, 1);
          reject(signal?.reason as Error);
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  #wake(): void {
    this.#waiters.shift()?.();
  }

  /** Closes every connection; requests in progress fail. */
  close(): void {
    this.#closed = true;
    for (const connection of [...this.#all]) connection.destroy();
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
