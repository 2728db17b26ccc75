/**
 * HTTP to one DICOMweb service: node:http(s) with keep-alive sockets, the PACS's request budget
 * around every request, credentials and a custom CA from the settings, 429 and 503 waited out
 * (Retry-After honoured, else exponential backoff with full jitter) within the caller's deadline,
 * and every attempt measured (operation, status class, seconds). node:http rather than fetch:
 * it takes a CA per agent without another dependency, and streams the body as Node chunks.
 */
import {
  request as httpRequest,
  Agent as HttpAgent,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { createGunzip, createInflate } from 'node:zlib';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { sleep, silentPacsObserver, type PacsObserver, type RequestBudget } from '../pacs/budget.js';
import type { DicomwebLocation } from './uri.js';

/** Settings of the DICOMweb client (from @cxr/config's `dicomweb` block). */
export interface DicomwebClientSettings {
  /** Bearer token (CXR_DICOMWEB_TOKEN). */
  readonly token?: string;
  /** HTTP Basic user and password (CXR_DICOMWEB_USER, CXR_DICOMWEB_PASSWORD). */
  readonly user?: string;
  readonly password?: string;
  /** PEM certificates that sign the PACS's TLS certificate (the contents of CXR_DICOMWEB_CA_FILE). */
  readonly ca?: string;
  /** No bytes for this long ends a request as a timeout (CXR_DICOMWEB_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Sockets kept per PACS (the budget's concurrency; more would only idle). */
  readonly maxSockets: number;
}

/** The DICOMweb operations this client performs. */
export type DicomwebOperation = 'qido' | 'wado';

/** An HTTP exchange that did not end in 2xx, or did not end: `transient` says whether to try again later. */
export class DicomwebHttpError extends Error {
  override readonly name = 'DicomwebHttpError';
  constructor(
    message: string,
    readonly transient: boolean,
    /** The HTTP status, when one arrived. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** First wait after a 429 or 503 without Retry-After; doubled per attempt up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

/** Seconds (or an HTTP date) of a Retry-After header, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with full jitter: a random wait up to FIRST_BACKOFF_MS x 2^attempt (capped). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return Math.max(100, Math.round(ceiling * random()));
}

/** The status class label of an HTTP status. */
function statusClassOf(status: number): '2xx' | '3xx' | '4xx' | '5xx' {
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}

/** A timeout of the socket (no bytes for `timeoutMs`) or of the whole request (the deadline). */
class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** Whether an error is a timeout rather than a network failure (for the status class). */
function isTimeout(error: unknown): boolean {
  return error instanceof RequestTimeoutError || (error instanceof Error && error.name === 'TimeoutError');
}

/** How long before the server's announced keep-alive timeout a pooled socket is given up. */
const KEEP_ALIVE_MARGIN_MS = 250;
/** Idle time of a pooled socket when the server announces no keep-alive timeout. */
const KEEP_ALIVE_IDLE_MS = 4000;

/** The keep-alive timeout each socket's server announced (`Keep-Alive: timeout=N`), in ms. */
const keepAliveHints = new WeakMap<Socket, number>();

/**
 * Keeps a socket for the next request unless the server is about to close it. Node's own rule
 * gives up a socket 1 s before the announced timeout, which with Orthanc's `timeout=1` means
 * never reusing one: every retrieve then paid a new connection (measured: 190 connects for 200
 * retrieves, a third of curl's throughput). A request that still meets a socket the server just
 * closed is sent again once (`send`).
 */
function keepSocketAliveWithMargin(this: HttpAgent, socket: Socket): boolean {
  socket.setKeepAlive(true, 1000);
  socket.unref();
  const hint = keepAliveHints.get(socket);
  const idle = hint === undefined ? KEEP_ALIVE_IDLE_MS : hint - KEEP_ALIVE_MARGIN_MS;
  if (idle <= 0) return false;
  socket.setTimeout(idle);
  return true;
}

/** Agents (plain and TLS) that keep sockets by keepSocketAliveWithMargin. */
class PacsHttpAgent extends HttpAgent {
  override keepSocketAlive(socket: Socket): boolean {
    return keepSocketAliveWithMargin.call(this, socket);
  }
}
class PacsHttpsAgent extends HttpsAgent {
  override keepSocketAlive(socket: Socket): boolean {
    return keepSocketAliveWithMargin.call(this, socket);
  }
}

/** Errors of a reused socket the server had closed meanwhile: the request never reached it. */
function isStaleSocketError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/** The request's response, or its failure before any response arrived. */
function send(
  url: URL,
  headers: OutgoingHttpHeaders,
  agent: HttpAgent,
  timeoutMs: number,
  signal: AbortSignal,
  retried = false,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', headers, agent, signal }, (response) => {
      const hint = /^timeout=(\d+)/.exec(String(response.headers['keep-alive'] ?? ''))?.[1];
      if (hint !== undefined) keepAliveHints.set(response.socket, Number(hint) * 1000);
      resolve(response);
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(new RequestTimeoutError(`no answer for ${timeoutMs} ms`));
    });
    req.on('error', (error) => {
      // A kept-alive socket closed by the server as the request went out: a GET is safe to repeat.
      if (req.reusedSocket && !retried && isStaleSocketError(error) && !signal.aborted) {
        send(url, headers, agent, timeoutMs, signal, true).then(resolve, reject);
        return;
      }
      reject(error);
    });
    req.end();
  });
}

/** The body of a response, decompressed when the server compressed it anyway. */
function bodyOf(response: IncomingMessage): Readable {
  const encoding = (response.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity' || encoding === '') return response;
  if (encoding === 'gzip' || encoding === 'x-gzip') return response.pipe(createGunzip());
  if (encoding === 'deflate') return response.pipe(createInflate());
  response.resume();
  throw new DicomwebHttpError(`answer in an unsupported Content-Encoding (${encoding.slice(0, 20)})`, false);
}

/** What a request handler sees of a 2xx response. */
export interface DicomwebResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** Content-Length of the (compressed, when compressed) body, when the server sent one. */
  readonly contentLength: number | undefined;
  readonly body: Readable;
}

export interface DicomwebRequest<T> {
  readonly operation: DicomwebOperation;
  /** Path and query below the service root, e.g. `/instances?Modality=CR`. */
  readonly path: string;
  readonly accept: string;
  /** Epoch ms after which the request, its waits and its body read are abandoned (a timeout). */
  readonly deadline: number;
  /** Reads a 2xx answer; its errors end the request (and are rethrown unchanged). */
  readonly read: (response: DicomwebResponse) => Promise<T>;
}

/** The HTTP side of one DICOMweb service (one PACS). */
export class DicomwebHttp {
  readonly location: DicomwebLocation;
  readonly #settings: DicomwebClientSettings;
  readonly #budget: RequestBudget;
  readonly #observer: PacsObserver;
  readonly #agent: HttpAgent;
  readonly #authorization: string | undefined;

  constructor(
    location: DicomwebLocation,
    settings: DicomwebClientSettings,
    deps: { readonly budget: RequestBudget; readonly observer?: PacsObserver },
  ) {
    this.location = location;
    this.#settings = settings;
    this.#budget = deps.budget;
    this.#observer = deps.observer ?? silentPacsObserver;
    const agentOptions = { keepAlive: true, maxSockets: settings.maxSockets, scheduling: 'lifo' as const };
    this.#agent = location.httpBase.startsWith('https:')
      ? new PacsHttpsAgent({ ...agentOptions, ...(settings.ca !== undefined ? { ca: settings.ca } : {}) })
      : new PacsHttpAgent(agentOptions);
    if (settings.token !== undefined) this.#authorization = `Bearer ${settings.token}`;
    else if (settings.user !== undefined) {
      const pair = `${settings.user}:${settings.password ?? ''}`;
      this.#authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    }
  }

  /**
   * One logical request: waits for the budget, sends, waits out 429/503 within the deadline, and
   * hands a 2xx answer to `read` while still holding the budget (a retrieve is in flight until its
   * body is read). Throws DicomwebHttpError for a non-2xx answer or a failed exchange.
   */
  async request<T>(spec: DicomwebRequest<T>): Promise<T> {
    const url = new URL(`${this.location.httpBase}${spec.path}`);
    const headers: OutgoingHttpHeaders = { Accept: spec.accept };
    if (this.#authorization !== undefined) headers.Authorization = this.#authorization;
    const signal = AbortSignal.timeout(Math.max(1, spec.deadline - Date.now()));
    for (let attempt = 0; ; attempt++) {
      const slot = await this.#budget
        .acquire(this.location.base, {
          signal,
          onWait: (reason) => {
            this.#observer.countPacsThrottled(reason);
          },
        })
        .catch((error: unknown) => {
          throw new DicomwebHttpError('timed out waiting for the PACS request budget', true, undefined, {
            cause: error,
          });
        });
      const started = performance.now();
      const seconds = (): number => (performance.now() - started) / 1000;
      let response: IncomingMessage;
      try {
        response = await send(url, headers, this.#agent, this.#settings.timeoutMs, signal);
      } catch (error) {
        slot.release();
        const timeout = isTimeout(error) || signal.aborted;
        this.#observer.observePacsRequest(spec.operation, timeout ? 'timeout' : 'network', seconds());
        if (isCertificateError(error)) {
          // Not worth retrying: the PACS's certificate is not trusted until the configuration changes.
          throw new DicomwebHttpError(
            `PACS TLS certificate not trusted (${networkCode(error)}): set CXR_DICOMWEB_CA_FILE to the CA that signs it`,
            false,
            undefined,
            { cause: error },
          );
        }
        throw new DicomwebHttpError(
          timeout ? 'PACS request timed out' : `PACS unreachable (${networkCode(error)})`,
          true,
          undefined,
          { cause: error },
        );
      }
      const status = response.statusCode ?? 0;
      if (status === 429 || status === 503) {
        response.resume();
        slot.release();
        this.#observer.observePacsRequest(spec.operation, statusClassOf(status), seconds());
        this.#observer.countPacsThrottled(status === 429 ? 'pacs_429' : 'pacs_503');
        const retryAfter = retryAfterMs(headerText(response.headers['retry-after']), Date.now());
        const wait = retryAfter ?? backoffMs(attempt);
        if (Date.now() + wait >= spec.deadline) {
          throw new DicomwebHttpError(
            `PACS asked to slow down (HTTP ${status}) beyond the request's deadline`,
            true,
            status,
          );
        }
        await sleep(wait, signal).catch(() => undefined);
        if (signal.aborted) {
          throw new DicomwebHttpError(
            `PACS asked to slow down (HTTP ${status}) beyond the request's deadline`,
            true,
            status,
          );
        }
        continue;
      }
      let statusClass: '2xx' | '3xx' | '4xx' | '5xx' | 'network' | 'timeout' = statusClassOf(status);
      try {
        if (status < 200 || status >= 300) {
          response.resume();
          throw httpStatusError(status);
        }
        const lengthHeader = response.headers['content-length'];
        return await spec.read({
          status,
          headers: response.headers,
          contentLength:
            lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined,
          body: bodyOf(response),
        });
      } catch (error) {
        if (!(error instanceof DicomwebHttpError) && isExchangeFailure(error)) {
          // The body stopped arriving (a reset, the deadline): the exchange failed, not the answer.
          statusClass = isTimeout(error) || signal.aborted ? 'timeout' : 'network';
          throw new DicomwebHttpError(
            statusClass === 'timeout'
              ? 'PACS answer timed out'
              : `PACS answer cut short (${networkCode(error)})`,
            true,
            status,
            { cause: error },
          );
        }
        throw error;
      } finally {
        // A body read to its end returns the socket to the pool; anything else must not be reused.
        if (!response.complete) response.destroy();
        slot.release();
        this.#observer.observePacsRequest(spec.operation, statusClass, seconds());
      }
    }
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }
}

/** A response header as one string. */
function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The error for a non-2xx status other than 429/503: what an operator can act on. */
function httpStatusError(status: number): DicomwebHttpError {
  if (status === 404 || status === 410)
    return new DicomwebHttpError(`not found on the PACS (HTTP ${status})`, false, status);
  if (status === 401 || status === 403) {
    return new DicomwebHttpError(
      `access denied by the PACS (HTTP ${status}): check CXR_DICOMWEB_TOKEN or CXR_DICOMWEB_USER/CXR_DICOMWEB_PASSWORD`,
      false,
      status,
    );
  }
  if (status >= 300 && status < 400) {
    return new DicomwebHttpError(
      `PACS redirected (HTTP ${status}): give the URI it redirects to`,
      false,
      status,
    );
  }
  // 408 and other 5xx pass; other 4xx say the request itself is wrong.
  const transient = status === 408 || status >= 500;
  return new DicomwebHttpError(`PACS answered HTTP ${status}`, transient, status);
}

/** Network and stream errors (resets, aborts, timeouts) as opposed to a handler's own errors. */
function isExchangeFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    isTimeout(error) ||
    error.name === 'AbortError' ||
    (typeof code === 'string' &&
      /^(ECONN|EPIPE|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_STREAM_PREMATURE_CLOSE|UND_ERR)/.test(code)) ||
    /aborted|socket hang up/i.test(error.message)
  );
}

/** TLS verification failures (an unknown CA, a self-signed or expired certificate, a wrong host name). */
function isCertificateError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' &&
    /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID/.test(code)
  );
}

/** The errno-like code of a network error (never its message: it may echo a URL). */
function networkCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
  return error instanceof Error ? error.name : 'unknown error';
}
