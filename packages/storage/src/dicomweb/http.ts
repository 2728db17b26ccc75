/**
 * HTTP to one DICOMweb service: our HTTP/1.1 client (client.ts: keep-alive connections, one
 * reused read buffer each) with the PACS's request budget around every request, credentials and a
 * custom CA from the settings, 429 and 503 waited out (Retry-After honoured, else exponential
 * backoff with full jitter) within the caller's deadline, and every attempt measured (operation,
 * status class, seconds). A body that is not compressed can be consumed as views of the read
 * buffer (`consume`: the WADO-RS fast path) or read as a stream (`body`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { HttpClient, HttpTimeoutError, type BodySink, type HttpResponse } from './client.js';
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
function isTimeout(error: unknown): boolean {
  return error instanceof HttpTimeoutError || (error instanceof Error && error.name === 'TimeoutError');
}

/** The Content-Encoding of a response; a DicomwebHttpError for one this client cannot undo. */
function encodingOf(response: HttpResponse): 'identity' | 'gzip' | 'deflate' {
  const encoding = (headerText(response.headers['content-encoding']) ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity' || encoding === '') return 'identity';
  if (encoding === 'gzip' || encoding === 'x-gzip') return 'gzip';
  if (encoding === 'deflate') return 'deflate';
  response.discard();
  throw new DicomwebHttpError(`answer in an unsupported Content-Encoding (${encoding.slice(0, 20)})`, false);
}

/** The body of a response as a stream, decompressed when the server compressed it anyway. */
function bodyOf(response: HttpResponse, encoding: 'identity' | 'gzip' | 'deflate'): Readable {
  const raw = response.readable();
  if (encoding === 'identity') return raw;
  return raw.pipe(encoding === 'gzip' ? createGunzip() : createInflate());
}

/** What a request handler sees of a 2xx response: read the body through `body` or `consume`, not both. */
export interface DicomwebResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Content-Length of the (compressed, when compressed) body, when the server sent one. */
  readonly contentLength: number | undefined;
  /** The (decompressed) body as a stream of copies. */
  readonly body: Readable;
  /**
   * The body's bytes handed to `sink` as they arrive, without a copy (see BodySink); resolves at
   * its end. Undefined for a compressed answer (read `body`).
   */
  readonly consume: ((sink: BodySink) => Promise<void>) | undefined;
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
  readonly #client: HttpClient;
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
    const url = new URL(location.httpBase);
    const https = url.protocol === 'https:';
    this.#client = new HttpClient({
      protocol: https ? 'https:' : 'http:',
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
      maxSockets: settings.maxSockets,
      ...(https && settings.ca !== undefined ? { ca: settings.ca } : {}),
    });
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
    // The deadline as a timer cleared when the request ends (AbortSignal.timeout would keep a
    // timer and its signal alive for the whole deadline after every request: old-space garbage).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => {
        deadline.abort(new DOMException('the request deadline passed', 'TimeoutError'));
      },
      Math.max(1, spec.deadline - Date.now()),
    );
    try {
      return await this.#request(spec, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #request<T>(spec: DicomwebRequest<T>, signal: AbortSignal): Promise<T> {
    const url = new URL(`${this.location.httpBase}${spec.path}`);
    const headers: Record<string, string> = { Accept: spec.accept };
    if (this.#authorization !== undefined) headers.Authorization = this.#authorization;
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
      let response: HttpResponse;
      try {
        response = await this.#client.get({
          path: `${url.pathname}${url.search}`,
          headers,
          timeoutMs: this.#settings.timeoutMs,
          signal,
        });
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
      const status = response.status;
      if (status === 429 || status === 503) {
        response.discard();
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
          response.discard();
          throw httpStatusError(status);
        }
        const lengthHeader = response.headers['content-length'];
        const encoding = encodingOf(response);
        let body: Readable | undefined;
        const answer = response;
        return await spec.read({
          status,
          headers: response.headers,
          contentLength:
            lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined,
          get body(): Readable {
            body ??= bodyOf(answer, encoding);
            return body;
          },
          consume: encoding === 'identity' ? (sink) => answer.consume(sink) : undefined,
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
        // A body read to its end returns the connection to the pool; anything else must not be reused.
        response.destroy();
        slot.release();
        this.#observer.observePacsRequest(spec.operation, statusClass, seconds());
      }
    }
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#client.close();
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
      /^(ECONN|EPIPE|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_STREAM_PREMATURE_CLOSE|UND_ERR|HPE_)/.test(
        code,
      )) ||
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
