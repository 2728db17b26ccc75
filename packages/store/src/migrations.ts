/**
 * Versioned schema migrations, each with its SQL for both dialects side by side so the logical
 * schema stays one. Append only: never edit a migration that has shipped; add the next version.
 */
import { POSTGRES_ROW_KEY_SQL, SQLITE_ROW_KEY_FUNCTION } from './row-key.js';
import { V5_POSTGRES, V5_SQLITE } from './reader-study.js';
import { WORKLIST_INDEXES, worklistSortKeys } from './worklist.js';
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS_TABLE = 'cxr_schema_migrations';

// Note for both dialects: there is deliberately no column for Patient's Name (0010,0010); the
// contract test asserts it. Patient ID appears only as patient_id_hash (see patient-id.ts).
const V1_SQLITE = `
CREATE TABLE results (
  uri TEXT NOT NULL,
  model_id TEXT NOT NULL,
  model_version TEXT NOT NULL,
  run_id TEXT NOT NULL,
  etag TEXT,
  size_bytes INTEGER,
  study_instance_uid TEXT,
  series_instance_uid TEXT,
  sop_instance_uid TEXT,
  patient_id_hash TEXT,
  modality TEXT,
  view_position TEXT,
  manufacturer TEXT,
  institution TEXT,
  photometric TEXT,
  transfer_syntax TEXT,
  "rows" INTEGER,
  "columns" INTEGER,
  runtime TEXT,
  scores TEXT CHECK (scores IS NULL OR json_valid(scores)),
  decision TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'rejected', 'failed')),
  reason TEXT,
  fetch_ms REAL,
  decode_ms REAL,
  preprocess_ms REAL,
  batch_wait_ms REAL,
  infer_ms REAL,
  store_ms REAL,
  enqueued_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (model_id, model_version, uri)
) STRICT;
CREATE INDEX results_run ON results (run_id, uri, model_id, model_version);
`;

// COLLATE "C" on the key columns: keyset pagination and exports order bytewise, the same order as
// SQLite's BINARY collation, whatever the database locale.
const V1_POSTGRES = `
CREATE TABLE results (
  uri TEXT COLLATE "C" NOT NULL,
  model_id TEXT COLLATE "C" NOT NULL,
  model_version TEXT COLLATE "C" NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL,
  etag TEXT,
  size_bytes BIGINT,
  study_instance_uid TEXT,
  series_instance_uid TEXT,
  sop_instance_uid TEXT,
  patient_id_hash TEXT,
  modality TEXT,
  view_position TEXT,
  manufacturer TEXT,
  institution TEXT,
  photometric TEXT,
  transfer_syntax TEXT,
  "rows" INTEGER,
  "columns" INTEGER,
  runtime TEXT,
  scores JSONB,
  decision TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'rejected', 'failed')),
  reason TEXT,
  fetch_ms DOUBLE PRECISION,
  decode_ms DOUBLE PRECISION,
  preprocess_ms DOUBLE PRECISION,
  batch_wait_ms DOUBLE PRECISION,
  infer_ms DOUBLE PRECISION,
  store_ms DOUBLE PRECISION,
  enqueued_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model_id, model_version, uri)
);
CREATE INDEX results_run ON results (run_id, uri, model_id, model_version);
`;

// Version 2: drift-monitoring input features (nullable: rows written before it have none), and
// the index of the results service's start-up query (recentResults): the most recent ok rows of
// one model version. Partial, so rejected and failed rows cost it nothing.
const V2_SQLITE = `
ALTER TABLE results ADD COLUMN image_mean REAL;
ALTER TABLE results ADD COLUMN image_std REAL;
ALTER TABLE results ADD COLUMN bits_stored INTEGER;
CREATE INDEX results_recent_ok ON results (model_id, model_version, updated_at) WHERE outcome = 'ok';
`;

const V2_POSTGRES = `
ALTER TABLE results ADD COLUMN image_mean DOUBLE PRECISION;
ALTER TABLE results ADD COLUMN image_std DOUBLE PRECISION;
ALTER TABLE results ADD COLUMN bits_stored INTEGER;
CREATE INDEX results_recent_ok ON results (model_id, model_version, updated_at) WHERE outcome = 'ok';
`;

// Version 3: the worklist. `suspicion` (the sort key, written by the results service from the
// manifest; NULL for rows stored before, which then sort with the unscored ones), `row_key` (the
// row's opaque id in URLs and cursors, row-key.ts; filled here for existing rows: in SQLite by a
// function the adapter registers, in PostgreSQL by the same hash in SQL), and the indexes of the
// worklist's keyset pages (worklist.ts worklistIndex): per sort, one without a filter and one
// after each equality filter (run, decision, outcome), so a page is an index range scan from the
// cursor, never a sort of the matching rows. The suspicion sort indexes
// COALESCE(suspicion, -1e300) (SUSPICION_SORT_SQL) so that unscored rows come last in both
// databases. A date range or a label's score is checked on the rows the index walk meets.
const V3_INDEXES = `
CREATE UNIQUE INDEX results_row_key ON results (row_key);
${WORKLIST_INDEXES.map(
  (index) =>
    `CREATE INDEX ${index.name} ON results (${[...index.columns, ...worklistSortKeys(index.sort)].join(', ')});`,
).join('\n')}
`;

// SQLite cannot add a NOT NULL column without a default; every write sets row_key (columns.ts).
const V3_SQLITE = `
ALTER TABLE results ADD COLUMN suspicion REAL;
ALTER TABLE results ADD COLUMN row_key TEXT;
UPDATE results SET row_key = ${SQLITE_ROW_KEY_FUNCTION}(model_id, model_version, uri);
${V3_INDEXES}`;

const V3_POSTGRES = `
ALTER TABLE results ADD COLUMN suspicion DOUBLE PRECISION;
ALTER TABLE results ADD COLUMN row_key TEXT COLLATE "C";
UPDATE results SET row_key = ${POSTGRES_ROW_KEY_SQL};
ALTER TABLE results ALTER COLUMN row_key SET NOT NULL;
${V3_INDEXES}`;

// Version 4: delivery of each ok result's findings (its DICOM SR) to a PACS (delivery.ts): state
// pending / sent / failed, the reason of the last unsuccessful attempt, the attempts made and when
// the state was written. NULL for rows never queued for delivery. The index serves the per-run
// counts of `cxr results send` and the re-send of a run's undelivered rows.
const V4_SQLITE = `
ALTER TABLE results ADD COLUMN delivery_state TEXT CHECK (delivery_state IS NULL OR delivery_state IN ('pending', 'sent', 'failed'));
ALTER TABLE results ADD COLUMN delivery_reason TEXT;
ALTER TABLE results ADD COLUMN delivery_attempts INTEGER;
ALTER TABLE results ADD COLUMN delivery_at TEXT;
CREATE INDEX results_delivery ON results (run_id, delivery_state) WHERE delivery_state IS NOT NULL;
`;

const V4_POSTGRES = `
ALTER TABLE results ADD COLUMN delivery_state TEXT CHECK (delivery_state IS NULL OR delivery_state IN ('pending', 'sent', 'failed'));
ALTER TABLE results ADD COLUMN delivery_reason TEXT;
ALTER TABLE results ADD COLUMN delivery_attempts INTEGER;
ALTER TABLE results ADD COLUMN delivery_at TIMESTAMPTZ;
CREATE INDEX results_delivery ON results (run_id, delivery_state) WHERE delivery_state IS NOT NULL;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'results', sqlite: V1_SQLITE, postgres: V1_POSTGRES },
  { version: 2, name: 'drift_features', sqlite: V2_SQLITE, postgres: V2_POSTGRES },
  { version: 3, name: 'worklist', sqlite: V3_SQLITE, postgres: V3_POSTGRES },
  { version: 4, name: 'findings_delivery', sqlite: V4_SQLITE, postgres: V4_POSTGRES },
  // Version 5: reader studies (reader-study.ts).
  { version: 5, name: 'reader_studies', sqlite: V5_SQLITE, postgres: V5_POSTGRES },
];
