/**
 * What the browser pages of the results service (/worklist, the reading page of reader studies)
 * share: their security headers, a fixed error page that never carries an error's text, and the
 * parser of their small HTML forms.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { errorSummary, type Logger } from '@cxr/config/log';

/** Headers of every page response. */
export const PAGE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

export interface PageScopeOptions {
  /** What a 5xx answer says, e.g. "The worklist is unavailable (see the service log)." */
  readonly unavailable: string;
  /** The log message of a 5xx, e.g. "worklist request failed". */
  readonly failureMessage: string;
  readonly log: Logger;
  /** Largest form body accepted, in bytes. */
  readonly formBodyLimit: number;
}

/**
 * In a page's fastify scope: a failure of the store or a renderer answers a fixed text (logged
 * with its summary), a client error "Bad request."; form bodies are parsed into a flat record.
 */
export function registerPageScopeBasics(scope: FastifyInstance, options: PageScopeOptions): void {
  scope.setErrorHandler((error: FastifyError, _request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) options.log('error', options.failureMessage, errorSummary(error));
    return reply
      .code(status)
      .headers({ ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      .send(status >= 500 ? options.unavailable : 'Bad request.');
  });
  scope.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: options.formBodyLimit },
    (_request, body, parsed) => {
      parsed(
        null,
        Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))),
      );
    },
  );
}
