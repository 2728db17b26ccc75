/**
 * The worklist query: recent results, filtered, sorted by suspicion or time, one page at a time
 * by KEYSET pagination (each page starts after, or before, the sort key of a row of the page the
 * reader comes from), so page 1,000 costs what page 1 costs and rows written meanwhile never
 * shift a page. The cursor is opaque to callers; the SQL is built here for both dialects.
 */
import { z } from 'zod';
import { OUTCOMES, type Outcome } from './result-row.js';
import { ROW_KEY_PATTERN } from './row-key.js';

export const WORKLIST_SORTS = ['suspicion', 'time'] as const;
/** suspicion: by the `suspicion` column (rows without one last), then time; time: by updated_at. */
export type WorklistSort = (typeof WORKLIST_SORTS)[number];

export const WORKLIST_ORDERS = ['desc', 'asc'] as const;
export type WorklistOrder = (typeof WORKLIST_ORDERS)[number];

/** Rows per page at most: a page is one array, rendered at once. */
export const MAX_WORKLIST_LIMIT = 1000;

/** Which rows, in which order, which page. */
export interface WorklistQuery {
  readonly runId?: string;
  /** The stored decision (a label, or `negative`). */
  readonly decision?: string;
  readonly outcome?: Outcome;
  /** Only rows whose score for `label` is at least `min` (a label's positives under a threshold). */
  readonly minScore?: { readonly label: string; readonly min: number };
  /** Only rows written (updated_at) at or after this instant. */
  readonly from?: Date;
  /** Only rows written before this instant. */
  readonly to?: Date;
  readonly sort: WorklistSort;
  /** Default `desc`: most suspicious (or newest) first. */
  readonly order?: WorklistOrder;
  /** Rows per page, 1 .. MAX_WORKLIST_LIMIT. */
  readonly limit: number;
  /** A `next` or `previous` cursor of an earlier page of the same sort and order. */
  readonly cursor?: string;
}

/** One row as the worklist shows it: no URI (object names may carry patient data). */
export interface WorklistItem {
  /** The row's opaque id (row-key.ts): thumbnails are requested by it. */
  readonly rowKey: string;
  readonly runId: string;
  readonly modelId: string;
  readonly modelVersion: string;
  /** The object URI's scheme only (`file`, `s3`, `dicomweb+https`, ...), lowercase; null if it has none. */
  readonly uriScheme: string | null;
  readonly studyInstanceUid: string | null;
  readonly seriesInstanceUid: string | null;
  readonly sopInstanceUid: string | null;
  readonly modality: string | null;
  readonly viewPosition: string | null;
  readonly scores: Readonly<Record<string, number>> | null;
  readonly decision: string | null;
  readonly suspicion: number | null;
  readonly outcome: Outcome;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A page and the cursors of its neighbours (absent at either end). */
export interface WorklistPage {
  readonly items: readonly WorklistItem[];
  readonly next?: string;
  readonly previous?: string;
}

/** A cursor that is not one this store issued (malformed, or of another sort or order). */
export class InvalidWorklistCursorError extends RangeError {
  override readonly name = 'InvalidWorklistCursorError';
}

/** What a cursor holds: which side of which row, under which sort and order. */
export interface WorklistCursor {
  readonly sort: WorklistSort;
  readonly order: WorklistOrder;
  /** after: the page after the row (next); before: the page before it (previous). */
  readonly direction: 'after' | 'before';
  /** The row's sort value under `suspicion` (SUSPICION_FLOOR when it has none); null under `time`. */
  readonly suspicion: number | null;
  readonly updatedAt: string;
  readonly rowKey: string;
}

/**
 * The sort value of a row without a suspicion (rejected, failed, or scored without a manifest):
 * below any score, so those rows come last in descending order. The index holds the same
 * expression (SUSPICION_SORT_SQL), which keeps the column itself NULL for them.
 */
export const SUSPICION_FLOOR = -1e300;
/** The indexed expression the suspicion sort orders by; queries must spell it exactly so. */
export const SUSPICION_SORT_SQL = 'COALESCE(suspicion, -1e300)';

const cursorSchema = z.strictObject({
  v: z.literal(1),
  s: z.enum(WORKLIST_SORTS),
  o: z.enum(WORKLIST_ORDERS),
  d: z.enum(['after', 'before']),
  x: z.number().nullable(),
  t: z.iso.datetime(),
  k: z.string().regex(ROW_KEY_PATTERN),
});

/** Encodes a cursor as URL-safe text. */
export function encodeWorklistCursor(cursor: WorklistCursor): string {
  const body: z.input<typeof cursorSchema> = {
    v: 1,
    s: cursor.sort,
    o: cursor.order,
    d: cursor.direction,
    x: cursor.suspicion,
    t: cursor.updatedAt,
    k: cursor.rowKey,
  };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/** Decodes a cursor for a query of `sort` and `order`; InvalidWorklistCursorError when it is not one. */
export function decodeWorklistCursor(text: string, sort: WorklistSort, order: WorklistOrder): WorklistCursor {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,1024}$/.test(text)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidWorklistCursorError('worklist cursor is malformed');
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success) throw new InvalidWorklistCursorError('worklist cursor is malformed');
  const c = result.data;
  if (c.s !== sort || c.o !== order) {
    throw new InvalidWorklistCursorError('worklist cursor belongs to another sort or order');
  }
  if ((c.s === 'suspicion') !== (c.x !== null)) {
    throw new InvalidWorklistCursorError('worklist cursor is malformed');
  }
  return { sort: c.s, order: c.o, direction: c.d, suspicion: c.x, updatedAt: c.t, rowKey: c.k };
}

/** Validates a query's limit, order and dates; returns the order. */
export function checkWorklistQuery(query: WorklistQuery): WorklistOrder {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_WORKLIST_LIMIT) {
    throw new RangeError(`worklist: limit must be an integer from 1 to ${MAX_WORKLIST_LIMIT}`);
  }
  if (!(WORKLIST_SORTS as readonly string[]).includes(query.sort)) {
    throw new RangeError(`worklist: sort must be one of ${WORKLIST_SORTS.join(', ')}`);
  }
  const order = query.order ?? 'desc';
  if (!(WORKLIST_ORDERS as readonly string[]).includes(order)) {
    throw new RangeError(`worklist: order must be one of ${WORKLIST_ORDERS.join(', ')}`);
  }
  if (query.outcome !== undefined && !(OUTCOMES as readonly string[]).includes(query.outcome)) {
    throw new RangeError(`worklist: outcome must be one of ${OUTCOMES.join(', ')}`);
  }
  for (const [name, date] of [
    ['from', query.from],
    ['to', query.to],
  ] as const) {
    if (date !== undefined && Number.isNaN(date.getTime()))
      throw new RangeError(`worklist: ${name} is not a date`);
  }
  if (query.minScore !== undefined && !Number.isFinite(query.minScore.min)) {
    throw new RangeError('worklist: minScore.min must be a finite number');
  }
  return order;
}

/** The sort keys of a sort, in index order (row_key last: it makes every key unique). */
export function worklistSortKeys(sort: WorklistSort): readonly string[] {
  return sort === 'suspicion' ? [SUSPICION_SORT_SQL, 'updated_at', 'row_key'] : ['updated_at', 'row_key'];
}

type IndexedFilters = Pick<WorklistQuery, 'sort' | 'runId' | 'decision' | 'outcome'>;

/** The equality filters with an index of their own, by priority (the first one given picks the index). */
const INDEXED_FILTERS = [
  { filter: 'run', column: 'run_id', given: (q: IndexedFilters) => q.runId !== undefined },
  { filter: 'decision', column: 'decision', given: (q: IndexedFilters) => q.decision !== undefined },
  { filter: 'outcome', column: 'outcome', given: (q: IndexedFilters) => q.outcome !== undefined },
] as const;

/** One index of the worklist (migration 3): an optional equality column, then a sort's keys. */
export interface WorklistIndex {
  readonly name: string;
  readonly columns: readonly string[];
  readonly sort: WorklistSort;
}

/** Every worklist index: per sort, one without a filter and one per indexed equality filter. */
export const WORKLIST_INDEXES: readonly WorklistIndex[] = WORKLIST_SORTS.flatMap((sort) => [
  { name: `results_worklist_${sort}`, columns: [], sort },
  ...INDEXED_FILTERS.map(({ filter, column }) => ({
    name: `results_worklist_${filter}_${sort}`,
    columns: [column],
    sort,
  })),
]);

/**
 * The index a query walks: the one of its sort after its first indexed equality filter (run id,
 * then decision, then outcome), else the sort's own. Other filters are checked on the rows met.
 */
export function worklistIndex(query: IndexedFilters): string {
  const filter = INDEXED_FILTERS.find(({ given }) => given(query));
  return filter === undefined
    ? `results_worklist_${query.sort}`
    : `results_worklist_${filter.filter}_${query.sort}`;
}

/** How a dialect spells what differs between SQLite and PostgreSQL. */
export interface WorklistDialect {
  /** The n-th (1-based) bind parameter: `?` or `$n`. */
  readonly param: (n: number) => string;
  /** A bound ISO 8601 instant compared with updated_at. */
  readonly instant: (param: string) => string;
  /** The score of the label bound as `param` (see labelParam), as a number. */
  readonly score: (param: string) => string;
  /** The bound value for `score`: the label as the dialect looks it up. */
  readonly labelParam: (label: string) => string;
  /** What follows `FROM results` to make the query walk the named index ('' to leave it to the planner). */
  readonly useIndex: (index: string) => string;
}

export type WorklistParam = string | number;

/**
 * The SQL of one page: filters, the keyset condition, the order, limit + 1 rows (one to tell if
 * more follow). The keyset condition is a row value comparison, which PostgreSQL turns into the
 * start of the index range; SQLite does not for an expression (the suspicion sort), so the first
 * sort key also gets a plain bound from the cursor, merged with a time range when it is the
 * same column (SQLite takes one bound per side, and would otherwise walk from the range's end).
 */
export function worklistSql(
  query: WorklistQuery,
  order: WorklistOrder,
  cursor: WorklistCursor | undefined,
  dialect: WorklistDialect,
  selectList: string,
): { sql: string; params: WorklistParam[] } {
  const params: WorklistParam[] = [];
  const bind = (value: WorklistParam): string => {
    params.push(value);
    return dialect.param(params.length);
  };
  const where: string[] = [];
  if (query.runId !== undefined) where.push(`run_id = ${bind(query.runId)}`);
  if (query.decision !== undefined) where.push(`decision = ${bind(query.decision)}`);
  if (query.outcome !== undefined) where.push(`outcome = ${bind(query.outcome)}`);
  // Walking backwards (a previous page) reads the reverse order from the cursor, then flips.
  const descending = (order === 'desc') !== (cursor?.direction === 'before');
  // Bounds of updated_at: the time range, and under the time sort the cursor's side of it.
  let lower = query.from === undefined ? undefined : { at: query.from.toISOString(), strict: false };
  let upper = query.to === undefined ? undefined : { at: query.to.toISOString(), strict: true };
  if (cursor !== undefined && query.sort === 'time') {
    const bound = { at: cursor.updatedAt, strict: false };
    if (descending) upper = tighter(upper, bound, 'upper');
    else lower = tighter(lower, bound, 'lower');
  }
  if (lower !== undefined)
    where.push(`updated_at ${lower.strict ? '>' : '>='} ${dialect.instant(bind(lower.at))}`);
  if (upper !== undefined)
    where.push(`updated_at ${upper.strict ? '<' : '<='} ${dialect.instant(bind(upper.at))}`);
  if (query.minScore !== undefined) {
    const label = bind(dialect.labelParam(query.minScore.label));
    where.push(`${dialect.score(label)} >= ${bind(query.minScore.min)}`);
  }
  const keys = worklistSortKeys(query.sort);
  if (cursor !== undefined) {
    // Bound in the order the SQL text uses them: `?` parameters are positional.
    if (query.sort === 'suspicion') {
      where.push(
        `${SUSPICION_SORT_SQL} ${descending ? '<=' : '>='} ${bind(cursor.suspicion ?? SUSPICION_FLOOR)}`,
      );
    }
    const values =
      query.sort === 'suspicion'
        ? [
            bind(cursor.suspicion ?? SUSPICION_FLOOR),
            dialect.instant(bind(cursor.updatedAt)),
            bind(cursor.rowKey),
          ]
        : [dialect.instant(bind(cursor.updatedAt)), bind(cursor.rowKey)];
    where.push(`(${keys.join(', ')}) ${descending ? '<' : '>'} (${values.join(', ')})`);
  }
  const direction = descending ? 'DESC' : 'ASC';
  const sql =
    `SELECT ${selectList} FROM results${dialect.useIndex(worklistIndex(query))}` +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${keys.map((key) => `${key} ${direction}`).join(', ')} LIMIT ${bind(query.limit + 1)}`;
  return { sql, params };
}

interface TimeBound {
  readonly at: string;
  /** Excludes `at` itself. */
  readonly strict: boolean;
}

/** The tighter of two bounds on one side (ISO 8601 UTC instants of one format compare as text). */
function tighter(a: TimeBound | undefined, b: TimeBound, side: 'lower' | 'upper'): TimeBound {
  if (a === undefined) return b;
  const aTime = Date.parse(a.at);
  const bTime = Date.parse(b.at);
  if (aTime === bTime) return a.strict ? a : b;
  return (side === 'upper') === aTime < bTime ? a : b;
}

/** The columns a worklist query selects (the URI only to derive its scheme; it never leaves the store). */
export const WORKLIST_SELECT_LIST = [
  'row_key',
  'run_id',
  'model_id',
  'model_version',
  'uri',
  'study_instance_uid',
  'series_instance_uid',
  'sop_instance_uid',
  'modality',
  'view_position',
  'scores',
  'decision',
  'suspicion',
  'outcome',
  'reason',
  'created_at',
  'updated_at',
].join(', ');

/**
 * Assembles the page from the rows of worklistSql (limit + 1 of them, in query order): the extra
 * row says whether more follow in the direction read; the cursors point past both ends.
 */
export function worklistPage(
  rows: readonly WorklistItem[],
  query: WorklistQuery,
  order: WorklistOrder,
  cursor: WorklistCursor | undefined,
): WorklistPage {
  const more = rows.length > query.limit;
  const read = rows.slice(0, query.limit);
  const backwards = cursor?.direction === 'before';
  const items = backwards ? read.reverse() : read;
  const first = items[0];
  const last = items[items.length - 1];
  const at = (item: WorklistItem, direction: 'after' | 'before'): string =>
    encodeWorklistCursor({
      sort: query.sort,
      order,
      direction,
      suspicion: query.sort === 'suspicion' ? (item.suspicion ?? SUSPICION_FLOOR) : null,
      updatedAt: item.updatedAt,
      rowKey: item.rowKey,
    });
  // Forwards, a page after a cursor has rows before it; backwards, the page came from the rows after.
  const hasNext = backwards ? true : more;
  const hasPrevious = backwards ? more : cursor !== undefined;
  return {
    items,
    ...(hasNext && last !== undefined ? { next: at(last, 'after') } : {}),
    ...(hasPrevious && first !== undefined ? { previous: at(first, 'before') } : {}),
  };
}

/** The scheme of a URI (`s3`, `file`, `dicomweb+https`), lowercase; null when it has none. */
export function uriSchemeOf(uri: string): string | null {
  const match = /^([A-Za-z][A-Za-z0-9+.-]{0,31}):/.exec(uri);
  return match?.[1] === undefined ? null : match[1].toLowerCase();
}
