/** The reader-study store (migration 5) on SQLite and on a real PostgreSQL server. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import {
  InvalidStudyReadingError,
  StudyExistsError,
  readerTokenHash,
  type NewReaderStudy,
  type StudyReadingInput,
} from './reader-study.js';
import type { ResultStore } from './result-store.js';

const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function newStudy(studyId = 'study-1'): NewReaderStudy {
  const cases = ['c1', 'c2'].map((caseId, i) => ({
    caseId,
    rowKey: `${i}`.repeat(32),
    ai: { scores: { pneumonia: 0.9 - i * 0.8 }, positives: i === 0 ? ['pneumonia'] : [], diagnosis: null },
  }));
  return {
    study: {
      studyId,
      runId: 'run-1',
      design: 'sequential',
      labels: ['pneumonia'],
      seed: 7,
      createdAt: '2026-12-07T09:00:00.000Z',
    },
    readers: [
      { readerId: 'r1', name: 'Reader One', tokenHash: readerTokenHash(`${studyId}-token-1`) },
      { readerId: 'r2', name: 'Reader Two', tokenHash: readerTokenHash(`${studyId}-token-2`) },
    ],
    cases,
    assignments: ['r1', 'r2'].flatMap((readerId) =>
      ['c1', 'c2'].flatMap((caseId, i) => [
        { readerId, position: 2 * i, caseId, arm: 'without_ai' as const, session: 1 as const },
        { readerId, position: 2 * i + 1, caseId, arm: 'with_ai' as const, session: 1 as const },
      ]),
    ),
  };
}

function reading(
  readerId: string,
  caseId: string,
  arm: 'without_ai' | 'with_ai',
  decision = true,
): StudyReadingInput {
  return {
    studyId: 'study-1',
    readerId,
    caseId,
    arm,
    decisions: { pneumonia: decision },
    confidence: { pneumonia: decision ? 4 : 2 },
    readingTimeMs: 1234.5,
  };
}

interface Environment {
  open(): Promise<ResultStore>;
  cleanup(): Promise<void>;
}

const environments: [string, () => Promise<Environment>][] = [
  [
    'sqlite',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cxr-study-'));
      return {
        open: () => openStore(`sqlite:${join(dir, 'results.sqlite')}`),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = `cxr_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      return {
        open: () => openStore(POSTGRES_URL, { schema }),
        cleanup: async () => {
          try {
            await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          } finally {
            await admin.end();
          }
        },
      };
    },
  ],
];

describe.each(environments)('reader study store (%s)', (_name, makeEnvironment) => {
  let environment: Environment;
  let store: ResultStore;

  beforeEach(async () => {
    environment = await makeEnvironment();
    store = await environment.open();
  });

  afterEach(async () => {
    await store.close();
    await environment.cleanup();
  });

  it('applies migration 5 and round-trips a study', async () => {
    expect(await store.appliedMigrations()).toContain(5);
    await store.studies.createStudy(newStudy());
    expect(await store.studies.study('study-1')).toEqual(newStudy().study);
    expect(await store.studies.readers('study-1')).toEqual([
      { readerId: 'r1', name: 'Reader One' },
      { readerId: 'r2', name: 'Reader Two' },
    ]);
    expect(await store.studies.cases('study-1')).toEqual(newStudy().cases);
    await expect(store.studies.createStudy(newStudy())).rejects.toBeInstanceOf(StudyExistsError);
    expect(await store.studies.study('nope')).toBeUndefined();
  });

  it('finds a reader by the hash of their token, not by the token or another hash', async () => {
    await store.studies.createStudy(newStudy());
    const found = await store.studies.readerByTokenHash(readerTokenHash('study-1-token-2'));
    expect(found?.reader).toEqual({ readerId: 'r2', name: 'Reader Two' });
    expect(found?.study.studyId).toBe('study-1');
    expect(await store.studies.readerByTokenHash(readerTokenHash('study-1-token-3'))).toBeUndefined();
    expect(await store.studies.readerByTokenHash('study-1-token-1')).toBeUndefined();
  });

  it('stores one reading per reader x case x arm, in sequence, and resumes at the next unread', async () => {
    await store.studies.createStudy(newStudy());
    const start = await store.studies.progress('study-1', 'r1');
    expect(start).toMatchObject({
      total: 4,
      done: 0,
      next: { assignment: { caseId: 'c1', arm: 'without_ai' } },
    });
    expect(start.next?.studyCase.ai.positives).toEqual(['pneumonia']);

    // Not the next assignment: refused, nothing stored.
    expect(await store.studies.recordReading(reading('r1', 'c1', 'with_ai'))).toBe('out_of_order');
    expect(await store.studies.recordReading(reading('r1', 'c1', 'without_ai'))).toBe('recorded');
    // The same reading again (a double submit, a reload): kept once, the first one stays.
    expect(await store.studies.recordReading(reading('r1', 'c1', 'without_ai', false))).toBe('duplicate');
    expect(await store.studies.recordReading(reading('r1', 'c1', 'with_ai', false))).toBe('recorded');

    // "Another process" (a new connection) continues where the reader stopped.
    const other = await environment.open();
    try {
      expect(await other.studies.progress('study-1', 'r1')).toMatchObject({
        total: 4,
        done: 2,
        next: { assignment: { caseId: 'c2', arm: 'without_ai', position: 2 } },
      });
      // Another reader's sequence is their own.
      expect((await other.studies.progress('study-1', 'r2')).done).toBe(0);
    } finally {
      await other.close();
    }
    const stored = await store.studies.readings('study-1');
    expect(
      stored.map((r) => [r.readerId, r.caseId, r.arm, r.decisions.pneumonia, r.confidence.pneumonia]),
    ).toEqual([
      ['r1', 'c1', 'without_ai', true, 4],
      ['r1', 'c1', 'with_ai', false, 2],
    ]);
    expect(stored[0]?.readingTimeMs).toBe(1234.5);
    expect(Number.isNaN(Date.parse(stored[0]?.recordedAt ?? ''))).toBe(false);

    for (const [caseId, arm] of [
      ['c2', 'without_ai'],
      ['c2', 'with_ai'],
    ] as const) {
      expect(await store.studies.recordReading(reading('r1', caseId, arm))).toBe('recorded');
    }
    const finished = await store.studies.progress('study-1', 'r1');
    expect(finished).toEqual({ total: 4, done: 4 });
  });

  it('refuses readings that do not fit the study', async () => {
    await store.studies.createStudy(newStudy());
    const bad = reading('r1', 'c1', 'without_ai');
    await expect(store.studies.recordReading({ ...bad, decisions: {} })).rejects.toBeInstanceOf(
      InvalidStudyReadingError,
    );
    await expect(
      store.studies.recordReading({ ...bad, confidence: { pneumonia: 6 as unknown as 5 } }),
    ).rejects.toThrow(/confidence for label pneumonia must be 1 to 5/);
    await expect(
      store.studies.recordReading({ ...bad, decisions: { pneumonia: true, effusion: false } }),
    ).rejects.toThrow(/not in the study/);
    await expect(store.studies.recordReading({ ...bad, readingTimeMs: -1 })).rejects.toThrow(/readingTimeMs/);
    await expect(store.studies.recordReading({ ...bad, studyId: 'other' })).rejects.toThrow(/unknown study/);
    // An unknown reader has no next assignment.
    expect(await store.studies.recordReading({ ...bad, readerId: 'r9' })).toBe('out_of_order');
    expect(await store.studies.readings('study-1')).toEqual([]);
  });

  it('concurrent submissions of one reading store it once', async () => {
    await store.studies.createStudy(newStudy());
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => store.studies.recordReading(reading('r2', 'c1', 'without_ai'))),
    );
    expect(outcomes.filter((o) => o === 'recorded')).toHaveLength(1);
    expect(await store.studies.readings('study-1')).toHaveLength(1);
  });
});
