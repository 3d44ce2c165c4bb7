import { KvrInputError } from '../errors.js';
import { evenPartition } from './partition.js';

/**
 * How the routed token-expert pairs of one MoE layer spread over ep expert-parallel ranks (rank q
 * holds routed experts [q E/ep, (q+1) E/ep)).
 *
 * Load: with `imbalance` F = 1 every rank receives an even share of the P = C k pairs (perfect
 * balance). With F > 1, rank 0 stands for the busiest rank: it receives round(F P / ep) pairs (F
 * times the mean, the max/mean load ratio that MoE papers report per expert, here per rank), and
 * the other ep - 1 ranks share the rest evenly. So F scales the busiest rank's expert-FFN work
 * (and what it receives) on the critical path, while the pairs, and so the FLOPs, stay C k in
 * total. F is at most ep (every pair on one rank).
 *
 * Dispatch: each source rank r sends its own tokens' k pairs to the expert ranks in proportion to
 * their loads (largest remainder, ties to the lower rank), so every rank's pairs are exact (c_r k)
 * and each rank's load is within ep - 1 pairs of the target. The pairs a rank keeps for itself move
 * no bytes.
 */
export interface ExpertRouting {
  /** Pairs each expert rank computes (sum C k). */
  loads: number[];
  /** pairs[r][q]: pairs of source rank r's tokens computed on rank q. */
  pairs: number[][];
}

export function expertRouting(tokensPerRank: readonly number[], expertsPerToken: number, imbalance: number): ExpertRouting {
  const ep = tokensPerRank.length;
  const total = tokensPerRank.reduce((sum, c) => sum + c, 0) * expertsPerToken;
  let target: number[];
  if (imbalance === 1 || ep === 1) {
    target = evenPartition(total, ep);
  } else {
    const busiest = Math.min(total, Math.round((imbalance * total) / ep));
    target = [busiest, ...evenPartition(total - busiest, ep - 1)];
  }
  const pairs = tokensPerRank.map((c) => apportion(c * expertsPerToken, target, total));
  const loads = target.map((_, q) => pairs.reduce((sum, row) => sum + row[q]!, 0));
  return { loads, pairs };
}

/** Splits n over weights w (summing to `total`) by largest remainder; ties go to the lower index. */
function apportion(n: number, weights: readonly number[], total: number): number[] {
  if (total === 0) return weights.map(() => 0);
  const shares = weights.map((w) => Math.floor((n * w) / total));
  let left = n - shares.reduce((sum, s) => sum + s, 0);
  const order = weights.map((w, q) => ({ q, rest: (n * w) % total })).sort((a, b) => b.rest - a.rest || a.q - b.q);
  for (let i = 0; left > 0; i++, left--) shares[order[i]!.q]! += 1;
  return shares;
}

/** Checks --expert-imbalance: a load factor in [1, ep]. */
export function checkExpertImbalance(imbalance: number, ep: number, field = 'expert_imbalance'): void {
  if (!Number.isFinite(imbalance) || imbalance < 1 || imbalance > ep) {
    throw new KvrInputError(field, `expected a load factor in 1..${ep} (1 = perfect balance, ${ep} = every routed pair on the busiest of the ${ep} expert ranks; got ${imbalance})`);
  }
}
