/**
 * Simulated reader studies with a known truth (issue 17 §1), for the statistics' tests and for the
 * reading page's end-to-end test: a binormal model per arm. Case k has truth d_k and a case effect
 * c_k ~ N(0, caseVariance); reader j in arm i sees the latent score
 *   s = d_k · separation_i + c_k + e,   e ~ N(0, 1 - caseVariance),
 * so each class has unit variance and every reader's AUROC of s is Φ(separation_i / √2). The call
 * is s > threshold_i; the confidence grows with |s - threshold_i| (cut at CONFIDENCE_CUTS), so the
 * 10-point rating is a monotone 10-bin discretisation of s, whose expected trapezoidal AUROC,
 * sensitivity and specificity `expectedArm` gives exactly. Seeded: the same options give the same
 * study on every platform.
 */
import { erfc } from '../auroc.js';
import { mulberry32 } from '../random.js';
import type { ReaderReading, ReaderStudyInput, StudyArm } from '../readers/types.js';

/** |s - threshold| cut points between confidence 1|2, 2|3, 3|4 and 4|5. */
export const CONFIDENCE_CUTS: readonly number[] = [0.25, 0.5, 1, 1.5];

export interface ArmModel {
  /** Mean latent score of the positives (negatives: 0). */
  readonly separation: number;
  /** The call is `score > threshold`. */
  readonly threshold: number;
  /** Median reading time (ms); times are log-normal around it with sd 0.3 on the log scale. */
  readonly medianTimeMs: number;
}

export interface SimulationOptions {
  readonly seed: number;
  readonly readers: number;
  readonly cases: number;
  /** Fraction of positive cases. */
  readonly prevalence: number;
  /** Variance of the case effect shared by readers and arms (0..1). */
  readonly caseVariance: number;
  readonly withoutAi: ArmModel;
  readonly withAi: ArmModel;
  /** Probability that the AI's call is right (its decisions are attached to the with-AI readings). */
  readonly aiAccuracy?: number;
  readonly label?: string;
  readonly design?: 'crossover' | 'sequential';
}

/** Standard normal distribution function. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** A standard normal draw (Box-Muller) from a uniform generator. */
function gaussian(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function confidenceOf(distance: number): 1 | 2 | 3 | 4 | 5 {
  let c = 1;
  for (const cut of CONFIDENCE_CUTS) if (distance > cut) c++;
  return c as 1 | 2 | 3 | 4 | 5;
}

/** The expected sensitivity, specificity and trapezoidal AUROC of the 10-point rating of one arm. */
export function expectedArm(model: ArmModel): {
  sensitivity: number;
  specificity: number;
  auroc: number;
  aurocLatent: number;
} {
  const cuts = [
    ...[...CONFIDENCE_CUTS].reverse().map((c) => model.threshold - c),
    model.threshold,
    ...CONFIDENCE_CUTS.map((c) => model.threshold + c),
  ];
  const bins = (mean: number): number[] => {
    const out: number[] = [];
    let previous = 0;
    for (const cut of cuts) {
      const p = normalCdf(cut - mean);
      out.push(p - previous);
      previous = p;
    }
    out.push(1 - previous);
    return out;
  };
  const pos = bins(model.separation);
  const neg = bins(0);
  let auc = 0;
  let below = 0;
  for (let k = 0; k < pos.length; k++) {
    auc += (pos[k] as number) * (below + (neg[k] as number) / 2);
    below += neg[k] as number;
  }
  return {
    sensitivity: 1 - normalCdf(model.threshold - model.separation),
    specificity: normalCdf(model.threshold),
    auroc: auc,
    aurocLatent: normalCdf(model.separation / Math.SQRT2),
  };
}

/** A simulated study: the input of analyzeReaderStudy. */
export function simulateReaderStudy(options: SimulationOptions): ReaderStudyInput {
  const random = mulberry32(options.seed);
  const label = options.label ?? 'finding';
  const truth = new Map<string, Record<string, boolean>>();
  const readings: ReaderReading[] = [];
  const caseSd = Math.sqrt(options.caseVariance);
  const errorSd = Math.sqrt(1 - options.caseVariance);
  const cases = Array.from({ length: options.cases }, (_, k) => {
    const positive = random() < options.prevalence;
    const id = `case-${String(k + 1).padStart(4, '0')}`;
    truth.set(id, { [label]: positive });
    const aiRight = random() < (options.aiAccuracy ?? 0.9);
    return { id, positive, effect: caseSd * gaussian(random), ai: aiRight ? positive : !positive };
  });
  for (let j = 0; j < options.readers; j++) {
    const readerId = `reader-${String(j + 1)}`;
    for (const c of cases) {
      for (const arm of ['without_ai', 'with_ai'] as StudyArm[]) {
        const model = arm === 'without_ai' ? options.withoutAi : options.withAi;
        const score = (c.positive ? model.separation : 0) + c.effect + errorSd * gaussian(random);
        const time = model.medianTimeMs * Math.exp(0.3 * gaussian(random));
        readings.push({
          readerId,
          caseId: c.id,
          arm,
          label,
          decision: score > model.threshold,
          confidence: confidenceOf(Math.abs(score - model.threshold)),
          readingTimeMs: Math.round(time),
          ...(arm === 'with_ai' ? { aiDecision: c.ai } : {}),
        });
      }
    }
  }
  return {
    studyId: `sim-${String(options.seed)}`,
    design: options.design ?? 'crossover',
    labels: [label],
    truth,
    readings,
  };
}
