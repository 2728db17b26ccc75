/**
 * Reference implementations straight from the definitions, O(m n), for tests and the benchmark
 * baseline. Never used by `evaluate`.
 */

/**
 * AUROC and DeLong variance from the m x n comparison matrix psi(x, y) = 1 if x > y, 1/2 if
 * x = y, 0 otherwise (DeLong et al. 1988, eqs. for V10, V01, S10, S01), no sorting.
 */
export function delongByDefinition(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): { auc: number; variance: number } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos.push(scores[i] as number);
    else if (labels[i] === 0) neg.push(scores[i] as number);
  }
  const m = pos.length;
  const n = neg.length;
  const v10 = new Array<number>(m).fill(0);
  const v01 = new Array<number>(n).fill(0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const x = pos[i] as number;
      const y = neg[j] as number;
      const psi = x > y ? 1 : x === y ? 0.5 : 0;
      v10[i] = (v10[i] as number) + psi / n;
      v01[j] = (v01[j] as number) + psi / m;
    }
  }
  const auc = v10.reduce((s, v) => s + v, 0) / m;
  const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (m - 1);
  const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (n - 1);
  return { auc, variance: s10 / m + s01 / n };
}
