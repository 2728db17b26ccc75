/**
 * `cxr study create` and `cxr study report` as processes on a SQLite store: what they write, that
 * the same seed makes the same study, and the one-line usage errors (exit code 2) for inputs that
 * cannot be used.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseResultRow } from '@cxr/store';
import { readReadersFile, type StudyFile } from '../actions/study.js';
import { runCxr } from '../testing/run-cxr.js';

let dir: string;
let storeUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-study-cli-'));
  storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
  const store = await openStore(storeUrl);
  await store.upsertResults(
    Array.from({ length: 30 }, (_, i) => {
      const p = i < 10 ? 0.8 : 0.2;
      return parseResultRow({
        runId: 'run-1',
        uri: `file:///archive/${i}.dcm`,
        modelId: 'm',
        modelVersion: '1',
        sopInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
        scores: { normal: 1 - p, pneumonia: p },
        decision: p > 0.5 ? 'pneumonia' : 'normal',
        suspicion: p,
        outcome: 'ok',
      });
    }),
  );
  await store.close();
  await writeFile(join(dir, 'readers.csv'), 'id,name\nr1,Dr One\nr2,"Two, Dr"\n');
  await writeFile(join(dir, 'readers.json'), JSON.stringify([{ id: 'a', name: 'A' }, { id: 'b' }]));
  await writeFile(join(dir, 'no-id.csv'), 'who,name\nr1,x\n');
  await writeFile(join(dir, 'bad-id.csv'), 'id,name\nr 1,x\n');
  await writeFile(join(dir, 'dup.csv'), 'id,name\nr1,x\nr1,y\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const create = (out: string, ...extra: string[]) =>
  runCxr(
    {},
    'study',
    'create',
    '--run',
    'run-1',
    '--cases',
    '10',
    '--design',
    'sequential',
    '--readers',
    join(dir, 'readers.csv'),
    '--out',
    join(dir, out),
    '--store',
    storeUrl,
    '--findings',
    'pneumonia',
    ...extra,
  );

describe('cxr study create', () => {
  it('writes the study folder and the store; the same seed gives the same sample', async () => {
    const first = await create('study-one', '--seed', '3');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      'study study-one: sequential, 10 cases from run run-1, 2 readers, 20 readings each',
    );
    // Stratified by the AI's decision: a third of the run is pneumonia, so a third of the sample.
    expect(first.stdout).toContain('strata: ai:normal 7, ai:pneumonia 3');
    const file = JSON.parse(await readFile(join(dir, 'study-one', 'study.json'), 'utf8')) as StudyFile;
    expect(file.readers).toEqual([
      { id: 'r1', name: 'Dr One', readings: 20 },
      { id: 'r2', name: 'Two, Dr', readings: 20 },
    ]);
    expect(file.cases.map((c) => c.caseId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `case-${String(i + 1).padStart(3, '0')}`),
    );
    const links = await readFile(join(dir, 'study-one', 'links.csv'), 'utf8');
    expect((await stat(join(dir, 'study-one', 'links.csv'))).mode & 0o777).toBe(0o600);
    expect(links.split('\n')[2]).toMatch(
      /^r2,"Two, Dr",http:\/\/localhost:8080\/study\/read\?token=[A-Za-z0-9_-]{43}$/,
    );

    const status = await runCxr(
      {},
      'study',
      'status',
      '--study',
      join(dir, 'study-one'),
      '--store',
      storeUrl,
    );
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toBe(
      'study study-one (sequential): 0 of 2 readers finished\n' +
        'r1  0/20  next: reading 1, session 1, without_ai\n' +
        'r2  0/20  next: reading 1, session 1, without_ai\n',
    );

    const second = await create('study-two', '--seed', '3');
    expect(second.code).toBe(0);
    const again = JSON.parse(await readFile(join(dir, 'study-two', 'study.json'), 'utf8')) as StudyFile;
    expect(again.cases).toEqual(file.cases);
    // New tokens for the new study.
    expect(await readFile(join(dir, 'study-two', 'links.csv'), 'utf8')).not.toBe(links);

    const store = await openStore(storeUrl);
    try {
      expect(await store.studies.readers('study-one')).toEqual([
        { readerId: 'r1', name: 'Dr One' },
        { readerId: 'r2', name: 'Two, Dr' },
      ]);
      const progress = await store.studies.progress('study-one', 'r1');
      expect(progress).toMatchObject({
        total: 20,
        done: 0,
        next: { assignment: { arm: 'without_ai', position: 0 } },
      });
      // Without --model the stored decision is the AI's one positive label.
      expect(progress.next?.studyCase.ai.positives).toEqual([
        progress.next?.studyCase.ai.scores.pneumonia === 0.8 ? 'pneumonia' : 'normal',
      ]);
    } finally {
      await store.close();
    }
  });

  it('refuses inputs it cannot use, with one line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--readers', join(dir, 'no-id.csv')], /no-id\.csv: no id column/],
      [['--readers', join(dir, 'bad-id.csv')], /bad-id\.csv: reader 1: an id is/],
      [['--readers', join(dir, 'dup.csv')], /dup\.csv: reader 2: duplicate id/],
      [['--run', 'nope'], /--run nope: no such run/],
      [['--cases', '31'], /asked for 31 cases, the run has 30/],
      [['--findings', 'effusion'], /--findings: effusion is not a label/],
      [['--id', 'study-one'], /study study-one exists already/],
    ];
    for (const [extra, message] of cases) {
      const result = await create('refused', ...extra);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    const notEmpty = await create('study-one', '--id', 'another');
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.stderr).toMatch(/study-one: the study folder exists and is not empty/);
  });
});

describe('cxr study report', () => {
  it('refuses a folder that is not a study', async () => {
    const result = await runCxr(
      {},
      'study',
      'report',
      '--study',
      dir,
      '--labels',
      join(dir, 'readers.csv'),
      '--out',
      join(dir, 'report'),
      '--store',
      storeUrl,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/study\.json: not a study file of `cxr study create`/);
  });
});

describe('readReadersFile', () => {
  it('reads a JSON array, the name defaulting to the id', async () => {
    expect(await readReadersFile(join(dir, 'readers.json'))).toEqual([
      { id: 'a', name: 'A' },
      { id: 'b', name: 'b' },
    ]);
  });
});
