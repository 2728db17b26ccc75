/**
 * Sending one findings object to a PACS: STOW-RS (one multipart/related request per SR) or
 * C-STORE (one association per SR, dcmjs-dimse through @cxr/dicomnet). Each attempt is measured
 * as a PACS request (cxr_pacs_requests_total{operation="stow"|"c_store"}). An outcome is one of:
 * resolved (stored, possibly with a warning), a transient DeliveryError (retry later) or a
 * permanent one (the PACS refused this object).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { DicomwebConfig } from '@cxr/config';
import { DimseError, cStore, formatStatus, outcomeOfStatus, type DimsePeer } from '@cxr/dicomnet';
import type { CxrMetrics, PacsStatusClass } from '@cxr/metrics';
import type { FindingsDestination } from './destination.js';
import { DeliveryError } from './errors.js';

/** What is sent: a Part 10 object with its identity. */
export interface OutgoingFindings {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly bytes: Uint8Array;
}

/** Sends findings objects to one destination. */
export interface FindingsSender {
  send(object: OutgoingFindings): Promise<void>;
}

/** Settings of the senders (from @cxr/config). */
export interface SenderSettings {
  /** Credentials and timeout of DICOMweb (CXR_DICOMWEB_*); the CA file's contents already read. */
  readonly dicomweb: Pick<DicomwebConfig, 'token' | 'user' | 'password' | 'timeoutMs'> & {
    readonly ca?: string;
  };
  /** Our AE title and the association timeout (CXR_DIMSE_CALLING_AET, CXR_DIMSE_TIMEOUT_MS). */
  readonly dimse: { readonly callingAeTitle: string; readonly timeoutMs: number };
  readonly metrics?: CxrMetrics;
}

/** The sender of a destination. */
export function findingsSender(destination: FindingsDestination, settings: SenderSettings): FindingsSender {
  return destination.kind === 'dicomweb'
    ? stowSender(destination.httpBase, settings)
    : dimseSender(
        {
          host: destination.host,
          port: destination.port,
          calledAeTitle: destination.calledAeTitle,
          callingAeTitle: settings.dimse.callingAeTitle,
          timeoutMs: settings.dimse.timeoutMs,
        },
        settings,
      );
}

// STOW-RS

/** Failure Reason (0008,1197) values of PS3.18 Table I.2-1 / PS3.4 that a retry may cure. */
const TRANSIENT_FAILURE_REASONS = new Set([0xa700, 0xa701, 0xa702, 0x0110]);

interface StowAnswer {
  readonly status: number;
  readonly body: string;
}

function post(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
  ca: string | undefined,
): Promise<StowAnswer> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(body.length) },
        ...(ca ? { ca } : {}),
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          // A STOW answer is a small JSON document; keep at most 1 MiB of it.
          if (size < 1024 * 1024) chunks.push(chunk);
          size += chunk.length;
        });
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no answer for ${timeoutMs} ms`), { name: 'TimeoutError' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The Failure Reason values of a STOW-RS answer's Failed SOP Sequence (0008,1198), if any. */
export function stowFailureReasons(body: string): number[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return [];
  }
  const datasets = Array.isArray(json) ? json : [json];
  const reasons: number[] = [];
  for (const dataset of datasets) {
    const failed = (dataset as Record<string, { Value?: unknown[] } | undefined> | null)?.['00081198'];
    for (const item of failed?.Value ?? []) {
      const value = (item as Record<string, { Value?: unknown[] } | undefined> | null)?.['00081197']
        ?.Value?.[0];
      reasons.push(typeof value === 'number' ? value : -1);
    }
  }
  return reasons;
}

function statusClass(status: number): PacsStatusClass {
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}

function stowSender(httpBase: string, settings: SenderSettings): FindingsSender {
  const url = new URL(`${httpBase}/studies`);
  const { dicomweb } = settings;
  const auth: Record<string, string> =
    dicomweb.token !== undefined
      ? { Authorization: `Bearer ${dicomweb.token}` }
      : dicomweb.user !== undefined && dicomweb.password !== undefined
        ? {
            Authorization: `Basic ${Buffer.from(`${dicomweb.user}:${dicomweb.password}`).toString('base64')}`,
          }
        : {};
  return {
    async send(object) {
      const boundary = `cxr-${randomBytes(12).toString('hex')}`;
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        Buffer.from(object.bytes.buffer, object.bytes.byteOffset, object.bytes.byteLength),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const headers = {
        ...auth,
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json',
      };
      const started = performance.now();
      let answer: StowAnswer;
      try {
        answer = await post(url, headers, body, dicomweb.timeoutMs, dicomweb.ca);
      } catch (error) {
        const timeout = error instanceof Error && error.name === 'TimeoutError';
        settings.metrics?.observePacsRequest('stow', timeout ? 'timeout' : 'network', seconds(started));
        const code = (error as { code?: unknown }).code;
        throw new DeliveryError(
          timeout ? 'stow_timeout' : 'pacs_unreachable',
          true,
          `STOW-RS: ${timeout ? 'no answer in time' : `no connection${typeof code === 'string' ? ` (${code})` : ''}`}`,
          { cause: error },
        );
      }
      settings.metrics?.observePacsRequest('stow', statusClass(answer.status), seconds(started));
      const failures = stowFailureReasons(answer.body);
      if (answer.status >= 200 && answer.status < 300 && failures.length === 0) return;
      const failure = failures[0];
      if (failure !== undefined) {
        const shown = failure < 0 ? 'unknown' : formatStatus(failure);
        throw new DeliveryError(
          `stow_failure_${shown}`,
          TRANSIENT_FAILURE_REASONS.has(failure),
          `STOW-RS: the PACS refused the object (HTTP ${answer.status}, Failure Reason ${shown})`,
        );
      }
      // No failure detail: the status decides. 408, 429, 5xx: the PACS is busy or down; 401, 403
      // and 404 are the destination's configuration (token, root), not this object: they wait for
      // it to be fixed rather than failing every result. Other 4xx refuse the object itself.
      const transient = [401, 403, 404, 408, 429].includes(answer.status) || answer.status >= 500;
      throw new DeliveryError(
        `stow_http_${answer.status}`,
        transient,
        `STOW-RS: the PACS answered HTTP ${answer.status}`,
      );
    },
  };
}

function seconds(started: number): number {
  return Math.max(0, (performance.now() - started) / 1000);
}

// C-STORE

/** The data set after the file meta information of a Part 10 object, and its transfer syntax. */
export function splitPart10(bytes: Uint8Array): { transferSyntaxUid: string; dataSet: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (start: number, length: number): string =>
    Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1');
  if (bytes.byteLength < 144 || text(128, 4) !== 'DICM') throw new Error('not a DICOM Part 10 object');
  let offset = 132;
  let transferSyntaxUid: string | undefined;
  // File meta elements: explicit VR little endian, group 0002 only.
  while (offset + 8 <= bytes.byteLength && view.getUint16(offset, true) === 0x0002) {
    const element = view.getUint16(offset + 2, true);
    const vr = text(offset + 4, 2);
    const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL', 'OV'].includes(vr);
    const length = long ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const valueAt = offset + (long ? 12 : 8);
    if (element === 0x0010) transferSyntaxUid = text(valueAt, length).replace(/[\0 ]+$/, '');
    offset = valueAt + length;
  }
  if (transferSyntaxUid === undefined) throw new Error('Part 10 object without a transfer syntax');
  return { transferSyntaxUid, dataSet: bytes.subarray(offset) };
}

function dimseSender(peer: DimsePeer, settings: SenderSettings): FindingsSender {
  return {
    async send(object) {
      const { transferSyntaxUid, dataSet } = splitPart10(object.bytes);
      const started = performance.now();
      let status: number;
      try {
        status = await cStore(peer, {
          sopClassUid: object.sopClassUid,
          sopInstanceUid: object.sopInstanceUid,
          transferSyntaxUid,
          dataSet,
        });
      } catch (error) {
        if (error instanceof DimseError) {
          settings.metrics?.observePacsRequest('c_store', error.outcome, seconds(started));
          // The PACS accepting no presentation context for Enhanced SR refuses the object (it
          // takes no SRs): final. A rejected association is configuration (our AE title unknown
          // to the PACS) or load: wait for it, like a network fault.
          const noContext = error.outcome === 'refused' && /presentation context/.test(error.message);
          const reason = noContext
            ? 'dimse_sop_class_not_accepted'
            : error.status !== undefined
              ? `dimse_status_${formatStatus(error.status)}`
              : `dimse_${error.outcome}`;
          const transient = !noContext && (error.transient || error.outcome === 'refused');
          throw new DeliveryError(reason, transient, `C-STORE: ${error.message}`, { cause: error });
        }
        settings.metrics?.observePacsRequest('c_store', 'network', seconds(started));
        throw new DeliveryError('pacs_unreachable', true, 'C-STORE: no association', { cause: error });
      }
      const outcome = outcomeOfStatus(status);
      settings.metrics?.observePacsRequest('c_store', outcome, seconds(started));
      if (outcome !== 'failure') return;
      // 0xA7xx: out of resources, worth another try; anything else refuses this object.
      const transient = (status & 0xff00) === 0xa700;
      throw new DeliveryError(
        `dimse_status_${formatStatus(status)}`,
        transient,
        `C-STORE: the PACS answered status ${formatStatus(status)}`,
      );
    },
  };
}
