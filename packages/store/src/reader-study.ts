/**
 * Reader studies (issue 17 §1): clinicians read a sample of a run's images, without and with the
 * AI, and their decisions are stored here (migration 5). A study has readers (each with the hash of
 * a per-reader secret token: the link they read through), cases (one stored result each, with the
 * AI's scores and decision as they were when the study was made), the per-reader sequence of
 * (case, arm) assignments in reading order, and one reading per reader x case x arm. Readings are
 * idempotent (a second submission of the same reading is ignored) and resumable (a reader's next
 * case is the first assignment in their sequence without a reading).
 *
 * One implementation over a minimal SQL executor (SqlExecutor) serves both databases; the adapters
 * (sqlite-store.ts, postgres-store.ts) provide the executor.
 */
import { createHash } from 'node:crypto';

export const STUDY_ARMS = ['without_ai', 'with_ai'] as const;
export type StudyArm = (typeof STUDY_ARMS)[number];
export const STUDY_DESIGNS = ['crossover', 'sequential'] as const;
export type StudyDesign = (typeof STUDY_DESIGNS)[number];
export type Confidence = 1 | 2 | 3 | 4 | 5;

/** Study ids, reader ids and case ids: short, URL- and file-name-safe. */
export const STUDY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface StudyDefinition {
  readonly studyId: string;
  /** The run the cases were sampled from. */
  readonly runId: string;
  readonly design: StudyDesign;
  /** Labels the readers decide on, in display order. */
  readonly labels: readonly string[];
  readonly seed: number;
  readonly createdAt: string;
}

/** What the reading page may show of the AI (with_ai arm only): frozen at study creation. */
export interface StudyAiOutput {
  readonly scores: Readonly<Record<string, number>>;
  /** Labels the AI called positive. */
  readonly positives: readonly string[];
  /** The stored diagnosis (the decision column). */
  readonly diagnosis: string | null;
}

export interface StudyReader {
  readonly readerId: string;
  /** Display name (shown to the reader only). */
  readonly name: string;
}

export interface NewStudyReader extends StudyReader {
  /** SHA-256 hex of the reader's token (the token itself is never stored). */
  readonly tokenHash: string;
}

export interface StudyCase {
  readonly caseId: string;
  /** The stored result (row-key.ts) whose object is shown. */
  readonly rowKey: string;
  readonly ai: StudyAiOutput;
}

export interface StudyAssignment {
  readonly readerId: string;
  /** 0-based place in the reader's sequence. */
  readonly position: number;
  readonly caseId: string;
  readonly arm: StudyArm;
  /** Reading session: 1, or 2 after the washout of a crossover design. */
  readonly session: 1 | 2;
}

export interface NewReaderStudy {
  readonly study: StudyDefinition;
  readonly readers: readonly NewStudyReader[];
  readonly cases: readonly StudyCase[];
  readonly assignments: readonly StudyAssignment[];
}

export interface StudyReadingInput {
  readonly studyId: string;
  readonly readerId: string;
  readonly caseId: string;
  readonly arm: StudyArm;
  /** One decision per study label (true = finding present). */
  readonly decisions: Readonly<Record<string, boolean>>;
  /** One confidence (1 = certainly absent .. 5 = certainly present) per study label. */
  readonly confidence: Readonly<Record<string, Confidence>>;
  /** From image shown to decision recorded, measured by the page. */
  readonly readingTimeMs: number;
}

export interface StoredStudyReading extends StudyReadingInput {
  readonly recordedAt: string;
}

/** A reader's place in their sequence. */
export interface ReaderProgress {
  readonly total: number;
  readonly done: number;
  /** The next unread assignment with its case; undefined when the reader has finished. */
  readonly next?: { readonly assignment: StudyAssignment; readonly studyCase: StudyCase };
}

export type RecordReadingOutcome = 'recorded' | 'duplicate' | 'out_of_order';

export interface ReaderStudyStore {
  /** Writes a new study in one transaction; throws StudyExistsError when the id is taken. */
  createStudy(input: NewReaderStudy): Promise<void>;
  study(studyId: string): Promise<StudyDefinition | undefined>;
  readers(studyId: string): Promise<StudyReader[]>;
  cases(studyId: string): Promise<StudyCase[]>;
  /** The study and reader a token hash belongs to. */
  readerByTokenHash(tokenHash: string): Promise<{ study: StudyDefinition; reader: StudyReader } | undefined>;
  progress(studyId: string, readerId: string): Promise<ReaderProgress>;
  studyCase(studyId: string, caseId: string): Promise<StudyCase | undefined>;
  /**
   * Stores a reading. `duplicate`: this reader already read this case in this arm (the stored
   * reading is kept). `out_of_order`: it is not the reader's next assignment.
   */
  recordReading(reading: StudyReadingInput, recordedAt?: Date): Promise<RecordReadingOutcome>;
  /** Every reading of a study, by reader, then position. */
  readings(studyId: string): Promise<StoredStudyReading[]>;
}

export class StudyExistsError extends Error {
  override readonly name = 'StudyExistsError';
}

/** A reading that cannot be stored as given (the message names the field, never a value). */
export class InvalidStudyReadingError extends Error {
  override readonly name = 'InvalidStudyReadingError';
}

/** SHA-256 hex of a reader token: what the store keeps and looks up. */
export function readerTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The minimal SQL surface the study store needs; `?` placeholders (the adapter renumbers them). */
export interface SqlExecutor {
  /** A placeholder typed for the dialect: JSON, a double, an instant (INSERT ... SELECT needs them in PostgreSQL). */
  readonly typed: { readonly json: string; readonly real: string; readonly time: string };
  all(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Runs `body` in one transaction on one connection. Only `cxr study create` uses it (never the
   * results service: in SQLite the service's upserts share the connection).
   */
  transaction<T>(body: (tx: Omit<SqlExecutor, 'transaction' | 'typed'>) => Promise<T>): Promise<T>;
}

const V5_COMMON = (text: string, json: string, time: string): string => `
CREATE TABLE reader_studies (
  study_id ${text} PRIMARY KEY,
  run_id ${text} NOT NULL,
  design TEXT NOT NULL CHECK (design IN ('crossover', 'sequential')),
  labels ${json} NOT NULL,
  seed BIGINT NOT NULL,
  created_at ${time} NOT NULL
);
CREATE TABLE reader_study_readers (
  study_id ${text} NOT NULL REFERENCES reader_studies (study_id),
  reader_id ${text} NOT NULL,
  name TEXT NOT NULL,
  token_hash ${text} NOT NULL UNIQUE,
  PRIMARY KEY (study_id, reader_id)
);
CREATE TABLE reader_study_cases (
  study_id ${text} NOT NULL REFERENCES reader_studies (study_id),
  case_id ${text} NOT NULL,
  row_key ${text} NOT NULL,
  ai ${json} NOT NULL,
  PRIMARY KEY (study_id, case_id)
);
CREATE TABLE reader_study_assignments (
  study_id ${text} NOT NULL,
  reader_id ${text} NOT NULL,
  position INTEGER NOT NULL CHECK (position >= 0),
  case_id ${text} NOT NULL,
  arm TEXT NOT NULL CHECK (arm IN ('without_ai', 'with_ai')),
  session INTEGER NOT NULL CHECK (session IN (1, 2)),
  PRIMARY KEY (study_id, reader_id, position),
  UNIQUE (study_id, reader_id, case_id, arm),
  FOREIGN KEY (study_id, reader_id) REFERENCES reader_study_readers (study_id, reader_id),
  FOREIGN KEY (study_id, case_id) REFERENCES reader_study_cases (study_id, case_id)
);
CREATE TABLE reader_study_readings (
  study_id ${text} NOT NULL,
  reader_id ${text} NOT NULL,
  case_id ${text} NOT NULL,
  arm TEXT NOT NULL CHECK (arm IN ('without_ai', 'with_ai')),
  decisions ${json} NOT NULL,
  confidence ${json} NOT NULL,
  reading_time_ms DOUBLE PRECISION NOT NULL CHECK (reading_time_ms >= 0),
  recorded_at ${time} NOT NULL,
  PRIMARY KEY (study_id, reader_id, case_id, arm),
  FOREIGN KEY (study_id, reader_id, case_id, arm)
    REFERENCES reader_study_assignments (study_id, reader_id, case_id, arm)
);
`;

/** Migration 5 (SQLite): JSON as checked text, instants as ISO 8601 UTC text. */
export const V5_SQLITE = V5_COMMON('TEXT', 'TEXT CHECK (json_valid(labels))', 'TEXT')
  // Each JSON column checks its own value.
  .replace('ai TEXT CHECK (json_valid(labels))', 'ai TEXT CHECK (json_valid(ai))')
  .replace('decisions TEXT CHECK (json_valid(labels))', 'decisions TEXT CHECK (json_valid(decisions))')
  .replace('confidence TEXT CHECK (json_valid(labels))', 'confidence TEXT CHECK (json_valid(confidence))')
  .replace(/BIGINT/g, 'INTEGER')
  .replace(/DOUBLE PRECISION/g, 'REAL');

/** Migration 5 (PostgreSQL): bytewise keys, JSONB, timestamptz. */
export const V5_POSTGRES = V5_COMMON('TEXT COLLATE "C"', 'JSONB', 'TIMESTAMPTZ');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON column: text in SQLite, already parsed by node-postgres. */
function jsonValue(value: unknown): unknown {
  return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
}

function instant(value: unknown): string {
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}

function isArm(value: unknown): value is StudyArm {
  return STUDY_ARMS.some((arm) => arm === value);
}

function isDesign(value: unknown): value is StudyDesign {
  return STUDY_DESIGNS.some((design) => design === value);
}

function isConfidence(value: unknown): value is Confidence {
  return value === 1 || value === 2 || value === 3 || value === 4 || value === 5;
}

function studyFrom(row: Record<string, unknown>): StudyDefinition {
  const labels = jsonValue(row.labels);
  if (!Array.isArray(labels) || !isDesign(row.design)) throw new Error('reader_studies: malformed row');
  return {
    studyId: String(row.study_id),
    runId: String(row.run_id),
    design: row.design,
    labels: labels.map(String),
    seed: Number(row.seed),
    createdAt: instant(row.created_at),
  };
}

function caseFrom(row: Record<string, unknown>): StudyCase {
  const ai = jsonValue(row.ai);
  if (!isRecord(ai)) throw new Error('reader_study_cases: malformed ai');
  const scores: Record<string, number> = {};
  if (isRecord(ai.scores)) for (const [k, v] of Object.entries(ai.scores)) scores[k] = Number(v);
  return {
    caseId: String(row.case_id),
    rowKey: String(row.row_key),
    ai: {
      scores,
      positives: Array.isArray(ai.positives) ? ai.positives.map(String) : [],
      diagnosis: typeof ai.diagnosis === 'string' ? ai.diagnosis : null,
    },
  };
}

function assignmentFrom(row: Record<string, unknown>): StudyAssignment {
  if (!isArm(row.arm)) throw new Error('reader_study_assignments: malformed arm');
  return {
    readerId: String(row.reader_id),
    position: Number(row.position),
    caseId: String(row.case_id),
    arm: row.arm,
    session: Number(row.session) === 2 ? 2 : 1,
  };
}

function readingFrom(row: Record<string, unknown>): StoredStudyReading {
  const decisions = jsonValue(row.decisions);
  const confidence = jsonValue(row.confidence);
  if (!isArm(row.arm) || !isRecord(decisions) || !isRecord(confidence)) {
    throw new Error('reader_study_readings: malformed row');
  }
  const d: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(decisions)) d[k] = v === true;
  const c: Record<string, Confidence> = {};
  for (const [k, v] of Object.entries(confidence)) if (isConfidence(v)) c[k] = v;
  return {
    studyId: String(row.study_id),
    readerId: String(row.reader_id),
    caseId: String(row.case_id),
    arm: row.arm,
    decisions: d,
    confidence: c,
    readingTimeMs: Number(row.reading_time_ms),
    recordedAt: instant(row.recorded_at),
  };
}

/** Checks a reading against the study's labels; InvalidStudyReadingError names the field. */
export function checkReading(reading: StudyReadingInput, labels: readonly string[]): void {
  for (const label of labels) {
    if (typeof reading.decisions[label] !== 'boolean') {
      throw new InvalidStudyReadingError(`reading: no decision for label ${label}`);
    }
    if (!isConfidence(reading.confidence[label])) {
      throw new InvalidStudyReadingError(`reading: confidence for label ${label} must be 1 to 5`);
    }
  }
  const extra = [...Object.keys(reading.decisions), ...Object.keys(reading.confidence)].find(
    (label) => !labels.includes(label),
  );
  if (extra !== undefined) throw new InvalidStudyReadingError('reading: a label that is not in the study');
  if (
    !Number.isFinite(reading.readingTimeMs) ||
    reading.readingTimeMs < 0 ||
    reading.readingTimeMs > 86_400_000
  ) {
    throw new InvalidStudyReadingError('reading: readingTimeMs must be from 0 to 86400000');
  }
  if (!isArm(reading.arm)) throw new InvalidStudyReadingError('reading: unknown arm');
}

/** The study store over a SqlExecutor (both dialects; see the module comment). */
export class SqlReaderStudyStore implements ReaderStudyStore {
  readonly #sql: SqlExecutor;

  constructor(sql: SqlExecutor) {
    this.#sql = sql;
  }

  async createStudy(input: NewReaderStudy): Promise<void> {
    const { study } = input;
    for (const id of [
      study.studyId,
      ...input.readers.map((r) => r.readerId),
      ...input.cases.map((c) => c.caseId),
    ]) {
      if (!STUDY_ID_PATTERN.test(id))
        throw new RangeError('study, reader and case ids must match STUDY_ID_PATTERN');
    }
    await this.#sql.transaction(async (tx) => {
      const existing = await tx.all('SELECT 1 AS x FROM reader_studies WHERE study_id = ?', [study.studyId]);
      if (existing.length > 0) throw new StudyExistsError(`reader study ${study.studyId} exists already`);
      await tx.run(
        'INSERT INTO reader_studies (study_id, run_id, design, labels, seed, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [study.studyId, study.runId, study.design, JSON.stringify(study.labels), study.seed, study.createdAt],
      );
      for (const reader of input.readers) {
        await tx.run(
          'INSERT INTO reader_study_readers (study_id, reader_id, name, token_hash) VALUES (?, ?, ?, ?)',
          [study.studyId, reader.readerId, reader.name, reader.tokenHash],
        );
      }
      for (const c of input.cases) {
        await tx.run('INSERT INTO reader_study_cases (study_id, case_id, row_key, ai) VALUES (?, ?, ?, ?)', [
          study.studyId,
          c.caseId,
          c.rowKey,
          JSON.stringify(c.ai),
        ]);
      }
      for (const a of input.assignments) {
        await tx.run(
          'INSERT INTO reader_study_assignments (study_id, reader_id, position, case_id, arm, session) VALUES (?, ?, ?, ?, ?, ?)',
          [study.studyId, a.readerId, a.position, a.caseId, a.arm, a.session],
        );
      }
    });
  }

  async study(studyId: string): Promise<StudyDefinition | undefined> {
    const rows = await this.#sql.all('SELECT * FROM reader_studies WHERE study_id = ?', [studyId]);
    return rows[0] === undefined ? undefined : studyFrom(rows[0]);
  }

  async readers(studyId: string): Promise<StudyReader[]> {
    const rows = await this.#sql.all(
      'SELECT reader_id, name FROM reader_study_readers WHERE study_id = ? ORDER BY reader_id',
      [studyId],
    );
    return rows.map((row) => ({ readerId: String(row.reader_id), name: String(row.name) }));
  }

  async cases(studyId: string): Promise<StudyCase[]> {
    const rows = await this.#sql.all('SELECT * FROM reader_study_cases WHERE study_id = ? ORDER BY case_id', [
      studyId,
    ]);
    return rows.map(caseFrom);
  }

  async readerByTokenHash(
    tokenHash: string,
  ): Promise<{ study: StudyDefinition; reader: StudyReader } | undefined> {
    if (!/^[0-9a-f]{64}$/.test(tokenHash)) return undefined;
    const rows = await this.#sql.all(
      'SELECT study_id, reader_id, name FROM reader_study_readers WHERE token_hash = ?',
      [tokenHash],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const study = await this.study(String(row.study_id));
    return study === undefined
      ? undefined
      : { study, reader: { readerId: String(row.reader_id), name: String(row.name) } };
  }

  async progress(studyId: string, readerId: string): Promise<ReaderProgress> {
    const counts = await this.#sql.all(
      `SELECT COUNT(*) AS total, COUNT(r.case_id) AS done
       FROM reader_study_assignments a
       LEFT JOIN reader_study_readings r ON r.study_id = a.study_id AND r.reader_id = a.reader_id
         AND r.case_id = a.case_id AND r.arm = a.arm
       WHERE a.study_id = ? AND a.reader_id = ?`,
      [studyId, readerId],
    );
    const total = Number(counts[0]?.total ?? 0);
    const done = Number(counts[0]?.done ?? 0);
    const next = await this.#nextAssignment(this.#sql, studyId, readerId);
    if (next === undefined) return { total, done };
    const studyCase = await this.studyCase(studyId, next.caseId);
    if (studyCase === undefined) throw new Error('reader study: an assignment without its case');
    return { total, done, next: { assignment: next, studyCase } };
  }

  async #nextAssignment(
    sql: Omit<SqlExecutor, 'transaction' | 'typed'>,
    studyId: string,
    readerId: string,
  ): Promise<StudyAssignment | undefined> {
    const rows = await sql.all(
      `SELECT a.* FROM reader_study_assignments a
       WHERE a.study_id = ? AND a.reader_id = ? AND NOT EXISTS (
         SELECT 1 FROM reader_study_readings r WHERE r.study_id = a.study_id AND r.reader_id = a.reader_id
           AND r.case_id = a.case_id AND r.arm = a.arm)
       ORDER BY a.position LIMIT 1`,
      [studyId, readerId],
    );
    return rows[0] === undefined ? undefined : assignmentFrom(rows[0]);
  }

  async studyCase(studyId: string, caseId: string): Promise<StudyCase | undefined> {
    const rows = await this.#sql.all('SELECT * FROM reader_study_cases WHERE study_id = ? AND case_id = ?', [
      studyId,
      caseId,
    ]);
    return rows[0] === undefined ? undefined : caseFrom(rows[0]);
  }

  async recordReading(reading: StudyReadingInput, recordedAt = new Date()): Promise<RecordReadingOutcome> {
    const study = await this.study(reading.studyId);
    if (study === undefined) throw new InvalidStudyReadingError('reading: unknown study');
    checkReading(reading, study.labels);
    const { typed } = this.#sql;
    // One statement: stored only when (case, arm) is the reader's next unread assignment, and at
    // most once (the primary key; DO NOTHING for a racing twin). Being one statement, it needs no
    // transaction spanning awaits (which in SQLite would take in the results service's upserts on
    // the same connection).
    const changes = await this.#sql.run(
      `INSERT INTO reader_study_readings
         (study_id, reader_id, case_id, arm, decisions, confidence, reading_time_ms, recorded_at)
       SELECT a.study_id, a.reader_id, a.case_id, a.arm, ${typed.json}, ${typed.json}, ${typed.real}, ${typed.time}
       FROM reader_study_assignments a
       WHERE a.study_id = ? AND a.reader_id = ? AND a.case_id = ? AND a.arm = ?
         AND a.position = (
           SELECT MIN(b.position) FROM reader_study_assignments b
           WHERE b.study_id = a.study_id AND b.reader_id = a.reader_id AND NOT EXISTS (
             SELECT 1 FROM reader_study_readings r WHERE r.study_id = b.study_id
               AND r.reader_id = b.reader_id AND r.case_id = b.case_id AND r.arm = b.arm))
       ON CONFLICT (study_id, reader_id, case_id, arm) DO NOTHING`,
      [
        JSON.stringify(reading.decisions),
        JSON.stringify(reading.confidence),
        reading.readingTimeMs,
        recordedAt.toISOString(),
        reading.studyId,
        reading.readerId,
        reading.caseId,
        reading.arm,
      ],
    );
    if (changes === 1) return 'recorded';
    const existing = await this.#sql.all(
      'SELECT 1 AS x FROM reader_study_readings WHERE study_id = ? AND reader_id = ? AND case_id = ? AND arm = ?',
      [reading.studyId, reading.readerId, reading.caseId, reading.arm],
    );
    return existing.length > 0 ? 'duplicate' : 'out_of_order';
  }

  async readings(studyId: string): Promise<StoredStudyReading[]> {
    const rows = await this.#sql.all(
      `SELECT r.* FROM reader_study_readings r
       JOIN reader_study_assignments a ON a.study_id = r.study_id AND a.reader_id = r.reader_id
         AND a.case_id = r.case_id AND a.arm = r.arm
       WHERE r.study_id = ? ORDER BY r.reader_id, a.position`,
      [studyId],
    );
    return rows.map(readingFrom);
  }
}
