/**
 * `POST /v1/predict`: the seed's synchronous endpoint. One DICOM upload (multipart/form-data with
 * a file part, or a raw `application/dicom` body) is checked for being a decodable DICOM, parked
 * in the upload area (CXR_UPLOAD_URL: job payloads carry URIs, never bytes, and Redis never holds
 * the file), screened as a `cxr-screen` job at the head of the queue so it shares the worker's
 * batches, and answered with the same body `cxr predict --json` prints. The upload is deleted as
 * soon as the job has ended, whatever the outcome. Its result also reaches the store through the
 * normal results path (runId `predict`), which is the audit trail of the endpoint.
 *
 * Status codes: 200 result; 400 no file part / empty body / malformed multipart; 401 missing or
 * wrong bearer token (only when a token is configured); 413 upload over the limit; 415 neither
 * multipart/form-data nor application/dicom; 422 not DICOM, rejected by the decoder, or not for
 * the model (`not_applicable`: the worker checks the manifest's `accept` rules) (body names the
 * reject reason code); 502 the worker failed; 503 no model configured; 504 no result in time.
 * Bodies and logs never hold patient data, the uploaded file's name or an adapter's error text.
 */
import { performance } from 'node:perf_hooks';
import fastifyMultipart from '@fastify/multipart';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDicomRejectedError, readDicomInfo, REJECT_REASONS } from '@cxr/dicom';
import { predictionResponse, type PredictionResponse } from '@cxr/model/prediction';
import type { PredictOutcome, ScreenJobPayload } from '@cxr/queue';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { bearerToken, tokenMatches } from './auth.js';

export const PREDICT_PATH = '/v1/predict';
/** runId of predict jobs in the store: the endpoint's audit trail. */
export const PREDICT_RUN_ID = 'predict';
/** Room for multipart boundaries and part headers on top of the file size limit. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** Port: where uploads go and how a job is awaited (an UploadArea + PredictClient in production). */
export interface PredictBackend {
  /** Parks the bytes and returns their URI. */
  store(bytes: Uint8Array): Promise<string>;
  predict(payload: ScreenJobPayload, timeoutMs: number): Promise<PredictOutcome>;
  /** Deletes an upload nobody will read again (its job ended or was withdrawn); never throws. */
  discard(uri: string): Promise<void>;
}

/** The model the endpoint screens with, or why there is none (answered as 503). */
export type PredictModel =
  | { readonly available: true; readonly id: string; readonly version: string }
  | { readonly available: false; readonly reason: string };

/** Options of `registerPredictRoute`. */
export interface PredictRouteOptions {
  readonly backend: PredictBackend;
  readonly model: PredictModel;
  /** CXR_API_TOKEN; undefined = no authentication. */
  readonly token: string | undefined;
  /** CXR_PREDICT_MAX_BYTES: largest accepted upload. */
  readonly maxBytes: number;
  /** CXR_PREDICT_TIMEOUT_MS: wait for the result at most this long, then 504. */
  readonly timeoutMs: number;
  readonly log?: Logger;
}

/** Error body of every non-200 answer: a constant `error` and a reason (a code or a sentence without data). */
export interface PredictErrorBody {
  readonly error: string;
  readonly reason: string;
}

const rejectReasons: ReadonlySet<string> = new Set(REJECT_REASONS);

type MediaKind = 'multipart' | 'dicom';

function mediaKindOf(contentType: string | undefined): MediaKind | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === 'multipart/form-data') return 'multipart';
  if (type === 'application/dicom') return 'dicom';
  return undefined;
}

/**
 * The bytes of the first file part, undefined when there is none, or 'malformed' when the body is
 * not multipart as declared: no or a wrong boundary, a truncated part, a body that ends without
 * its closing delimiter. The parser (busboy) throws plain errors without a status for those,
 * which the route answered with 500; the plugin's own errors carry one (413 for the size limits)
 * and go on to the error handler. The part's file name is never read: it may carry a patient's name.
 */
async function readFilePart(request: FastifyRequest): Promise<Uint8Array | 'malformed' | undefined> {
  try {
    const part = await request.file();
    return part === undefined ? undefined : await part.toBuffer();
  } catch (error) {
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    return 'malformed';
  }
}

/** Timings of one request, from its first byte. */
interface RequestTimes {
  readonly start: number;
}
const requestTimes = new WeakMap<FastifyRequest, RequestTimes>();

/** Registers POST /v1/predict in its own encapsulated scope (multipart plugin, parser, error handler). */
export function registerPredictRoute(app: FastifyInstance, options: PredictRouteOptions): void {
  const log = options.log ?? silentLogger;
  const { backend, maxBytes, timeoutMs, token } = options;

  const fail = (reply: FastifyReply, status: number, error: string, reason: string): FastifyReply => {
    const body: PredictErrorBody = { error, reason };
    log(status >= 500 ? 'warn' : 'info', 'predict refused', { status, error, reason });
    return reply.code(status).send(body);
  };

  void app.register(async (scope) => {
    await scope.register(fastifyMultipart, {
      limits: { fileSize: maxBytes, files: 1, fields: 16, fieldSize: 64 * 1024, parts: 32 },
      throwFileSizeLimit: true,
    });
    // `curl --data-binary @file.dcm -H 'Content-Type: application/dicom'` (PS3.18 media type).
    scope.addContentTypeParser(
      'application/dicom',
      { parseAs: 'buffer', bodyLimit: maxBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );

    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      // Fastify's and the multipart plugin's errors carry a status; their messages are not passed
      // on (a parser message may quote input), only a fixed sentence per status.
      const status = error.statusCode ?? 500;
      if (status === 413) return fail(reply, 413, 'payload_too_large', `upload exceeds ${maxBytes} bytes`);
      if (status === 415)
        return fail(
          reply,
          415,
          'unsupported_media_type',
          'expected multipart/form-data or application/dicom',
        );
      if (status >= 400 && status < 500) return fail(reply, 400, 'bad_request', 'malformed request body');
      log('error', 'predict failed', errorSummary(error));
      return fail(reply, 500, 'internal_error', 'unexpected error');
    });

    scope.post(
      PREDICT_PATH,
      {
        bodyLimit: maxBytes,
        onRequest: async (request, reply) => {
          requestTimes.set(request, { start: performance.now() });
          if (token !== undefined) {
            const given = bearerToken(request.headers.authorization);
            if (given === undefined || !tokenMatches(given, token)) {
              // RFC 6750 3: the challenge, with invalid_token when a token was sent.
              void reply.header(
                'www-authenticate',
                given === undefined ? 'Bearer realm="cxr"' : 'Bearer realm="cxr", error="invalid_token"',
              );
              return fail(
                reply,
                401,
                'unauthorized',
                given === undefined ? 'missing bearer token' : 'invalid bearer token',
              );
            }
          }
          if (!options.model.available) return fail(reply, 503, 'no_model', options.model.reason);
          const kind = mediaKindOf(request.headers['content-type']);
          if (kind === undefined) {
            return fail(
              reply,
              415,
              'unsupported_media_type',
              'expected multipart/form-data or application/dicom',
            );
          }
          const declared = Number(request.headers['content-length']);
          const allowed = kind === 'multipart' ? maxBytes + MULTIPART_OVERHEAD_BYTES : maxBytes;
          if (Number.isFinite(declared) && declared > allowed) {
            return fail(reply, 413, 'payload_too_large', `upload exceeds ${maxBytes} bytes`);
          }
          return undefined;
        },
      },
      async (request, reply) => {
        const model = options.model;
        if (!model.available) return fail(reply, 503, 'no_model', model.reason);
        const start = requestTimes.get(request)?.start ?? performance.now();

        let bytes: Uint8Array | undefined;
        if (mediaKindOf(request.headers['content-type']) === 'multipart') {
          const upload = await readFilePart(request);
          if (upload === 'malformed') return fail(reply, 400, 'bad_request', 'malformed multipart body');
          if (upload === undefined) return fail(reply, 400, 'no_file', 'multipart body has no file part');
          bytes = upload;
        } else if (request.body instanceof Uint8Array) {
          bytes = request.body;
        }
        if (bytes === undefined || bytes.byteLength === 0)
          return fail(reply, 400, 'empty_body', 'the upload is empty');
        const uploaded = performance.now();

        // The decoder's own header checks, before anything is queued: bad input costs no GPU slot.
        try {
          readDicomInfo(bytes);
        } catch (error) {
          if (isDicomRejectedError(error)) return fail(reply, 422, 'rejected', error.reason);
          throw error;
        }
        const validated = performance.now();

        const uri = await backend.store(bytes);
        let outcome: PredictOutcome;
        try {
          outcome = await backend.predict(
            {
              uri,
              size: bytes.byteLength,
              runId: PREDICT_RUN_ID,
              modelId: model.id,
              modelVersion: model.version,
              enqueuedAt: Date.now(),
            },
            timeoutMs,
          );
        } finally {
          // Predict jobs get one attempt, so nothing reads the upload once predict() returned:
          // done, failed, or withdrawn after the timeout (a job already running then fails its
          // fetch and is stored as failed). If enqueueing threw, nobody ever will.
          await backend.discard(uri);
        }
        void reply.header('cxr-job-id', outcome.jobId);
        switch (outcome.kind) {
          case 'ok': {
            const { result } = outcome;
            const total = performance.now() - start;
            const body: PredictionResponse = predictionResponse({
              decision: result,
              model: { id: result.modelId, version: result.modelVersion },
              runtime: result.runtime,
              timingsMs: {
                upload: uploaded - start,
                validate: validated - uploaded,
                ...result.timingsMs,
                total,
              },
            });
            log('info', 'predict answered', {
              jobId: outcome.jobId,
              diagnosis: body.diagnosis,
              totalMs: total,
            });
            return reply.code(200).send(body);
          }
          case 'rejected':
            return rejectReasons.has(outcome.reason)
              ? fail(reply, 422, 'rejected', outcome.reason)
              : fail(reply, 502, 'screen_failed', outcome.reason);
          case 'failed':
            return fail(reply, 502, 'screen_failed', 'internal_error');
          case 'timeout':
            return fail(reply, 504, 'timeout', `no result within ${timeoutMs} ms`);
        }
      },
    );
  });
}
