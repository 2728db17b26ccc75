/**
 * `/worklist`: recent results for people, behind the API token. GET /worklist is the page
 * (filters, sorting, keyset pages); GET /worklist/thumbnails/ROWKEY.png a thumbnail; POST
 * /worklist/login and /worklist/logout the browser session (session.ts). With CXR_API_TOKEN set,
 * every route but the sign-in needs it: a session cookie, or the token as a bearer token or as
 * the password of HTTP Basic (scripts); `GET /worklist?token=...` signs in and redirects to the
 * same URL without the token. Without a token (loopback, or CXR_ALLOW_NO_AUTH=1 behind a proxy)
 * everything is open, like /v1/predict.
 *
 * Responses carry no object URI and no patient identifier; pages are not cached (no-store),
 * thumbnails only privately; a content security policy allows no script and nothing off-site.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { silentLogger, type Logger } from '@cxr/config/log';
import { NEGATIVE_DIAGNOSIS, decide } from '@cxr/model/decision';
import type { ModelManifest } from '@cxr/model/manifest';
import {
  InvalidWorklistCursorError,
  OUTCOMES,
  ROW_KEY_PATTERN,
  WORKLIST_ORDERS,
  WORKLIST_SORTS,
  type Outcome,
  type ResultStore,
  type WorklistItem,
  type WorklistOrder,
  type WorklistQuery,
  type WorklistSort,
} from '@cxr/store';
import { bearerOrBasicToken, tokenMatches } from '../auth.js';
import { PAGE_HEADERS, registerPageScopeBasics } from '../page-scope.js';
import {
  renderSignInPage,
  renderWorklistPage,
  worklistHref,
  type ScoreView,
  type WorklistFilters,
  type WorklistPageView,
  type WorklistRowView,
} from './page.js';
import {
  SESSION_COOKIE,
  clearedSessionCookie,
  cookieValue,
  issueSession,
  sessionCookie,
  sessionValid,
} from './session.js';
import {
  FETCHABLE_SCHEMES,
  placeholderSvg,
  type ThumbnailResult,
  type ThumbnailSource,
} from './thumbnails.js';
import { viewerUrl } from './viewer-link.js';

export const WORKLIST_PATH = '/worklist';

/** What the routes need of the thumbnail service (thumbnails.ts). */
export interface ThumbnailProvider {
  keyOf(source: ThumbnailSource): string;
  thumbnail(source: ThumbnailSource): Promise<ThumbnailResult>;
}

export interface WorklistRouteOptions {
  readonly store: Pick<ResultStore, 'worklist' | 'resultByRowKey'>;
  /** CXR_API_TOKEN; undefined = no authentication. */
  readonly token: string | undefined;
  /** The served model's manifest: labels, decision rule, normal label; undefined = none configured. */
  readonly manifest: ModelManifest | undefined;
  /** CXR_VIEWER_URL_TEMPLATE; undefined = no viewer links. */
  readonly viewerUrlTemplate: string | undefined;
  readonly pageSize: number;
  readonly maxPageSize: number;
  readonly thumbnails: ThumbnailProvider;
  /** Longest side of a thumbnail in pixels (the placeholder's size too). */
  readonly thumbnailSize: number;
  readonly log?: Logger;
  /** The clock of sessions (tests). */
  readonly now?: () => number;
}

/** The page's policy: its own images and inline CSS, no script, forms only to itself. */
const PAGE_CSP =
  "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Thumbnails stay in the browser's private cache for a day: their key changes with the row. */
const THUMBNAIL_MAX_AGE_SECONDS = 86_400;
/** A placeholder is retried after a minute (an object may come back). */
const PLACEHOLDER_MAX_AGE_SECONDS = 60;

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A filter value that cannot be served, with the sentence the page shows. */
class BadFilterError extends Error {
  override readonly name = 'BadFilterError';
}

type QueryValues = Readonly<Record<string, unknown>>;

/** The first value of a query parameter (repeated parameters: the first wins). */
function param(query: QueryValues, name: string): string {
  const value = query[name];
  const first = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof first === 'string' ? first.trim() : '';
}

/** Midnight UTC of a YYYY-MM-DD day, or undefined when it is not a real date. */
function utcDay(text: string): Date | undefined {
  const match = DAY.exec(text);
  if (match === null) return undefined;
  const date = new Date(`${text}T00:00:00.000Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== text ? undefined : date;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], fallback: T): T | undefined {
  if (value === '') return fallback;
  return allowed.find((candidate) => candidate === value);
}

interface ParsedRequest {
  readonly filters: WorklistFilters;
  readonly cursor: string | undefined;
}

/** The filters of a request, with defaults; BadFilterError names what is wrong. */
function parseFilters(query: QueryValues, options: WorklistRouteOptions): ParsedRequest {
  const sort = oneOf<WorklistSort>(param(query, 'sort'), WORKLIST_SORTS, 'suspicion');
  const order = oneOf<WorklistOrder>(param(query, 'order'), WORKLIST_ORDERS, 'desc');
  const outcome = oneOf<'' | Outcome>(param(query, 'outcome'), ['', ...OUTCOMES], '');
  const limitText = param(query, 'limit');
  const limit = limitText === '' ? options.pageSize : Number(limitText);
  const defaults: WorklistFilters = {
    run: '',
    label: '',
    decision: '',
    outcome: '',
    from: '',
    to: '',
    sort: sort ?? 'suspicion',
    order: order ?? 'desc',
    limit: options.pageSize,
  };
  const filters: WorklistFilters = {
    ...defaults,
    run: param(query, 'run'),
    label: param(query, 'label'),
    decision: param(query, 'decision'),
    outcome: outcome ?? '',
    from: param(query, 'from'),
    to: param(query, 'to'),
    limit: Number.isInteger(limit) && limit >= 1 && limit <= options.maxPageSize ? limit : options.pageSize,
  };
  const fail = (message: string): never => {
    throw Object.assign(new BadFilterError(message), { filters });
  };
  if (sort === undefined) fail(`Sort must be one of ${WORKLIST_SORTS.join(', ')}.`);
  if (order === undefined) fail(`Order must be one of ${WORKLIST_ORDERS.join(', ')}.`);
  if (outcome === undefined) fail(`Outcome must be one of ${OUTCOMES.join(', ')}.`);
  if (!Number.isInteger(limit) || limit < 1 || limit > options.maxPageSize) {
    fail(`Rows per page must be a whole number from 1 to ${options.maxPageSize}.`);
  }
  if (filters.run.length > 256 || filters.decision.length > 256)
    fail('Run and decision are at most 256 characters.');
  if (filters.label !== '') {
    if (options.manifest === undefined) fail('Filtering by label needs the model manifest (CXR_MODEL_DIR).');
    else if (!options.manifest.output.labels.includes(filters.label))
      fail('That label is not one of the model’s labels.');
  }
  for (const [name, text] of [
    ['From', filters.from],
    ['To', filters.to],
  ] as const) {
    if (text !== '' && utcDay(text) === undefined) fail(`${name} must be a date (YYYY-MM-DD).`);
  }
  if (filters.from !== '' && filters.to !== '' && filters.from > filters.to)
    fail('From must not be after To.');
  const cursor = param(query, 'cursor');
  if (cursor.length > 1024) fail('This page link is not valid; start again from the first page.');
  return { filters, cursor: cursor === '' ? undefined : cursor };
}

/** The store query of the filters, or undefined when they cannot match anything. */
function storeQuery(
  filters: WorklistFilters,
  cursor: string | undefined,
  manifest: ModelManifest | undefined,
): WorklistQuery | undefined {
  let decision = filters.decision === '' ? undefined : filters.decision;
  let minScore: WorklistQuery['minScore'];
  if (filters.label !== '' && manifest !== undefined) {
    // "Positive for": argmax makes the top label alone positive (the decision); thresholds make
    // every label at or above its operating threshold positive.
    if (manifest.output.decision === 'argmax') {
      if (decision !== undefined && decision !== filters.label) return undefined;
      decision = filters.label;
    } else {
      minScore = {
        label: filters.label,
        min: manifest.output.thresholds?.[filters.label] ?? Number.POSITIVE_INFINITY,
      };
    }
  }
  const from = filters.from === '' ? undefined : utcDay(filters.from);
  const toDay = filters.to === '' ? undefined : utcDay(filters.to);
  return {
    sort: filters.sort,
    order: filters.order,
    limit: filters.limit,
    ...(filters.run !== '' ? { runId: filters.run } : {}),
    ...(decision !== undefined ? { decision } : {}),
    ...(filters.outcome !== '' ? { outcome: filters.outcome } : {}),
    ...(minScore !== undefined ? { minScore } : {}),
    ...(from !== undefined ? { from } : {}),
    // The To day is included: up to the next midnight.
    ...(toDay !== undefined ? { to: new Date(toDay.getTime() + 86_400_000) } : {}),
    ...(cursor !== undefined ? { cursor } : {}),
  };
}

/** A stored row as the page shows it. */
function rowView(item: WorklistItem, options: WorklistRouteOptions): WorklistRowView {
  const manifest = options.manifest;
  const ofServedModel =
    manifest !== undefined && item.modelId === manifest.id && item.modelVersion === manifest.version;
  let scores: ScoreView[] = [];
  if (item.scores !== null) {
    const labels = ofServedModel ? manifest.output.labels : Object.keys(item.scores);
    const values = labels.map((label) => item.scores?.[label]);
    let positives: readonly string[] = item.decision === null ? [] : [item.decision];
    if (ofServedModel && values.every((v): v is number => typeof v === 'number')) {
      positives = decide(values, manifest.output).positives;
    }
    scores = labels.flatMap((label, i) => {
      const score = values[i];
      return score === undefined ? [] : [{ label, score, positive: positives.includes(label) }];
    });
  }
  const findingDecision =
    item.outcome === 'ok' &&
    item.decision !== null &&
    item.decision !== NEGATIVE_DIAGNOSIS &&
    (ofServedModel ? item.decision !== manifest.output.normalLabel : item.suspicion !== null);
  const thumbnail: WorklistRowView['thumbnail'] =
    item.outcome === 'rejected'
      ? { kind: 'unavailable', reason: `the object was rejected (${item.reason ?? 'no reason'})` }
      : item.uriScheme === null || !FETCHABLE_SCHEMES.has(item.uriScheme)
        ? {
            kind: 'unavailable',
            reason: `${item.uriScheme ?? 'these'} objects are not fetched here yet`,
          }
        : { kind: 'image', src: `${WORKLIST_PATH}/thumbnails/${item.rowKey}.png` };
  return {
    rowKey: item.rowKey,
    time: item.updatedAt,
    runId: item.runId,
    model: `${item.modelId} ${item.modelVersion}`,
    modality: item.modality,
    viewPosition: item.viewPosition,
    decision: item.decision,
    findingDecision,
    suspicion: item.suspicion,
    scores,
    outcome: item.outcome,
    reason: item.reason,
    viewerHref:
      options.viewerUrlTemplate === undefined
        ? undefined
        : viewerUrl(options.viewerUrlTemplate, {
            StudyInstanceUID: item.studyInstanceUid,
            SeriesInstanceUID: item.seriesInstanceUid,
            SOPInstanceUID: item.sopInstanceUid,
          }),
    thumbnail,
  };
}

/** Where a signed-in browser goes next: a /worklist URL without a token, else the first page. */
function safeNext(next: string): string {
  if (!/^\/worklist(\?[^#\s]*)?$/.test(next)) return WORKLIST_PATH;
  const url = new URL(next, 'http://local');
  url.searchParams.delete('token');
  const query = url.searchParams.toString();
  return `${WORKLIST_PATH}${query === '' ? '' : `?${query}`}`;
}

function isHttps(request: FastifyRequest): boolean {
  // A TLS-terminating proxy says so; believing a forged header only adds Secure, which is harmless.
  return request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
}

/** Registers the worklist routes in their own scope (form parser, headers). */
export function registerWorklistRoutes(app: FastifyInstance, options: WorklistRouteOptions): void {
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  const { token } = options;

  /** Whether a request carries the token (session cookie, bearer, Basic password); always without a token. */
  const authorized = (request: FastifyRequest): 'session' | 'header' | 'open' | undefined => {
    if (token === undefined) return 'open';
    const given = bearerOrBasicToken(request.headers.authorization);
    if (given !== undefined && tokenMatches(given, token)) return 'header';
    return sessionValid(cookieValue(request.headers.cookie, SESSION_COOKIE), token, now())
      ? 'session'
      : undefined;
  };

  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply
      .code(status)
      .headers({
        ...PAGE_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': PAGE_CSP,
      })
      .send(body);

  const signIn = (reply: FastifyReply, next: string, failed: boolean): FastifyReply =>
    html(reply, 401, renderSignInPage({ next: safeNext(next), failed }));

  void app.register((scope, _options, done) => {
    registerPageScopeBasics(scope, {
      unavailable: 'The worklist is unavailable (see the service log).',
      failureMessage: 'worklist request failed',
      log,
      formBodyLimit: 4096,
    });

    scope.get(WORKLIST_PATH, async (request, reply) => {
      const query = (request.query ?? {}) as QueryValues;
      const given = param(query, 'token');
      if (given !== '') {
        // A link carrying the token signs in, then drops the token from the address bar and history.
        if (token !== undefined && !tokenMatches(given, token)) return signIn(reply, request.url, true);
        if (token !== undefined)
          void reply.header('set-cookie', sessionCookie(issueSession(token, now()), isHttps(request)));
        return reply.code(303).headers(PAGE_HEADERS).header('location', safeNext(request.url)).send();
      }
      const auth = authorized(request);
      if (auth === undefined) return signIn(reply, request.url, false);
      return html(reply, ...(await worklistPage(query, options, auth === 'session')));
    });

    scope.post(WORKLIST_PATH + '/login', async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const next = typeof body.next === 'string' ? body.next : WORKLIST_PATH;
      if (token === undefined)
        return reply.code(303).headers(PAGE_HEADERS).header('location', safeNext(next)).send();
      const given = typeof body.token === 'string' ? body.token : '';
      if (!tokenMatches(given, token)) {
        log('info', 'worklist sign-in refused', {});
        return signIn(reply, next, true);
      }
      return reply
        .code(303)
        .headers(PAGE_HEADERS)
        .header('set-cookie', sessionCookie(issueSession(token, now()), isHttps(request)))
        .header('location', safeNext(next))
        .send();
    });

    scope.post(WORKLIST_PATH + '/logout', async (request, reply) =>
      reply
        .code(303)
        .headers(PAGE_HEADERS)
        .header('set-cookie', clearedSessionCookie(isHttps(request)))
        .header('location', WORKLIST_PATH)
        .send(),
    );

    scope.get<{ Params: { name: string } }>(`${WORKLIST_PATH}/thumbnails/:name`, async (request, reply) => {
      if (authorized(request) === undefined) {
        return reply
          .code(401)
          .headers(PAGE_HEADERS)
          .send({ error: 'unauthorized', reason: 'sign in to the worklist' });
      }
      const rowKey = /^(.+)\.png$/.exec(request.params.name)?.[1] ?? '';
      const row = ROW_KEY_PATTERN.test(rowKey) ? await options.store.resultByRowKey(rowKey) : undefined;
      if (row === undefined) {
        return reply.code(404).headers(PAGE_HEADERS).send({ error: 'not_found', reason: 'no such result' });
      }
      const source: ThumbnailSource = { rowKey, uri: row.uri, etag: row.etag, updatedAt: row.updatedAt };
      const etag = `"${options.thumbnails.keyOf(source)}"`;
      if (request.headers['if-none-match'] === etag) {
        return reply.code(304).headers(PAGE_HEADERS).header('etag', etag).send();
      }
      const result = await options.thumbnails.thumbnail(source);
      switch (result.kind) {
        case 'png':
          return reply
            .code(200)
            .headers({
              ...PAGE_HEADERS,
              'content-type': 'image/png',
              'cache-control': `private, max-age=${THUMBNAIL_MAX_AGE_SECONDS}`,
              etag: `"${result.etag}"`,
            })
            .send(result.bytes);
        case 'unavailable':
          return placeholder(reply, 200, result.reason, result.message, options.thumbnailSize);
        case 'busy':
          return placeholder(
            reply,
            503,
            'busy',
            'the server is busy: reload the page',
            options.thumbnailSize,
          ).header('retry-after', '2');
      }
    });
    done();
  });
}

function placeholder(
  reply: FastifyReply,
  status: number,
  reason: string,
  message: string,
  size: number,
): FastifyReply {
  return reply
    .code(status)
    .headers({
      ...PAGE_HEADERS,
      'content-type': 'image/svg+xml; charset=utf-8',
      'cache-control': `private, max-age=${PLACEHOLDER_MAX_AGE_SECONDS}`,
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
      'x-cxr-thumbnail': `unavailable; reason=${reason}`,
    })
    .send(placeholderSvg(message, size));
}

/** The page's status and HTML for a request's filters. */
async function worklistPage(
  query: QueryValues,
  options: WorklistRouteOptions,
  signOut: boolean,
): Promise<[number, string]> {
  const manifest = options.manifest;
  const base = {
    labels: manifest?.output.labels ?? [],
    decisions:
      manifest === undefined
        ? []
        : manifest.output.decision === 'thresholds'
          ? [...manifest.output.labels, NEGATIVE_DIAGNOSIS]
          : manifest.output.labels,
    maxLimit: options.maxPageSize,
    signOut,
    // Shown at most 96 CSS pixels: rendered larger, they stay sharp on high-density screens.
    thumbnailDisplayPx: Math.min(96, options.thumbnailSize),
    ...(manifest === undefined
      ? {
          notice:
            'No model manifest is configured (CXR_MODEL_DIR): results stored now get no suspicion and sort after scored ones, and there is no label filter.',
        }
      : {}),
  };
  let parsed: ParsedRequest;
  try {
    parsed = parseFilters(query, options);
  } catch (error) {
    if (!(error instanceof BadFilterError)) throw error;
    const filters = (error as BadFilterError & { filters: WorklistFilters }).filters;
    return [
      400,
      renderWorklistPage({ ...base, filters, rows: [], firstHref: WORKLIST_PATH, error: error.message }),
    ];
  }
  const { filters, cursor } = parsed;
  const firstHref = worklistHref(filters);
  const storeRequest = storeQuery(filters, cursor, manifest);
  if (storeRequest === undefined) {
    return [200, renderWorklistPage({ ...base, filters, rows: [], firstHref })];
  }
  try {
    const page = await options.store.worklist(storeRequest);
    const view: WorklistPageView = {
      ...base,
      filters,
      rows: page.items.map((item) => rowView(item, options)),
      firstHref,
      ...(page.next !== undefined ? { nextHref: worklistHref(filters, page.next) } : {}),
      ...(page.previous !== undefined ? { previousHref: worklistHref(filters, page.previous) } : {}),
    };
    return [200, renderWorklistPage(view)];
  } catch (error) {
    if (error instanceof InvalidWorklistCursorError) {
      return [
        400,
        renderWorklistPage({
          ...base,
          filters,
          rows: [],
          firstHref,
          error: 'This page link is not valid for these settings; start again from the first page.',
        }),
      ];
    }
    throw error;
  }
}
