import { describe, expect, it } from 'vitest';
import { redisConnectionFromUrl } from './connection.js';
import { JobRejectedError, isJobRejectedError } from './errors.js';
import { resultBatchJobId, screenJobId } from './job-id.js';
import {
  BACKOFF_JITTER,
  CAPPED_BACKOFF,
  SCREEN_BACKOFF_CAP_MS,
  cappedBackoffDelay,
  cappedBackoffNominalMs,
  cappedBackoffStrategy,
  resultJobOptions,
  resultWorkerLockOptions,
  screenJobOptions,
  screenRetention,
  screenRetryPolicy,
  workerLockOptions,
} from './job-options.js';
import { JobName, QueueName, queueOfJob } from './names.js';
import {
  RESULT_BATCH_VERSION,
  parseJobPayload,
  resultMessageSchema,
  type ResultMessage,
} from './payloads.js';
import { UnrecoverableError } from 'bullmq';

describe('names', () => {
  it('keeps the queue names of the architecture contract and maps every job to a queue', () => {
    expect(QueueName).toEqual({ Screen: 'cxr-screen', Results: 'cxr-results', Findings: 'cxr-findings' });
    expect(queueOfJob[JobName.ScreenObject]).toBe('cxr-screen');
    expect(queueOfJob[JobName.ScreenResult]).toBe('cxr-results');
    expect(queueOfJob[JobName.ScreenResults]).toBe('cxr-results');
    expect(queueOfJob[JobName.DeliverFindings]).toBe('cxr-findings');
    expect(Object.keys(queueOfJob).sort()).toEqual(Object.values(JobName).sort());
  });
});

describe('screenJobId', () => {
  const base = ['s3://b/a.dcm', '"abc"', 'densenet121', '1.0.0'] as const;

  it('is deterministic, short, and free of ":"', () => {
    const id = screenJobId(...base);
    expect(id).toBe(screenJobId(...base));
    expect(id).toMatch(/^scr_[0-9a-f]{40}$/);
  });

  it('changes with the object version, the model version and a force nonce', () => {
    const id = screenJobId(...base);
    expect(screenJobId('s3://b/a.dcm', '"abd"', 'densenet121', '1.0.0')).not.toBe(id);
    expect(screenJobId('s3://b/a.dcm', '"abc"', 'densenet121', '1.0.1')).not.toBe(id);
    expect(screenJobId('s3://b/a.dcm', '"abc"', 'other', '1.0.0')).not.toBe(id);
    expect(screenJobId(...base, 'run-7')).not.toBe(id);
    // A size and an ETag that print the same are different versions.
    expect(screenJobId('u', 12, 'm', 'v')).not.toBe(screenJobId('u', '12', 'm', 'v'));
  });

  it('does not collide when a separator moves between fields', () => {
    expect(screenJobId('a|b', 'c', 'm', 'v')).not.toBe(screenJobId('a', 'b|c', 'm', 'v'));
  });

  it('treats quoted, unquoted and weak ETags alike', () => {
    const id = screenJobId('u', '"abc"', 'm', 'v');
    expect(screenJobId('u', 'abc', 'm', 'v')).toBe(id);
    expect(screenJobId('u', 'W/"abc"', 'm', 'v')).toBe(id);
  });
});

describe('payload schemas', () => {
  const screen = {
    uri: 's3://b/a.dcm',
    size: 10,
    runId: 'r',
    modelId: 'm',
    modelVersion: '1',
    enqueuedAt: 1_700_000_000_000,
  };

  it('accepts a screen payload and rejects unknown fields (no pixel data, no patient name)', () => {
    expect(parseJobPayload(JobName.ScreenObject, screen)).toEqual(screen);
    expect(() => parseJobPayload(JobName.ScreenObject, { ...screen, pixels: [1, 2] })).toThrow();
    expect(() => parseJobPayload(JobName.ScreenObject, { ...screen, patientName: 'CANARY^NAME' })).toThrow();
    expect(() => parseJobPayload(JobName.ScreenObject, { ...screen, size: -1 })).toThrow();
    expect(() => parseJobPayload(JobName.ScreenObject, { ...screen, priority: 0 })).toThrow();
  });

  const result: ResultMessage = {
    jobId: 'scr_x',
    uri: 's3://b/a.dcm',
    runId: 'r',
    modelId: 'm',
    modelVersion: '1',
    runtime: 'onnx',
    uids: { sopInstanceUid: '1.2.3' },
    technical: { modality: 'CR', rows: 2048, columns: 2500 },
    patientIdHash: 'a'.repeat(64),
    timingsMs: { fetch: 3, decode: 40, infer: 120 },
    enqueuedAt: 1,
    finishedAt: 2,
    attemptsMade: 0,
    outcome: 'ok',
    scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
    decision: 'normal',
  };

  it('discriminates result messages by outcome', () => {
    expect(resultMessageSchema.parse(result)).toEqual(result);
    // An ok result needs scores; a rejected one needs a reason and carries no scores.
    const { scores: _scores, decision: _decision, ...rest } = result;
    expect(() => resultMessageSchema.parse({ ...rest, outcome: 'ok' })).toThrow();
    expect(resultMessageSchema.parse({ ...rest, outcome: 'rejected', reason: 'not_dicom' })).toMatchObject({
      outcome: 'rejected',
    });
    expect(() => resultMessageSchema.parse({ ...rest, outcome: 'rejected' })).toThrow();
    expect(() => resultMessageSchema.parse({ ...result, outcome: 'maybe' })).toThrow();
  });

  it('accepts only a hash for the patient, never the raw ID', () => {
    expect(() => resultMessageSchema.parse({ ...result, patientIdHash: 'PAT-12345' })).toThrow();
    expect(() => resultMessageSchema.parse({ ...result, patientId: 'PAT-12345' })).toThrow();
  });

  it('validates every entry of a screen-results message with the result schema, and its version', () => {
    const rejected = { ...result, jobId: 'scr_2', outcome: 'rejected' as const, reason: 'not_dicom' };
    const { scores: _s, decision: _d, ...rejectedEntry } = rejected;
    const batch = { version: RESULT_BATCH_VERSION, results: [result, rejectedEntry] };
    expect(parseJobPayload(JobName.ScreenResults, batch)).toEqual(batch);
    expect(() => parseJobPayload(JobName.ScreenResults, { ...batch, version: 2 })).toThrow();
    expect(() => parseJobPayload(JobName.ScreenResults, { ...batch, results: [] })).toThrow();
    expect(() =>
      parseJobPayload(JobName.ScreenResults, { ...batch, results: [result, { ...result, patientId: 'X' }] }),
    ).toThrow();
    expect(() => parseJobPayload(JobName.ScreenResults, { ...batch, pixels: [1] })).toThrow();
  });
});

describe('resultBatchJobId', () => {
  it('is deterministic over the job and its set of objects, whatever their order', () => {
    const id = resultBatchJobId('grp_1', ['scr_a', 'scr_b', 'scr_c']);
    expect(id).toMatch(/^res_[0-9a-f]{40}$/);
    expect(resultBatchJobId('grp_1', ['scr_c', 'scr_a', 'scr_b'])).toBe(id);
    expect(resultBatchJobId('grp_2', ['scr_a', 'scr_b', 'scr_c'])).not.toBe(id);
    expect(resultBatchJobId('grp_1', ['scr_a', 'scr_b'])).not.toBe(id);
    // Length-prefixed fields: moving a boundary changes the id.
    expect(resultBatchJobId('grp_1', ['scr_ab', 'scr_c'])).not.toBe(
      resultBatchJobId('grp_1', ['scr_a', 'bscr_c']),
    );
  });
});

describe('redisConnectionFromUrl', () => {
  it('parses host, port, db, credentials and TLS', () => {
    expect(redisConnectionFromUrl('redis://127.0.0.1:6379/2')).toMatchObject({
      host: '127.0.0.1',
      port: 6379,
      db: 2,
      maxRetriesPerRequest: null,
    });
    const tls = redisConnectionFromUrl('rediss://user:p%40ss@redis.example:6380');
    expect(tls).toMatchObject({
      host: 'redis.example',
      port: 6380,
      db: 0,
      username: 'user',
      password: 'p@ss',
    });
    expect(tls.tls).toBeDefined();
  });

  it('rejects other schemes and never echoes the password', () => {
    expect(() => redisConnectionFromUrl('http://x')).toThrow(/scheme/);
    expect(() => redisConnectionFromUrl('redis://h/abc')).toThrow(/database/);
    try {
      redisConnectionFromUrl('not a url secretpw');
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain('secretpw');
    }
  });
});

describe('errors and options', () => {
  it('JobRejectedError is an UnrecoverableError with a reason code', () => {
    const error = new JobRejectedError('not_dicom', 'no DICM prefix');
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.reason).toBe('not_dicom');
    expect(isJobRejectedError(error)).toBe(true);
    expect(isJobRejectedError(new Error('x'))).toBe(false);
  });

  it('keeps completed screen jobs long enough for dedupe and stalls within lock limits', () => {
    expect(screenRetention.removeOnComplete.age).toBeGreaterThanOrEqual(3600);
    expect(screenJobOptions.attempts).toBeGreaterThan(1);
    // Retention is a worker option: per-job opts are stored in every job hash.
    expect(screenJobOptions).not.toHaveProperty('removeOnComplete');
    expect(workerLockOptions.stalledInterval).toBeLessThanOrEqual(workerLockOptions.lockDuration);
  });
});

describe('retry policy', () => {
  /** Seconds a job's retries span at least: the shortest (full-jitter) delays of its retries. */
  const minimalSpanSeconds = (attempts: number, firstDelayMs: number): number => {
    let ms = 0;
    for (let retry = 1; retry < attempts; retry += 1) {
      ms += cappedBackoffNominalMs(retry, firstDelayMs) * (1 - BACKOFF_JITTER);
    }
    return ms / 1000;
  };

  it('retries screen jobs for a time budget (several minutes by default), not a small count', () => {
    const { attempts, backoff } = screenJobOptions;
    expect(backoff.type).toBe(CAPPED_BACKOFF);
    // The budget is covered, with the fewest attempts that cover it.
    expect(minimalSpanSeconds(attempts, backoff.delay)).toBeGreaterThanOrEqual(600);
    expect(minimalSpanSeconds(attempts - 1, backoff.delay)).toBeLessThan(600);
    // The pre-hardening policy (5 attempts, 2 s doubling) spanned 30 s: a 30 s outage failed objects.
    expect(minimalSpanSeconds(attempts, backoff.delay)).toBeGreaterThan(10 * 30);
    const short = screenRetryPolicy({ budgetSeconds: 10, firstDelayMs: 250 });
    expect(minimalSpanSeconds(short.attempts, 250)).toBeGreaterThanOrEqual(10);
    expect(screenRetryPolicy({ attempts: 3 }).attempts).toBe(3);
    expect(screenRetryPolicy({ budgetSeconds: 0 }).attempts).toBe(1);
  });

  it('caps and jitters the backoff', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100, 5000].map((r) => cappedBackoffNominalMs(r, 2000))).toEqual([
      2000,
      4000,
      8000,
      16_000,
      32_000,
      SCREEN_BACKOFF_CAP_MS,
      SCREEN_BACKOFF_CAP_MS,
      SCREEN_BACKOFF_CAP_MS,
      SCREEN_BACKOFF_CAP_MS,
    ]);
    expect(cappedBackoffDelay(1, 1000, () => 0)).toBe(1000);
    expect(cappedBackoffDelay(1, 1000, () => 1)).toBe(1000 * (1 - BACKOFF_JITTER));
    const job = { opts: { backoff: { type: CAPPED_BACKOFF, delay: 100 } } };
    const delay = cappedBackoffStrategy(3, CAPPED_BACKOFF, undefined, job);
    expect(delay).toBeGreaterThanOrEqual(400 * (1 - BACKOFF_JITTER));
    expect(delay).toBeLessThanOrEqual(400);
    expect(() => cappedBackoffStrategy(1, 'linear', undefined, job)).toThrow(/unknown backoff type/);
  });

  it('never fails a result message for a store outage: unlimited attempts and stalls', () => {
    expect(resultJobOptions.attempts).toBe(Number.MAX_SAFE_INTEGER);
    expect(resultJobOptions.backoff.type).toBe(CAPPED_BACKOFF);
    expect(resultWorkerLockOptions.maxStalledCount).toBe(Number.MAX_SAFE_INTEGER);
  });
});
