/**
 * The Obuchowski-Rockette analysis checked digit for digit against published results on the Van
 * Dyke et al. (1993) data (fixtures/vandyke.tsv, from RJafroc's dataset02; the same data as
 * MRMCaov's `VanDyke`):
 * - jackknife covariances: the OR-DBM MRMC 2.5 output shipped with RJafroc
 *   (inst/obumrm2/VanDyke-traparea-jackknife-obuch-anova.txt, github.com/dpc10ster/RJafroc):
 *   AUC 0.89703704 vs 0.94083736, difference -0.04380032, F 4.46, ddf 15.26, p 0.0517,
 *   95% CI (-0.08796, 0.00036); Cov1..3 and Var(error); single-treatment intervals;
 * - DeLong covariances: MRMCaov's JSS paper (Smith & Hillis, docs/jss/MRMCaov.tex,
 *   github.com/brian-j-smith/MRMCaov), `mrmc(empirical_auc(truth, rating), ..., cov = DeLong)`:
 *   F 4.484854, df2 15.06611, p 0.05123303;
 * - binary sensitivity (rating >= 3), jackknife: the same paper, F 6.689493, df2 15.71732,
 *   p 0.02008822, difference -0.09777778 (CINE minus SE).
 * - DBM on jackknife pseudovalues (dorfmanBerbaumMetz, computed separately): the published DBM
 *   variance components, and the same F, df2 and p as the OR analysis (Hillis et al. 2005).
 * The fixture's modality 1 plays "without AI" and modality 2 "with AI", so our differences are
 * the published "1 - 2" with the sign flipped.
 */
import { describe, expect, it } from 'vitest';
import { fSurvival, normalQuantile, tQuantile, tTwoSided } from './distributions.js';
import { loadVanDyke } from '../testing/vandyke.js';
import { aurocFom, dorfmanBerbaumMetz, obuchowskiRockette, proportionFom, type FomValues } from './mrmc.js';

const vd = loadVanDyke();

function foms(make: (ratings: Float64Array) => FomValues): [FomValues[], FomValues[]] {
  return [vd.ratings[0]!.map(make), vd.ratings[1]!.map(make)];
}

describe('distributions', () => {
  it('match R (qt, pf, qnorm)', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874040841, 8);
    expect(tQuantile(0.975, 4)).toBeCloseTo(2.776445105197793, 8); // qt(0.975, 4)
    expect(tQuantile(0.975, 15.26)).toBeCloseTo(2.128, 3);
    expect(fSurvival(8.704, 1, 4)).toBeCloseTo(0.04195875, 7); // MRMCaov fixed-cases p
    expect(tTwoSided(2.950254, 4)).toBeCloseTo(0.04195875, 7);
  });
});

describe('Obuchowski-Rockette on Van Dyke (1993)', () => {
  it('reader AUCs equal the OR-DBM MRMC 2.5 table', () => {
    const auc = foms((r) => aurocFom(r, vd.truth));
    const expected = [
      [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
      [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169],
    ];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 5; j++) expect(auc[i]![j]!.value).toBeCloseTo(expected[i]![j]!, 8);
  });

  it('jackknife covariances: F 4.46, ddf 15.26, p 0.0517 (OR-DBM MRMC 2.5, RJafroc)', () => {
    const or = obuchowskiRockette(
      foms((r) => aurocFom(r, vd.truth)),
      'jackknife',
      0.05,
    );
    expect(or.means[0]).toBeCloseTo(0.89703704, 8);
    expect(or.means[1]).toBeCloseTo(0.94083736, 8);
    expect(or.difference).toBeCloseTo(0.04380032, 8);
    expect(or.ms_t).toBeCloseTo(0.00479617, 8);
    expect(or.ms_tr).toBeCloseTo(0.00055103, 8);
    expect(or.components.cov1).toBeCloseTo(0.00034661, 8);
    expect(or.components.cov2).toBeCloseTo(0.00034407, 8);
    expect(or.components.cov3).toBeCloseTo(0.00023903, 8);
    expect(or.components.var_error).toBeCloseTo(0.00080229, 8);
    // MRMCaov (fixed readers printout, same jackknife estimates) to 10 digits.
    expect(or.components.cov1).toBeCloseTo(0.0003466137, 10);
    expect(or.components.var_error).toBeCloseTo(0.0008022883, 10);
    expect(or.f).toBeCloseTo(4.46, 2);
    expect(or.df2).toBeCloseTo(15.26, 2);
    expect(or.p).toBeCloseTo(0.0517, 4);
    expect(or.standard_error).toBeCloseTo(0.02075, 5);
    expect(or.ci_low).toBeCloseTo(-0.00036, 5);
    expect(or.ci_high).toBeCloseTo(0.08796, 5);
    // Single-treatment intervals (part c of the OR-DBM output).
    expect(or.arms[0].standard_error).toBeCloseTo(0.0331736, 7);
    expect(or.arms[0].df).toBeCloseTo(12.74, 2);
    expect(or.arms[0].ci_low).toBeCloseTo(0.8252236, 7);
    expect(or.arms[0].ci_high).toBeCloseTo(0.96885048, 7);
    expect(or.arms[1].standard_error).toBeCloseTo(0.02156637, 7);
    expect(or.arms[1].ci_low).toBeCloseTo(0.89413783, 7);
    expect(or.arms[1].ci_high).toBeCloseTo(0.98753689, 7);
  });

  it('DeLong covariances: F 4.484854, df2 15.06611, p 0.05123303 (MRMCaov)', () => {
    const or = obuchowskiRockette(
      foms((r) => aurocFom(r, vd.truth)),
      'delong',
      0.05,
    );
    expect(or.components.var_error).toBeCloseTo(0.0007921325, 10);
    expect(or.components.cov1).toBeCloseTo(0.000342009, 10);
    expect(or.components.cov2).toBeCloseTo(0.0003395265, 10);
    expect(or.components.cov3).toBeCloseTo(0.0002358497, 10);
    expect(or.f).toBeCloseTo(4.484854, 5);
    expect(or.df2).toBeCloseTo(15.06611, 4);
    expect(or.p).toBeCloseTo(0.05123303, 6);
    expect(or.standard_error).toBeCloseTo(0.0206825, 7);
    expect(or.ci_low).toBeCloseTo(-0.0002665519, 7);
    expect(or.ci_high).toBeCloseTo(0.087867196, 7);
    expect(or.arms[0].standard_error).toBeCloseTo(0.03307642, 7);
    expect(or.arms[0].df).toBeCloseTo(12.59597, 4);
  });

  it('binary sensitivity (rating >= 3), jackknife: F 6.689493, p 0.02008822 (MRMCaov)', () => {
    const positives = vd.truth;
    const or = obuchowskiRockette(
      foms((r) =>
        proportionFom(
          Array.from(r, (x) => (x >= 3 ? 1 : 0)),
          positives,
        ),
      ),
      'jackknife',
      0.05,
    );
    expect(or.means[0]).toBeCloseTo(0.8222222, 7);
    expect(or.means[1]).toBeCloseTo(0.92, 7);
    expect(or.components.var_error).toBeCloseTo(0.0023681257, 10);
    expect(or.components.cov1).toBeCloseTo(0.0009943883, 10);
    expect(or.components.cov2).toBeCloseTo(0.0010145903, 10);
    expect(or.components.cov3).toBeCloseTo(0.0006604938, 10);
    expect(or.f).toBeCloseTo(6.689493, 5);
    expect(or.df2).toBeCloseTo(15.71732, 4);
    expect(or.p).toBeCloseTo(0.02008822, 6);
    expect(or.ci_low).toBeCloseTo(0.0175185, 6);
    expect(or.ci_high).toBeCloseTo(0.1780371, 6);
  });

  it('DBM on jackknife pseudovalues: the OR-DBM MRMC 2.5 variance components, and the same F as OR', () => {
    const auc = foms((r) => aurocFom(r, vd.truth));
    const dbm = dorfmanBerbaumMetz(auc);
    const t = 2;
    const r = 5;
    // "Corresponding DBM variance component and covariance estimates" of the published output.
    expect(dbm.ms.trc).toBeCloseTo(0.0399716, 7);
    expect((dbm.ms.rc - dbm.ms.trc) / t).toBeCloseTo(0.01226473, 7);
    expect((dbm.ms.tc - dbm.ms.trc) / r).toBeCloseTo(0.0119753, 7);
    expect((dbm.ms.c - dbm.ms.tc - dbm.ms.rc + dbm.ms.trc) / (t * r)).toBeCloseTo(0.02724923, 7);
    const or = obuchowskiRockette(auc, 'jackknife', 0.05);
    expect(dbm.f).toBeCloseTo(or.f!, 10);
    expect(dbm.df2).toBeCloseTo(or.df2!, 8);
    expect(dbm.p).toBeCloseTo(or.p!, 10);
    expect(dbm.p).toBeCloseTo(0.0517, 4);
  });
});
