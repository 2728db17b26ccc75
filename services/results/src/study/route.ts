/**
 * The reading page of reader studies (issue 17 §1), for readers holding a per-reader link made by
 * `cxr study create`: `GET /study/read?token=T` checks the token (the store keeps its SHA-256
 * only), sets it as an HttpOnly, SameSite=Strict cookie scoped to /study and redirects to
 * `/study/read` without it (out of the address bar and history). `GET /study/read` shows the
 * reader's next unread (case, arm); `POST /study/read` records the reading (one per reader x
 * case x arm: a repeated submission is ignored) and redirects to the next; `GET
 * /study/images/CASE.png` is the case's image at reading size, rendered from the stored object
 * like worklist thumbnails (the file's VOI window). A reader sees only their own study's cases.
 * The API token (CXR_API_TOKEN) is not involved: a reader's link is their credential.
 *
 * Responses carry no object URI and no patient identifier, are not cached (images: privately),
 * and the page's content security policy allows its one inline script by nonce and nothing
 * off-site.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { silentLogger, type Logger } from '@cxr/config/log';
import {
  InvalidStudyReadingError,
  STUDY_ARMS,
  STUDY_ID_PATTERN,
  readerTokenHash,
  type Confidence,
  type ReaderStudyStore,
  type ResultStore,
  type StudyArm,
  type StudyDefinition,
  type StudyReader,
} from '@cxr/store';
import { cookieValue } from '../worklist/session.js';
import { placeholderSvg, type ThumbnailResult, type ThumbnailSource } from '../worklist/thumbnails.js';
import { PAGE_HEADERS, registerPageScopeBasics } from '../page-scope.js';
import { renderReadingPage, renderStudyMessage } from './page.js';

export const STUDY_PATH = '/study';
export const READ_PATH = `${STUDY_PATH}/read`;
export const READER_COOKIE = 'cxr_reader';
/** A reading link stays signed in for a working day. */
const READER_COOKIE_SECONDS = 12 * 3600;
/** Tokens made by `cxr study create`: 32 random bytes, base64url. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** What the routes need to render images (a ThumbnailService at reading size). */
export interface StudyImageProvider {
  keyOf(source: ThumbnailSource): string;
  thumbnail(source: ThumbnailSource): Promise<ThumbnailResult>;
}

export interface StudyRouteOptions {
  readonly studies: ReaderStudyStore;
  readonly store: Pick<ResultStore, 'resultByRowKey'>;
  readonly images: StudyImageProvider;
  readonly log?: Logger;
}

function pageCsp(nonce: string): string {
  return `default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
}

function isHttps(request: FastifyRequest): boolean {
  return request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
}

function readerCookie(token: string, secure: boolean): string {
  return `${READER_COOKIE}=${token}; Path=${STUDY_PATH}; Max-Age=${READER_COOKIE_SECONDS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

function isArm(value: unknown): value is StudyArm {
  return STUDY_ARMS.some((arm) => arm === value);
}

function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === 'string' ? value : '';
}

/** Registers the reading routes in their own scope (form parser, error handler). */
export function registerStudyRoutes(app: FastifyInstance, options: StudyRouteOptions): void {
  const log = options.log ?? silentLogger;
  const { studies } = options;

  const html = (reply: FastifyReply, status: number, body: string, nonce?: string): FastifyReply =>
    reply
      .code(status)
      .headers({
        ...PAGE_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          nonce === undefined
            ? "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
            : pageCsp(nonce),
      })
      .send(body);

  const invalidLink = (reply: FastifyReply): FastifyReply =>
    html(
      reply,
      401,
      renderStudyMessage(
        'Reading link not valid',
        'Open the personal reading link you were given for this study (it may have been mistyped or the study removed).',
      ),
    );

  /** The reader whose cookie the request carries. */
  const readerOf = async (
    request: FastifyRequest,
  ): Promise<{ study: StudyDefinition; reader: StudyReader } | undefined> => {
    const token = cookieValue(request.headers.cookie, READER_COOKIE) ?? '';
    if (!TOKEN_PATTERN.test(token)) return undefined;
    return studies.readerByTokenHash(readerTokenHash(token));
  };

  void app.register((scope, _options, done) => {
    registerPageScopeBasics(scope, {
      unavailable: 'The reading page is unavailable (see the service log).',
      failureMessage: 'reading page request failed',
      log,
      formBodyLimit: 16_384,
    });

    scope.get(READ_PATH, async (request, reply) => {
      const query = (request.query ?? {}) as Record<string, unknown>;
      const given = typeof query.token === 'string' ? query.token : '';
      if (given !== '') {
        const found = TOKEN_PATTERN.test(given)
          ? await studies.readerByTokenHash(readerTokenHash(given))
          : undefined;
        if (found === undefined) {
          log('info', 'reading link refused', {});
          return invalidLink(reply);
        }
        return reply
          .code(303)
          .headers(PAGE_HEADERS)
          .header('set-cookie', readerCookie(given, isHttps(request)))
          .header('location', READ_PATH)
          .send();
      }
      const found = await readerOf(request);
      if (found === undefined) return invalidLink(reply);
      return readingPage(reply, found);
    });

    const readingPage = async (
      reply: FastifyReply,
      { study, reader }: { study: StudyDefinition; reader: StudyReader },
      notice?: string,
      status = 200,
    ): Promise<FastifyReply> => {
      const progress = await studies.progress(study.studyId, reader.readerId);
      if (progress.next === undefined) {
        return html(
          reply,
          200,
          renderStudyMessage(
            'Study complete',
            `Thank you, ${reader.name}: all ${progress.total} readings are recorded. You can close this page.`,
          ),
        );
      }
      const { assignment, studyCase } = progress.next;
      const nonce = randomBytes(16).toString('base64');
      return html(
        reply,
        status,
        renderReadingPage({
          readerName: reader.name,
          position: assignment.position + 1,
          total: progress.total,
          caseId: assignment.caseId,
          arm: assignment.arm,
          session: assignment.session,
          labels: study.labels,
          imageSrc: `${STUDY_PATH}/images/${assignment.caseId}.png`,
          ...(assignment.arm === 'with_ai'
            ? {
                ai: {
                  diagnosis: studyCase.ai.diagnosis,
                  scores: study.labels.flatMap((label) => {
                    const score = studyCase.ai.scores[label];
                    return score === undefined
                      ? []
                      : [{ label, score, positive: studyCase.ai.positives.includes(label) }];
                  }),
                },
              }
            : {}),
          nonce,
          ...(notice !== undefined ? { notice } : {}),
        }),
        nonce,
      );
    };

    scope.post(READ_PATH, async (request, reply) => {
      const found = await readerOf(request);
      if (found === undefined) return invalidLink(reply);
      const { study, reader } = found;
      const body = (request.body ?? {}) as Record<string, unknown>;
      const caseId = field(body, 'caseId');
      const arm = field(body, 'arm');
      const readingTimeMs = Number(field(body, 'readingTimeMs'));
      const decisions: Record<string, boolean> = {};
      const confidence: Record<string, Confidence> = {};
      let complete = STUDY_ID_PATTERN.test(caseId) && isArm(arm) && field(body, 'readingTimeMs') !== '';
      study.labels.forEach((label, i) => {
        const decision = field(body, `decision_${i}`);
        const level = Number(field(body, `confidence_${i}`));
        if ((decision !== 'present' && decision !== 'absent') || ![1, 2, 3, 4, 5].includes(level)) {
          complete = false;
          return;
        }
        decisions[label] = decision === 'present';
        confidence[label] = level as Confidence;
      });
      if (!complete || !isArm(arm)) {
        return readingPage(reply, found, 'Choose present or absent and a confidence for every label.', 400);
      }
      try {
        const outcome = await studies.recordReading({
          studyId: study.studyId,
          readerId: reader.readerId,
          caseId,
          arm,
          decisions,
          confidence,
          readingTimeMs,
        });
        if (outcome === 'out_of_order') log('info', 'reading out of order ignored', { study: study.studyId });
      } catch (error) {
        if (!(error instanceof InvalidStudyReadingError)) throw error;
        return readingPage(
          reply,
          found,
          'That reading could not be recorded; please read this image again.',
          400,
        );
      }
      // Recorded, a repeat, or not the current case: the reader continues at their next unread case.
      return reply.code(303).headers(PAGE_HEADERS).header('location', READ_PATH).send();
    });

    scope.get<{ Params: { name: string } }>(`${STUDY_PATH}/images/:name`, async (request, reply) => {
      const found = await readerOf(request);
      if (found === undefined) {
        return reply
          .code(401)
          .headers(PAGE_HEADERS)
          .send({ error: 'unauthorized', reason: 'open your reading link' });
      }
      const caseId = /^(.+)\.png$/.exec(request.params.name)?.[1] ?? '';
      const studyCase = STUDY_ID_PATTERN.test(caseId)
        ? await studies.studyCase(found.study.studyId, caseId)
        : undefined;
      const row = studyCase === undefined ? undefined : await options.store.resultByRowKey(studyCase.rowKey);
      if (studyCase === undefined || row === undefined) {
        return reply.code(404).headers(PAGE_HEADERS).send({ error: 'not_found', reason: 'no such case' });
      }
      const source: ThumbnailSource = {
        rowKey: studyCase.rowKey,
        uri: row.uri,
        etag: row.etag,
        updatedAt: row.updatedAt,
      };
      const result = await options.images.thumbnail(source);
      switch (result.kind) {
        case 'png':
          return reply
            .code(200)
            .headers({
              ...PAGE_HEADERS,
              'content-type': 'image/png',
              'cache-control': 'private, max-age=3600',
              etag: `"${result.etag}"`,
            })
            .send(result.bytes);
        case 'unavailable':
        case 'busy':
          return reply
            .code(result.kind === 'busy' ? 503 : 200)
            .headers({
              ...PAGE_HEADERS,
              'content-type': 'image/svg+xml; charset=utf-8',
              'cache-control': 'no-store',
              'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
            })
            .send(
              placeholderSvg(
                result.kind === 'busy' ? 'the server is busy: reload the page' : result.message,
                512,
              ),
            );
      }
    });
    done();
  });
}
