/**
 * The Obuchowski-Rockette (OR) analysis of a multi-reader multi-case study with readers and cases
 * both random, in Hillis's formulation (Obuchowski & Rockette 1995, Commun. Stat. Simul. Comput.
 * 24:285; Hillis, Obuchowski, Schartz & Berbaum 2005, Stat. Med. 24:1579; Hillis 2007, Stat. Med.
 * 26:596 for the denominator degrees of freedom), as in the R packages MRMCaov
 * (`mrmc(...)`, `summary`) and RJafroc (`St(..., method = "OR")`).
 *
 * θ_ij is the figure of merit (FOM) of reader j in arm i (t = 2 arms, r readers) over the same N
 * cases. The error covariance matrix of the θ (over cases) is estimated by the jackknife (leave one
 * case out, any FOM) or, for the trapezoidal AUROC, by DeLong's placements. Averaging it gives
 * Var(error), Cov1 (same reader, different arms), Cov2 (different readers, same arm) and Cov3
 * (different readers and arms). Then
 *   MS(T)   = r Σ_i (θ_i. - θ..)² / (t - 1),
 *   MS(T×R) = Σ_ij (θ_ij - θ_i. - θ_.j + θ..)² / ((t - 1)(r - 1)),
 *   F = MS(T) / (MS(T×R) + r · max(Cov2 - Cov3, 0)),  df1 = t - 1,
 *   df2 = (MS(T×R) + r · max(Cov2 - Cov3, 0))² / (MS(T×R)² / ((t - 1)(r - 1)))   (Hillis 2007),
 * and the difference of the arms' means has standard error sqrt(2 / r · denominator) and a
 * t(df2) interval. With jackknife covariances this F equals the Dorfman-Berbaum-Metz F with
 * jackknife pseudovalues (Hillis et al. 2005), so one implementation answers both.
 */
import { erfc } from '../auroc.js';
import { lowerBound, sortClasses, upperBound } from '../ranking.js';
import { fSurvival, normalQuantile, tQuantile } from './distributions.js';

/** A figure of merit of one reader in one arm over the N cases, with what its covariances need. */
export interface FomValues {
  readonly value: number;
  /** Leave-one-case-out values in case order, over the cases the FOM depends on (the same for every FOM of one analysis). */
  readonly jackknife: Float64Array;
  /** DeLong placements (AUROC only): V10 of the positives and V01 of the negatives, in case order. */
  readonly placements?: { readonly v10: Float64Array; readonly v01: Float64Array };
}

/** Trapezoidal AUROC of `ratings` against `truth` (1/0 per case), with jackknife values and placements. */
export function aurocFom(ratings: ArrayLike<number>, truth: ArrayLike<number>): FomValues {
  const sorted = sortClasses(ratings, truth);
  const m = sorted.positives.length;
  const n = sorted.negatives.length;
  if (m < 2 || n < 2)
    throw new RangeError(`aurocFom: needs 2 positives and 2 negatives, got ${String(m)} and ${String(n)}`);
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  const { negatives, positives } = sorted;
  let i = 0;
  let j = 0;
  for (let k = 0; k < truth.length; k++) {
    const x = ratings[k] as number;
    if (truth[k] === 1) {
      const below = lowerBound(negatives, x);
      v10[i++] = (below + (upperBound(negatives, x) - below) / 2) / n;
    } else if (truth[k] === 0) {
      const atOrBelow = upperBound(positives, x);
      v01[j++] = (m - atOrBelow + (atOrBelow - lowerBound(positives, x)) / 2) / m;
    }
  }
  let sum = 0;
  for (const v of v10) sum += v;
  const auc = sum / m;
  const jackknife = new Float64Array(truth.length);
  i = 0;
  j = 0;
  for (let k = 0; k < truth.length; k++) {
    if (truth[k] === 1) jackknife[k] = (m * auc - (v10[i++] as number)) / (m - 1);
    else if (truth[k] === 0) jackknife[k] = (n * auc - (v01[j++] as number)) / (n - 1);
    else jackknife[k] = auc;
  }
  return { value: auc, jackknife, placements: { v10, v01 } };
}

/**
 * The proportion of `hits` (1/0) among the cases where `include` is 1 (sensitivity: hits = called
 * positive, include = truly positive), with its jackknife values over the included cases only (as
 * MRMCaov's `binary_sens` / `binary_spec`: the other cases do not enter the proportion).
 */
export function proportionFom(hits: ArrayLike<number>, include: ArrayLike<number>): FomValues {
  let total = 0;
  let count = 0;
  for (let k = 0; k < include.length; k++) {
    if (include[k] === 1) {
      total++;
      count += hits[k] === 1 ? 1 : 0;
    }
  }
  if (total < 2) throw new RangeError(`proportionFom: needs 2 cases, got ${String(total)}`);
  const value = count / total;
  const jackknife = new Float64Array(total);
  let q = 0;
  for (let k = 0; k < include.length; k++) {
    if (include[k] === 1) jackknife[q++] = (count - (hits[k] === 1 ? 1 : 0)) / (total - 1);
  }
  return { value, jackknife };
}

/** Jackknife covariance of two FOMs over the same N (relevant) cases: (N - 1) / N Σ_k (a_k - ā)(b_k - b̄). */
export function jackknifeCovariance(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let k = 0; k < n; k++) {
    ma += a[k] as number;
    mb += b[k] as number;
  }
  ma /= n;
  mb /= n;
  let s = 0;
  for (let k = 0; k < n; k++) s += ((a[k] as number) - ma) * ((b[k] as number) - mb);
  return ((n - 1) / n) * s;
}

/** DeLong covariance of two AUROCs over the same cases: S10_ab / m + S01_ab / n. */
export function delongCovariance(a: FomValues, b: FomValues): number {
  const pa = a.placements;
  const pb = b.placements;
  if (pa === undefined || pb === undefined)
    throw new RangeError('delongCovariance: needs the AUROC placements');
  const m = pa.v10.length;
  const n = pa.v01.length;
  let s10 = 0;
  for (let i = 0; i < m; i++) s10 += ((pa.v10[i] as number) - a.value) * ((pb.v10[i] as number) - b.value);
  let s01 = 0;
  for (let j = 0; j < n; j++) s01 += ((pa.v01[j] as number) - a.value) * ((pb.v01[j] as number) - b.value);
  return s10 / (m - 1) / m + s01 / (n - 1) / n;
}

export type CovarianceMethod = 'jackknife' | 'delong';

/** The OR variance components. */
export interface OrComponents {
  readonly var_error: number;
  readonly cov1: number;
  readonly cov2: number;
  readonly cov3: number;
}

/** The OR test of arm 1 minus arm 0 (random readers, random cases). */
export interface OrTest {
  readonly readers: number;
  /** Reader-averaged FOM of each arm. */
  readonly means: readonly [number, number];
  readonly difference: number;
  readonly standard_error: number;
  readonly ci_low: number;
  readonly ci_high: number;
  readonly f: number | null;
  readonly df2: number | null;
  readonly p: number | null;
  readonly ms_t: number;
  readonly ms_tr: number;
  readonly components: OrComponents;
  /** Per arm, from that arm's data alone (Hillis 2007): mean, standard error, interval. */
  readonly arms: readonly [OrArm, OrArm];
}

export interface OrArm {
  readonly mean: number;
  readonly standard_error: number;
  readonly ci_low: number;
  readonly ci_high: number;
  readonly df: number | null;
}

/** A two-sided (1 - alpha) critical value of t(df), or of the normal when df is infinite or null. */
function critical(alpha: number, df: number | null): number {
  return df === null || !Number.isFinite(df) || df > 1e7
    ? normalQuantile(1 - alpha / 2)
    : tQuantile(1 - alpha / 2, df);
}

/**
 * The OR analysis of `foms[arm][reader]` (2 arms, r >= 2 readers, the same cases everywhere) with
 * covariances by `method`, at significance level `alpha`.
 */
export function obuchowskiRockette(
  foms: readonly [readonly FomValues[], readonly FomValues[]],
  method: CovarianceMethod,
  alpha: number,
): OrTest {
  const t = 2;
  const r = foms[0].length;
  if (r < 2 || foms[1].length !== r)
    throw new RangeError(`obuchowskiRockette: needs the same r >= 2 readers in both arms`);
  const cell = (i: number, j: number): FomValues => (foms[i] as readonly FomValues[])[j] as FomValues;
  const cov = (i: number, j: number, i2: number, j2: number): number =>
    method === 'jackknife'
      ? jackknifeCovariance(cell(i, j).jackknife, cell(i2, j2).jackknife)
      : delongCovariance(cell(i, j), cell(i2, j2));
  let varError = 0;
  let cov1 = 0;
  let cov2 = 0;
  let cov3 = 0;
  const cov2Arm = [0, 0];
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < r; j++) {
      for (let i2 = 0; i2 < t; i2++) {
        for (let j2 = 0; j2 < r; j2++) {
          const c = cov(i, j, i2, j2);
          if (i === i2 && j === j2) varError += c;
          else if (i !== i2 && j === j2) cov1 += c;
          else if (i === i2) {
            cov2 += c;
            cov2Arm[i] = (cov2Arm[i] as number) + c;
          } else cov3 += c;
        }
      }
    }
  }
  varError /= t * r;
  cov1 /= t * (t - 1) * r;
  cov2 /= t * r * (r - 1);
  cov3 /= t * (t - 1) * r * (r - 1);
  const theta = (i: number, j: number): number => cell(i, j).value;
  const armMean = [0, 0];
  const readerMean = new Array<number>(r).fill(0);
  let grand = 0;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < r; j++) {
      armMean[i] = (armMean[i] as number) + theta(i, j) / r;
      readerMean[j] = (readerMean[j] as number) + theta(i, j) / t;
      grand += theta(i, j) / (t * r);
    }
  }
  let ssT = 0;
  for (let i = 0; i < t; i++) ssT += ((armMean[i] as number) - grand) ** 2;
  const msT = (r * ssT) / (t - 1);
  let ssTR = 0;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < r; j++)
      ssTR += (theta(i, j) - (armMean[i] as number) - (readerMean[j] as number) + grand) ** 2;
  }
  const msTR = ssTR / ((t - 1) * (r - 1));
  const denominator = msTR + r * Math.max(cov2 - cov3, 0);
  const df2 = msTR > 0 ? denominator ** 2 / (msTR ** 2 / ((t - 1) * (r - 1))) : null;
  const f = denominator > 0 ? msT / denominator : null;
  // MS(T×R) = 0: infinite df2, the F(1, ∞) tail is the two-sided normal one.
  const p = f === null ? null : df2 === null ? erfc(Math.sqrt(f) / Math.SQRT2) : fSurvival(f, t - 1, df2);
  const difference = (armMean[1] as number) - (armMean[0] as number);
  const standardError = Math.sqrt((2 / r) * denominator);
  // With MS(T×R) = 0 the df are infinite: the interval is the normal one.
  const half = critical(alpha, msTR > 0 ? df2 : Infinity) * standardError;
  const arm = (i: number): OrArm => {
    let msR = 0;
    for (let j = 0; j < r; j++) msR += (theta(i, j) - (armMean[i] as number)) ** 2;
    msR /= r - 1;
    const c2 = (cov2Arm[i] as number) / (r * (r - 1));
    const den = msR + r * Math.max(c2, 0);
    const se = Math.sqrt(den / r);
    const df = msR > 0 ? den ** 2 / (msR ** 2 / (r - 1)) : null;
    const h = critical(alpha, df) * se;
    const mean = armMean[i] as number;
    return { mean, standard_error: se, ci_low: mean - h, ci_high: mean + h, df };
  };
  return {
    readers: r,
    means: [armMean[0] as number, armMean[1] as number],
    difference,
    standard_error: standardError,
    ci_low: difference - half,
    ci_high: difference + half,
    f,
    df2,
    p,
    ms_t: msT,
    ms_tr: msTR,
    components: { var_error: varError, cov1, cov2, cov3 },
    arms: [arm(0), arm(1)],
  };
}

/** The Dorfman-Berbaum-Metz analysis on jackknife pseudovalues (readers and cases random). */
export interface DbmTest {
  /** Mean squares of the treatment x reader x case ANOVA of the pseudovalues. */
  readonly ms: {
    readonly t: number;
    readonly r: number;
    readonly c: number;
    readonly tr: number;
    readonly tc: number;
    readonly rc: number;
    readonly trc: number;
  };
  readonly f: number | null;
  readonly df2: number | null;
  readonly p: number | null;
}

/**
 * Dorfman, Berbaum & Metz (1992, Invest. Radiol. 27:723) with Hillis's (2008) denominator:
 * pseudovalues Y_ijk = N θ_ij - (N - 1) θ_ij(k) of the jackknife over the N cases, a
 * treatment x reader x case ANOVA, F = MS(T) / [MS(T×R) + max(MS(T×C) - MS(T×R×C), 0)] with
 * df2 = denominator² / (MS(T×R)² / ((t - 1)(r - 1))). Algebraically the OR F with jackknife
 * covariances (Hillis et al. 2005); kept as an independent cross-check of obuchowskiRockette.
 */
export function dorfmanBerbaumMetz(foms: readonly [readonly FomValues[], readonly FomValues[]]): DbmTest {
  const t = 2;
  const r = foms[0].length;
  const cell = (i: number, j: number): FomValues => (foms[i] as readonly FomValues[])[j] as FomValues;
  const n = cell(0, 0).jackknife.length;
  const y = (i: number, j: number, k: number): number =>
    n * cell(i, j).value - (n - 1) * (cell(i, j).jackknife[k] as number);
  const mi = new Float64Array(t);
  const mj = new Float64Array(r);
  const mk = new Float64Array(n);
  const mij = new Float64Array(t * r);
  const mik = new Float64Array(t * n);
  const mjk = new Float64Array(r * n);
  let m = 0;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < r; j++) {
      for (let k = 0; k < n; k++) {
        const v = y(i, j, k);
        m += v;
        mi[i] = (mi[i] as number) + v;
        mj[j] = (mj[j] as number) + v;
        mk[k] = (mk[k] as number) + v;
        mij[i * r + j] = (mij[i * r + j] as number) + v;
        mik[i * n + k] = (mik[i * n + k] as number) + v;
        mjk[j * n + k] = (mjk[j * n + k] as number) + v;
      }
    }
  }
  m /= t * r * n;
  const scale = (a: Float64Array, d: number): void => {
    for (let q = 0; q < a.length; q++) a[q] = (a[q] as number) / d;
  };
  scale(mi, r * n);
  scale(mj, t * n);
  scale(mk, t * r);
  scale(mij, n);
  scale(mik, r);
  scale(mjk, t);
  let ssT = 0;
  let ssR = 0;
  let ssC = 0;
  let ssTR = 0;
  let ssTC = 0;
  let ssRC = 0;
  let ssTRC = 0;
  for (let i = 0; i < t; i++) ssT += r * n * ((mi[i] as number) - m) ** 2;
  for (let j = 0; j < r; j++) ssR += t * n * ((mj[j] as number) - m) ** 2;
  for (let k = 0; k < n; k++) ssC += t * r * ((mk[k] as number) - m) ** 2;
  for (let i = 0; i < t; i++)
    for (let j = 0; j < r; j++)
      ssTR += n * ((mij[i * r + j] as number) - (mi[i] as number) - (mj[j] as number) + m) ** 2;
  for (let i = 0; i < t; i++)
    for (let k = 0; k < n; k++)
      ssTC += r * ((mik[i * n + k] as number) - (mi[i] as number) - (mk[k] as number) + m) ** 2;
  for (let j = 0; j < r; j++)
    for (let k = 0; k < n; k++)
      ssRC += t * ((mjk[j * n + k] as number) - (mj[j] as number) - (mk[k] as number) + m) ** 2;
  for (let i = 0; i < t; i++)
    for (let j = 0; j < r; j++)
      for (let k = 0; k < n; k++)
        ssTRC +=
          (y(i, j, k) -
            (mij[i * r + j] as number) -
            (mik[i * n + k] as number) -
            (mjk[j * n + k] as number) +
            (mi[i] as number) +
            (mj[j] as number) +
            (mk[k] as number) -
            m) **
          2;
  const ms = {
    t: ssT / (t - 1),
    r: ssR / (r - 1),
    c: ssC / (n - 1),
    tr: ssTR / ((t - 1) * (r - 1)),
    tc: ssTC / ((t - 1) * (n - 1)),
    rc: ssRC / ((r - 1) * (n - 1)),
    trc: ssTRC / ((t - 1) * (r - 1) * (n - 1)),
  };
  const denominator = ms.tr + Math.max(ms.tc - ms.trc, 0);
  const f = denominator > 0 ? ms.t / denominator : null;
  const df2 = ms.tr > 0 ? denominator ** 2 / (ms.tr ** 2 / ((t - 1) * (r - 1))) : null;
  const p = f === null ? null : df2 === null ? erfc(Math.sqrt(f) / Math.SQRT2) : fSurvival(f, t - 1, df2);
  return { ms, f, df2, p };
}
