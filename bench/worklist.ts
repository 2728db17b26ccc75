/**
 * `pnpm bench worklist [--rows 1000000] [--rounds 30] [--deep 100] [--dialects sqlite,postgres]
 * [--postgres URL] [--keep-postgres] [--migration]`
 *
 * The worklist on a store of `--rows` results (seeded synthetic rows: 100 runs, three labels,
 * 94% ok, 4% rejected, 2% failed), in SQLite and in PostgreSQL. Per dialect and query shape:
 *  - the store's worklist query (what the page runs), first page and page `--deep` + 1 (reached
 *    by following `next` cursors), 50 rows, p50/p95 over `--rounds` rounds;
 *  - the baseline in the same run: the same order with LIMIT/OFFSET instead of a cursor, at the
 *    same deep page and at the middle of the table (what keyset pagination avoids);
 *  - GET /worklist as HTML (no thumbnails: the page only links them) over real HTTP to a results
 *    HTTP server on 127.0.0.1, bearer token included, first page and the deep page.
 * The SQLite store is cached in bench/out/worklist-<rows>.sqlite, so reruns skip the fill; the
 * PostgreSQL store is filled into its own schema and dropped afterwards unless --keep-postgres
 * (a kept schema of the right size is reused). The fill rate (rows/s, 1,000-row upserts with all
 * the worklist indexes) is reported too, and with --migration the time migration 3 takes on the
 * store turned back into a version 2 store (the upgrade: row keys of every row, nine indexes). Times include node and the database sharing the cores.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { mulberry32 } from '@cxr/evaluation';
import { createMetrics } from '@cxr/metrics';
import { parseManifest } from '@cxr/model/manifest';
import { buildHttpServer } from '@cxr/results';
import { openStore, parseResultRow, type ResultRow, type ResultStore, type WorklistQuery } from '@cxr/store';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const PAGE = 50;
const FILL_BATCH = 1000;
const TOKEN = 'bench-worklist-token-0123456789';
const LABELS = ['normal', 'pneumonia', 'further_evaluation'] as const;
const MODEL = { modelId: 'seed-densenet121', modelVersion: '1.0.0' };
const SUSPICION_SORT_SQL = 'COALESCE(suspicion, -1e300)';

const MANIFEST = parseManifest({
  id: MODEL.modelId,
  version: MODEL.modelVersion,
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 512,
    channels: 3,
    layout: 'NCHW',
    crop: 'none',
    resize: 'bilinear',
    intensity: { method: 'dicom-window' },
    normalization: { method: 'unit' },
  },
  output: { activation: 'softmax', labels: [...LABELS], decision: 'argmax', normalLabel: 'normal' },
});

function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench worklist: ${name} must be a positive integer, got ${value}`);
  return n;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Synthetic result i (deterministic). */
function benchRow(i: number, random: () => number): ResultRow {
  const u = random();
  const common = {
    runId: `run-${String(i % 100).padStart(3, '0')}`,
    uri: `s3://bench-archive/cr/2024/05/${String(i).padStart(9, '0')}.dcm`,
    etag: `"${(i * 2654435761).toString(16)}"`,
    ...MODEL,
    studyInstanceUid: `1.2.826.0.1.3680043.8.498.9.${i + 1}`,
    seriesInstanceUid: `1.2.826.0.1.3680043.8.498.9.${i + 1}.1`,
    sopInstanceUid: `1.2.826.0.1.3680043.8.498.9.${i + 1}.1.1`,
    modality: i % 3 === 0 ? 'DX' : 'CR',
    viewPosition: 'PA',
  };
  if (u < 0.04) return parseResultRow({ ...common, outcome: 'rejected', reason: 'not_dicom' });
  if (u < 0.06) return parseResultRow({ ...common, outcome: 'failed', reason: 'fetch_error' });
  // Mostly normal images, a tail of suspicious ones.
  const p = random() ** 3;
  const f = (1 - p) * random() * 0.3;
  const scores = { normal: 1 - p - f, pneumonia: p, further_evaluation: f };
  const decision = LABELS.reduce((a, b) => (scores[b] > scores[a] ? b : a));
  return parseResultRow({ ...common, scores, decision, suspicion: Math.max(p, f), outcome: 'ok' });
}

/** Fills an empty store; returns rows per second. */
async function fill(store: ResultStore, rows: number): Promise<number> {
  const random = mulberry32(20261207);
  const started = performance.now();
  for (let start = 0; start < rows; start += FILL_BATCH) {
    const batch: ResultRow[] = [];
    for (let i = start; i < Math.min(rows, start + FILL_BATCH); i++) batch.push(benchRow(i, random));
    await store.upsertResults(batch);
    if (start % 100_000 === 0) process.stderr.write(`  filled ${start.toLocaleString('en-US')} rows\n`);
  }
  return rows / ((performance.now() - started) / 1000);
}

interface Shape {
  readonly name: string;
  readonly query: Omit<WorklistQuery, 'limit' | 'cursor'>;
  /** URL parameters of the same shape for the HTML page (undefined: not measured as HTML). */
  readonly html?: string;
  /** SQL of the same order for the OFFSET baseline (undefined: no baseline). */
  readonly offsetOrder?: {
    readonly where: string;
    readonly order: string;
    /** Rows the filter matches (the baseline's second column reads the middle of them). */
    readonly matching: (rows: number) => number;
  };
}

function shapes(range: { from: Date; to: Date }): Shape[] {
  const susp = `${SUSPICION_SORT_SQL} DESC, updated_at DESC, row_key DESC`;
  return [
    {
      name: 'suspicion',
      query: { sort: 'suspicion' },
      html: 'sort=suspicion&order=desc',
      offsetOrder: { where: '', order: susp, matching: (rows) => rows },
    },
    {
      name: 'time',
      query: { sort: 'time' },
      html: 'sort=time&order=desc',
      offsetOrder: { where: '', order: 'updated_at DESC, row_key DESC', matching: (rows) => rows },
    },
    {
      name: 'run + suspicion',
      query: { sort: 'suspicion', runId: 'run-042' },
      html: 'sort=suspicion&run=run-042',
      // One run in 100.
      offsetOrder: {
        where: "WHERE run_id = 'run-042'",
        order: susp,
        matching: (rows) => Math.floor(rows / 100),
      },
    },
    { name: 'decision + time', query: { sort: 'time', decision: 'pneumonia' } },
    { name: 'outcome rejected + suspicion', query: { sort: 'suspicion', outcome: 'rejected' } },
    {
      name: 'label pneumonia >= 0.5 + suspicion',
      query: { sort: 'suspicion', minScore: { label: 'pneumonia', min: 0.5 } },
    },
    { name: '10% time range + time', query: { sort: 'time', from: range.from, to: range.to } },
    { name: '10% time range + suspicion', query: { sort: 'suspicion', from: range.from, to: range.to } },
  ];
}

/** Times `run` `rounds` times after one warm-up; milliseconds. */
async function timed(rounds: number, run: () => Promise<unknown>): Promise<number[]> {
  await run();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return times;
}

const fmt = (times: readonly number[]): string =>
  `${percentile(times, 50).toFixed(2)} / ${percentile(times, 95).toFixed(2)}`;

interface Line {
  readonly dialect: string;
  readonly what: string;
  readonly first: string;
  readonly deep: string;
}

/** The cursor of page `deep` + 1: `deep` next cursors from the first page. */
async function deepCursor(
  store: ResultStore,
  query: WorklistQuery,
  deep: number,
): Promise<string | undefined> {
  let cursor: string | undefined;
  for (let n = 0; n < deep; n++) {
    const page = await store.worklist({ ...query, ...(cursor !== undefined ? { cursor } : {}) });
    if (page.next === undefined) return undefined;
    cursor = page.next;
  }
  return cursor;
}

async function measure(
  dialect: string,
  store: ResultStore,
  offsetQuery: (sql: string) => Promise<unknown>,
  rows: number,
  rounds: number,
  deep: number,
): Promise<Line[]> {
  const lines: Line[] = [];
  // The middle tenth of the stored times (the fill wrote them in order).
  const times = (await store.worklist({ sort: 'time', order: 'asc', limit: 1 })).items[0]?.updatedAt;
  const last = (await store.worklist({ sort: 'time', order: 'desc', limit: 1 })).items[0]?.updatedAt;
  if (times === undefined || last === undefined) throw new Error('empty store');
  const t0 = Date.parse(times);
  const span = Date.parse(last) - t0;
  const range = { from: new Date(t0 + span * 0.45), to: new Date(t0 + span * 0.55) };

  const http = buildHttpServer({
    metrics: createMetrics(),
    readiness: [],
    worklist: {
      store,
      token: TOKEN,
      manifest: MANIFEST,
      viewerUrlTemplate: 'https://pacs.example/ohif/viewer?StudyInstanceUIDs={StudyInstanceUID}',
      pageSize: PAGE,
      maxPageSize: 200,
      thumbnails: {
        keyOf: () => 'unused',
        thumbnail: () => Promise.reject(new Error('the bench renders no thumbnail')),
      },
      thumbnailSize: 256,
    },
  });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const address = http.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const page = async (query: string): Promise<void> => {
    const response = await fetch(`http://127.0.0.1:${port}/worklist?${query}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    if (response.status !== 200) throw new Error(`GET /worklist?${query}: ${response.status}`);
    await response.text();
  };

  try {
    for (const shape of shapes(range)) {
      const query: WorklistQuery = { ...shape.query, limit: PAGE };
      const cursor = await deepCursor(store, query, deep);
      const first = await timed(rounds, () => store.worklist(query));
      const deepTimes =
        cursor === undefined ? undefined : await timed(rounds, () => store.worklist({ ...query, cursor }));
      lines.push({
        dialect,
        what: `query: ${shape.name}`,
        first: fmt(first),
        deep: deepTimes === undefined ? `(fewer than ${deep + 1} pages)` : fmt(deepTimes),
      });
      if (shape.offsetOrder !== undefined) {
        const { where, order } = shape.offsetOrder;
        const middle = Math.floor(shape.offsetOrder.matching(rows) / 2);
        const sql = (offset: number) =>
          `SELECT row_key, run_id, uri, scores, decision, suspicion, outcome, reason, updated_at FROM results ${where} ORDER BY ${order} LIMIT ${PAGE} OFFSET ${offset}`;
        const atDeep = await timed(rounds, () => offsetQuery(sql(deep * PAGE)));
        const atMiddle = await timed(Math.max(3, Math.floor(rounds / 5)), () => offsetQuery(sql(middle)));
        lines.push({
          dialect,
          what: `baseline OFFSET: ${shape.name} (deep column: offset ${middle.toLocaleString('en-US')})`,
          first: `page ${deep + 1}: ${fmt(atDeep)}`,
          deep: fmt(atMiddle),
        });
      }
      if (shape.html !== undefined) {
        const htmlFirst = await timed(rounds, () => page(`${shape.html}&limit=${PAGE}`));
        const htmlDeep =
          cursor === undefined
            ? undefined
            : await timed(rounds, () => page(`${shape.html}&limit=${PAGE}&cursor=${cursor}`));
        lines.push({
          dialect,
          what: `GET /worklist HTML: ${shape.name}`,
          first: fmt(htmlFirst),
          deep: htmlDeep === undefined ? '-' : fmt(htmlDeep),
        });
      }
    }
  } finally {
    await http.close();
  }
  return lines;
}

async function sqliteStore(
  rows: number,
): Promise<{ store: ResultStore; fillRate: number | undefined; path: string }> {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = join(OUT_DIR, `worklist-${rows}.sqlite`);
  if (existsSync(path)) {
    const store = await openStore(`sqlite:${path}`);
    const counts = await store.countByOutcome('run-000');
    const total = counts.ok + counts.rejected + counts.failed;
    if (total === Math.ceil(rows / 100)) return { store, fillRate: undefined, path };
    await store.close();
    throw new Error(`${path} does not hold ${rows} bench rows: delete it to refill`);
  }
  const store = await openStore(`sqlite:${path}`);
  process.stderr.write(`filling ${path} with ${rows.toLocaleString('en-US')} rows\n`);
  const fillRate = await fill(store, rows);
  return { store, fillRate, path };
}

/** Turns a store back into a migration 2 store (what an upgrade starts from): its indexes, columns, record. */
async function stripMigration3(
  query: (sql: string) => Promise<{ name: string }[]>,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  const indexes = await query(
    dialect === 'sqlite'
      ? "SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE 'results_worklist_%' OR name = 'results_row_key')"
      : "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND (indexname LIKE 'results_worklist_%' OR indexname = 'results_row_key')",
  );
  for (const { name } of indexes) await query(`DROP INDEX ${name}`);
  await query('ALTER TABLE results DROP COLUMN suspicion');
  await query('ALTER TABLE results DROP COLUMN row_key');
  await query('DELETE FROM cxr_schema_migrations WHERE version = 3');
}

/** Times migration 3 on a copy of the bench's SQLite store turned back into a version 2 store. */
async function sqliteMigration(path: string, rows: number): Promise<string> {
  const copy = `${path}.migration`;
  const source = new Database(path, { readonly: true });
  await source.backup(copy);
  source.close();
  const db = new Database(copy);
  await stripMigration3((sql) => {
    const statement = db.prepare(sql);
    return Promise.resolve(
      statement.reader ? (statement.all() as { name: string }[]) : (statement.run(), []),
    );
  }, 'sqlite');
  db.exec('VACUUM');
  db.close();
  const t0 = performance.now();
  const store = await openStore(`sqlite:${copy}`);
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  rmSync(copy, { force: true });
  for (const suffix of ['-wal', '-shm']) rmSync(`${copy}${suffix}`, { force: true });
  return `sqlite migration 3 on ${rows.toLocaleString('en-US')} rows: ${seconds.toFixed(1)} s`;
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      rows: { type: 'string' },
      rounds: { type: 'string' },
      deep: { type: 'string' },
      dialects: { type: 'string' },
      postgres: { type: 'string' },
      'keep-postgres': { type: 'boolean' },
      migration: { type: 'boolean' },
    },
  });
  const rows = positiveInteger(values.rows, '--rows', 1_000_000);
  const rounds = positiveInteger(values.rounds, '--rounds', 30);
  const deep = positiveInteger(values.deep, '--deep', 100);
  const dialects = (values.dialects ?? 'sqlite,postgres').split(',').map((d) => d.trim());
  // Tests and benches are not app code: the default is the test server of .ci/run.
  const postgresUrl =
    values.postgres ?? process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const lines: Line[] = [];
  const fills: string[] = [];

  if (dialects.includes('sqlite')) {
    const { store, fillRate, path } = await sqliteStore(rows);
    if (fillRate !== undefined)
      fills.push(`sqlite fill: ${Math.round(fillRate).toLocaleString('en-US')} rows/s`);
    const db = new Database(path, { readonly: true });
    try {
      lines.push(
        ...(await measure(
          'sqlite',
          store,
          (sql) => Promise.resolve(db.prepare(sql).all()),
          rows,
          rounds,
          deep,
        )),
      );
    } finally {
      db.close();
      await store.close();
    }
    if (values.migration === true) fills.push(await sqliteMigration(path, rows));
  }

  if (dialects.includes('postgres')) {
    const schema = `cxr_bench_worklist_${rows}`;
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    let store: ResultStore | undefined;
    try {
      const present = await admin.query<{ n: string }>(
        `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'results'`,
        [schema],
      );
      const reuse =
        present.rows[0]?.n === '1' &&
        Number(
          (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.results`)).rows[0]?.n,
        ) === rows;
      if (!reuse) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      store = await openStore(postgresUrl, { schema });
      if (!reuse) {
        process.stderr.write(
          `filling PostgreSQL schema ${schema} with ${rows.toLocaleString('en-US')} rows\n`,
        );
        fills.push(`postgres fill: ${Math.round(await fill(store, rows)).toLocaleString('en-US')} rows/s`);
        await admin.query(`ANALYZE ${schema}.results`);
      }
      const client = new pg.Client({ connectionString: postgresUrl, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        lines.push(...(await measure('postgres', store, (sql) => client.query(sql), rows, rounds, deep)));
        if (values.migration === true) {
          await stripMigration3(
            (sql) => client.query(sql).then((r) => r.rows as { name: string }[]),
            'postgres',
          );
          const t0 = performance.now();
          await store.migrate();
          fills.push(
            `postgres migration 3 on ${rows.toLocaleString('en-US')} rows: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          );
        }
      } finally {
        await client.end();
      }
    } finally {
      await store?.close();
      if (values['keep-postgres'] !== true) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  }

  const width = Math.max(...lines.map((l) => l.what.length));
  process.stdout.write(
    `worklist bench: ${rows.toLocaleString('en-US')} rows, ${PAGE} per page, deep page = ${deep + 1}, ${rounds} rounds; ` +
      `${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; ${new Date().toISOString()}\n`,
  );
  for (const fillLine of fills) process.stdout.write(`${fillLine}\n`);
  process.stdout.write(
    `${'dialect'.padEnd(9)}${'what'.padEnd(width + 2)}first page p50 / p95 ms    deep page p50 / p95 ms\n`,
  );
  for (const line of lines) {
    process.stdout.write(
      `${line.dialect.padEnd(9)}${line.what.padEnd(width + 2)}${line.first.padEnd(27)}${line.deep}\n`,
    );
  }
}
