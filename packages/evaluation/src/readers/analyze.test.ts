/**
 * analyzeReaderStudy on simulated readers with a known truth (seeded binormal model, see
 * testing/reader-study.ts), on the Van Dyke (1993) data through the public API, and on bad input.
 */
import { describe, expect, it } from 'vitest';
import { expectedArm, simulateReaderStudy, type SimulationOptions } from '../testing/reader-study.js';
import {
  analyzeReaderStudy,
  ReaderStudyError,
  ratingOf,
  type ReaderReading,
  type ReaderStudyInput,
} from './index.js';
import { loadVanDyke } from '../testing/vandyke.js';
import { mulberry32 } from '../random.js';
import { medianInPlace } from './analyze.js';

const WITHOUT = { separation: 1.5, threshold: 0.9, medianTimeMs: 40_000 };
const WITH = { separation: 2.2, threshold: 1.0, medianTimeMs: 30_000 };

const BASE: SimulationOptions = {
  seed: 7,
  readers: 6,
  cases: 400,
  prevalence: 0.4,
  caseVariance: 0.3,
  withoutAi: WITHOUT,
  withAi: WITH,
};

describe('ratingOf', () => {
  it('orders "absent, certain" < ... < "absent, guess" < "present, guess" < ... < "present, certain"', () => {
    const order = [5, 4, 3, 2, 1]
      .map((c) => ratingOf(false, c))
      .concat([1, 2, 3, 4, 5].map((c) => ratingOf(true, c)));
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(() => ratingOf(true, 0)).toThrow(RangeError);
    expect(() => ratingOf(true, 2.5)).toThrow(RangeError);
  });
});

describe('medianInPlace', () => {
  it('equals the sorted median (mean of the middle two when even), with ties and any prefix length', () => {
    const random = mulberry32(5);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 40);
      const values = Float64Array.from({ length: n + 3 }, () => Math.floor(random() * 10) - 5);
      const sorted = values.slice(0, n).sort();
      const expected = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
      expect(medianInPlace(values, n)).toBe(expected);
    }
  });
});

describe('analyzeReaderStudy on simulated readers', () => {
  const input = simulateReaderStudy(BASE);
  const report = analyzeReaderStudy(input);
  const label = report.per_label[0]!;
  const truthWithout = expectedArm(WITHOUT);
  const truthWith = expectedArm(WITH);

  it('recovers the sensitivity, specificity and AUROC', () => {
    expect(report.readers).toHaveLength(6);
    expect(report.cases).toBe(400);
    expect(label.complete_cases).toBe(400);
    for (const [arm, truth] of [
      ['without_ai', truthWithout],
      ['with_ai', truthWith],
    ] as const) {
      const pooled = label.pooled[arm];
      expect(pooled.auroc.method).toBe('obuchowski-rockette');
      expect(Math.abs(pooled.auroc.value! - truth.auroc)).toBeLessThan(0.03);
      expect(Math.abs(pooled.sensitivity.value! - truth.sensitivity)).toBeLessThan(0.05);
      expect(Math.abs(pooled.specificity.value! - truth.specificity)).toBeLessThan(0.05);
      expect(pooled.auroc.ci_low!).toBeLessThan(truth.auroc);
      expect(pooled.auroc.ci_high!).toBeGreaterThan(truth.auroc);
      for (const reader of label.readers) {
        expect(Math.abs(reader[arm].auroc.value! - truth.auroc)).toBeLessThan(0.07);
        expect(reader[arm].auroc.method).toBe('delong');
        expect(reader[arm].sensitivity.method).toBe('wilson');
        expect(reader[arm].readings).toBe(400);
      }
    }
  });

  it('finds the AI effect on the AUROC with an interval around the true difference', () => {
    const mrmc = label.mrmc_auroc!;
    const trueDifference = truthWith.auroc - truthWithout.auroc;
    expect(trueDifference).toBeGreaterThan(0.05);
    expect(mrmc.covariance).toBe('jackknife');
    expect(Math.abs(mrmc.difference - trueDifference)).toBeLessThan(0.03);
    expect(mrmc.ci_low).toBeLessThan(trueDifference);
    expect(mrmc.ci_high).toBeGreaterThan(trueDifference);
    expect(mrmc.p!).toBeLessThan(0.001);
    expect(mrmc.f!).toBeGreaterThan(10);
    expect(label.mrmc_auroc_delong!.p!).toBeLessThan(0.001);
    // Sensitivity rises with AI (threshold moved less than the separation).
    const sens = label.mrmc_sensitivity!;
    expect(Math.abs(sens.difference - (truthWith.sensitivity - truthWithout.sensitivity))).toBeLessThan(0.05);
  });

  it('reports reading time: medians per arm and the paired difference with a seeded interval', () => {
    const time = report.reading_time;
    expect(time.pairs).toBe(2400);
    expect(Math.abs(time.without_ai.median_ms! / 40_000 - 1)).toBeLessThan(0.05);
    expect(Math.abs(time.with_ai.median_ms! / 30_000 - 1)).toBeLessThan(0.05);
    const d = time.median_difference_ms;
    expect(d.value!).toBeLessThan(-7000);
    expect(d.value!).toBeGreaterThan(-13000);
    expect(d.ci_low!).toBeLessThan(d.value!);
    expect(d.ci_high!).toBeGreaterThan(d.value!);
    expect(d.ci_high!).toBeLessThan(0);
    expect(time.per_reader).toHaveLength(6);
    // Same seed, same interval; another seed, another one.
    expect(analyzeReaderStudy({ ...input, bootstrapSamples: 200 }).reading_time.median_difference_ms).toEqual(
      analyzeReaderStudy({ ...input, bootstrapSamples: 200 }).reading_time.median_difference_ms,
    );
    expect(
      analyzeReaderStudy({ ...input, bootstrapSamples: 200, seed: 2 }).reading_time.median_difference_ms
        .ci_low,
    ).not.toBe(
      analyzeReaderStudy({ ...input, bootstrapSamples: 200 }).reading_time.median_difference_ms.ci_low,
    );
  });

  it('counts decision changes, their direction and the agreement with the AI like a direct count', () => {
    const without = new Map<string, ReaderReading>();
    for (const r of input.readings) if (r.arm === 'without_ai') without.set(`${r.readerId}/${r.caseId}`, r);
    let changed = 0;
    let towards = 0;
    let away = 0;
    let towardsAi = 0;
    let agreeWith = 0;
    let agreeWithout = 0;
    for (const r of input.readings) {
      if (r.arm !== 'with_ai') continue;
      const before = without.get(`${r.readerId}/${r.caseId}`)!;
      const truth = input.truth.get(r.caseId)!['finding'];
      if (before.decision === r.aiDecision) agreeWithout++;
      if (r.decision === r.aiDecision) agreeWith++;
      if (before.decision === r.decision) continue;
      changed++;
      if (r.decision === truth) towards++;
      else away++;
      if (r.decision === r.aiDecision) towardsAi++;
    }
    const dc = label.decision_changes;
    expect(dc.pairs).toBe(2400);
    expect(dc.changed).toBe(changed);
    expect(dc.towards_truth).toBe(towards);
    expect(dc.away_from_truth).toBe(away);
    expect(dc.truth_unknown).toBe(0);
    expect(dc.towards_ai).toBe(towardsAi);
    expect(dc.agreement_with_ai.without_ai.value).toBeCloseTo(agreeWithout / 2400, 12);
    expect(dc.agreement_with_ai.with_ai.value).toBeCloseTo(agreeWith / 2400, 12);
    // The with-AI arm is more accurate, so more changes go towards the truth.
    expect(dc.towards_truth).toBeGreaterThan(dc.away_from_truth);
  });

  it('is JSON-serialisable without loss', () => {
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe('the MRMC test under the null hypothesis', () => {
  it('rejects at about the nominal 5% rate over 200 simulated studies', () => {
    let rejected = 0;
    let covered = 0;
    const runs = 200;
    for (let s = 0; s < runs; s++) {
      const input = simulateReaderStudy({
        ...BASE,
        seed: 1000 + s,
        readers: 4,
        cases: 80,
        prevalence: 0.5,
        withAi: { ...WITHOUT },
      });
      const mrmc = analyzeReaderStudy({ ...input, bootstrapSamples: 0 }).per_label[0]!.mrmc_auroc!;
      if (mrmc.p! < 0.05) rejected++;
      if (mrmc.ci_low <= 0 && mrmc.ci_high >= 0) covered++;
    }
    // Binomial(200, 0.05): mean 10, sd 3.1; [2, 20] is beyond 2.5 sd on each side.
    expect(rejected).toBeGreaterThanOrEqual(2);
    expect(rejected).toBeLessThanOrEqual(20);
    expect(covered).toBe(runs - rejected);
  });
});

describe('analyzeReaderStudy on the Van Dyke (1993) data', () => {
  it('gives the published OR-DBM MRMC 2.5 / MRMCaov results through the public API', () => {
    const vd = loadVanDyke();
    // 5-point rating r -> (decision, confidence) with ratingOf increasing in r: the trapezoidal
    // AUROC depends only on the order, so it is the published one.
    const calls: Record<number, [boolean, 1 | 2 | 3 | 4 | 5]> = {
      1: [false, 5],
      2: [false, 4],
      3: [false, 3],
      4: [true, 1],
      5: [true, 2],
    };
    const readings: ReaderReading[] = [];
    const truth = new Map<string, Record<string, boolean>>();
    vd.truth.forEach((t, k) => truth.set(`c${String(k + 1)}`, { dissection: t === 1 }));
    for (let j = 0; j < vd.readers; j++) {
      for (const [i, arm] of [
        [0, 'without_ai'],
        [1, 'with_ai'],
      ] as const) {
        vd.ratings[i]![j]!.forEach((r, k) => {
          const [decision, confidence] = calls[r]!;
          readings.push({
            readerId: `r${String(j + 1)}`,
            caseId: `c${String(k + 1)}`,
            arm,
            label: 'dissection',
            decision,
            confidence,
            readingTimeMs: 1000,
          });
        });
      }
    }
    const report = analyzeReaderStudy({
      studyId: 'vandyke',
      design: 'crossover',
      labels: ['dissection'],
      truth,
      readings,
    });
    const label = report.per_label[0]!;
    expect(label.positives).toBe(45);
    expect(label.negatives).toBe(69);
    const or = label.mrmc_auroc!;
    expect(or.without_ai).toBeCloseTo(0.89703704, 8);
    expect(or.with_ai).toBeCloseTo(0.94083736, 8);
    expect(or.f).toBeCloseTo(4.46, 2);
    expect(or.df2).toBeCloseTo(15.26, 2);
    expect(or.p).toBeCloseTo(0.0517, 4);
    expect(label.mrmc_auroc_delong!.p).toBeCloseTo(0.05123303, 6);
    expect(label.pooled.without_ai.auroc.ci_low).toBeCloseTo(0.8252236, 6);
    expect(label.readers[0]!.without_ai.auroc.value).toBeCloseTo(0.91964573, 8);
    // MRMCaov's fixed-reader, reader-specific DeLong comparison for reader 1: -0.02818035 (1 - 2).
    expect(label.readers[0]!.auroc_difference.value).toBeCloseTo(0.02818035, 8);
  });
});

describe('analyzeReaderStudy on bad or partial input', () => {
  const reading = (over: Partial<ReaderReading>): ReaderReading => ({
    readerId: 'r1',
    caseId: 'c1',
    arm: 'without_ai',
    label: 'finding',
    decision: true,
    confidence: 3,
    readingTimeMs: 1000,
    ...over,
  });
  const input = (readings: ReaderReading[]): ReaderStudyInput => ({
    studyId: 's',
    design: 'sequential',
    labels: ['finding'],
    truth: new Map([
      ['c1', { finding: true }],
      ['c2', { finding: false }],
    ]),
    readings,
  });

  it('rejects a reading recorded twice and a confidence outside 1..5, naming the reading', () => {
    expect(() => analyzeReaderStudy(input([reading({}), reading({})]))).toThrow(ReaderStudyError);
    expect(() => analyzeReaderStudy(input([reading({}), reading({})]))).toThrow(
      /reader r1, case c1, without_ai, finding: recorded twice/,
    );
    expect(() => analyzeReaderStudy(input([reading({ confidence: 7 as 1 })]))).toThrow(
      /confidence 7 is not an integer 1\.\.5/,
    );
    expect(() => analyzeReaderStudy({ ...input([]), alpha: 1.5 })).toThrow(ReaderStudyError);
    expect(() => analyzeReaderStudy(input([reading({ arm: 'later' as 'with_ai' })]))).toThrow(
      /case c1, later, finding: arm is not without_ai or with_ai/,
    );
  });

  it('leaves out unknown labels, unknown truths and bad times with a note, and has no MRMC for one reader', () => {
    const report = analyzeReaderStudy(
      input([
        reading({}),
        reading({ caseId: 'c2', decision: false }),
        reading({ caseId: 'c3', readingTimeMs: Number.NaN }),
        reading({ arm: 'with_ai', aiDecision: true }),
        reading({ label: 'other' }),
      ]),
    );
    const label = report.per_label[0]!;
    expect(report.readings).toBe(4);
    expect(label.cases).toBe(2);
    expect(label.mrmc_auroc).toBeNull();
    expect(label.pooled.without_ai.sensitivity.value).toBe(1);
    expect(label.pooled.without_ai.sensitivity.method).toBe('wilson');
    expect(label.decision_changes.pairs).toBe(1);
    expect(label.decision_changes.changed).toBe(0);
    expect(report.reading_time.pairs).toBe(1);
    expect(report.reading_time.median_difference_ms.value).toBe(0);
    expect(report.notes.join(' ')).toMatch(/1 readings of labels outside/);
    expect(report.notes.join(' ')).toMatch(/without a valid reading time/);
    expect(report.notes.join(' ')).toMatch(/finding: 1 read cases without a known truth/);
    expect(report.notes.join(' ')).toMatch(/needs at least 2 readers who read both arms, got 1/);
  });

  it('leaves a reader who read one arm only out of the MRMC analysis, and the cases not read in both arms', () => {
    const sim = simulateReaderStudy({ ...BASE, readers: 4, cases: 100 });
    const readings = sim.readings.filter(
      (r) =>
        !(r.readerId === 'reader-4' && r.arm === 'with_ai') &&
        !(r.readerId === 'reader-2' && r.arm === 'with_ai' && r.caseId === 'case-0001'),
    );
    const report = analyzeReaderStudy({ ...sim, readings, bootstrapSamples: 0 });
    const label = report.per_label[0]!;
    expect(label.readers).toHaveLength(4);
    expect(label.readers[3]!.with_ai.readings).toBe(0);
    expect(label.readers[3]!.with_ai.sensitivity.value).toBeNull();
    expect(label.mrmc_auroc!.readers).toBe(3);
    expect(label.complete_cases).toBe(99);
    expect(label.mrmc_auroc!.cases).toBe(99);
    expect(report.notes.join(' ')).toMatch(/1 readers with readings in one arm only are left out/);
    expect(report.notes.join(' ')).toMatch(/uses the 99 cases read by every reader in both arms, out of 100/);
  });
});
