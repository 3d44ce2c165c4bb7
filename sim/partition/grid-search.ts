import { KvrInputError } from '../errors.js';
import type { Lattice } from './lattice.js';
import { partitionFromIndices, validIndices } from './lattice.js';
import type { TtftEvaluator } from './ttft-evaluator.js';
import type { SearchOutcome } from './search-outcome.js';

/** Most boundary combinations the coarse level of the grid search may evaluate. */
export const GRID_COARSE_COMBINATIONS = 5000;
/** 3^9 = 19683 refinements per level is the most we let one search spend. */
export const GRID_MAX_GPUS = 10;

/**
 * Baseline: a hierarchical grid search over chunk boundaries, as the KV-Runahead paper ran on
 * measured TTFT (offline, per context length), here on simulated TTFT.
 *
 * Level 0 (coarse): boundaries on multiples of a coarse step s_0 = k * g, where k is the smallest
 * integer whose grid has at most GRID_COARSE_COMBINATIONS strictly increasing (p-1)-tuples; every
 * tuple is simulated.
 * Level l > 0 (refine): s_l = max(g, round(s_{l-1} / 2g) * g); every boundary of the incumbent
 * moves by -s_l, 0 or +s_l independently (3^(p-1) candidates, invalid ones skipped); the best
 * becomes the incumbent. Levels continue until s_l = g, the token granularity.
 */
export function gridSearch(evaluator: TtftEvaluator, lattice: Lattice): SearchOutcome {
  const r = lattice.gpus - 1;
  if (lattice.gpus > GRID_MAX_GPUS) {
    throw new KvrInputError(
      'search',
      `grid search refines 3^(p-1) partitions per level, ${3 ** r} on ${lattice.gpus} GPUs; it supports up to ${GRID_MAX_GPUS} GPUs (use fast)`,
    );
  }
  let bestIndices: number[] = [];
  let best = Infinity;
  const consider = (indices: number[]): void => {
    if (!validIndices(lattice, indices)) return;
    const ttft = evaluator.ttft(partitionFromIndices(lattice, indices));
    if (ttft < best) {
      best = ttft;
      bestIndices = indices.slice();
    }
  };
  let step = coarseStep(lattice);
  // Level 0: every increasing tuple of coarse positions.
  const positions = Math.floor(lattice.maxIndex / step);
  let refinements = 0;
  for (let s = step; s > 1; s = Math.max(1, Math.round(s / 2))) refinements += 1;
  evaluator.expected = evaluator.simulations + binomial(positions, r) + refinements * 3 ** r;
  const tuple = Array.from({ length: r }, (_, i) => i + 1);
  if (r === 0) consider([]);
  while (r > 0) {
    consider(tuple.map((t) => t * step));
    let i = r - 1;
    while (i >= 0 && tuple[i] === positions - (r - 1 - i)) i--;
    if (i < 0) break;
    tuple[i]! += 1;
    for (let j = i + 1; j < r; j++) tuple[j] = tuple[j - 1]! + 1;
  }
  const levels = [step];
  // Refinement levels around the incumbent.
  while (step > 1 && r > 0) {
    step = Math.max(1, Math.round(step / 2));
    levels.push(step);
    const center = bestIndices.slice();
    const offsets = new Array<number>(r).fill(-1);
    for (;;) {
      consider(center.map((index, i) => index + offsets[i]! * step));
      let i = r - 1;
      while (i >= 0 && offsets[i] === 1) offsets[i--] = -1;
      if (i < 0) break;
      offsets[i]! += 1;
    }
  }
  return {
    partition: partitionFromIndices(lattice, bestIndices),
    ttft_s: best,
    simulations: evaluator.simulations,
    detail: { levels_in_tokens: levels.map((s) => s * lattice.granularity) },
  };
}

/** Smallest coarse step (in units of g) whose level-0 grid stays within the combination budget. */
export function coarseStep(lattice: Lattice): number {
  const r = lattice.gpus - 1;
  for (let k = 1; ; k++) {
    if (combinations(Math.floor(lattice.maxIndex / k), r) <= GRID_COARSE_COMBINATIONS) return k;
  }
}

function combinations(n: number, r: number): number {
  if (r > n) return 0;
  let result = 1;
  for (let i = 1; i <= r; i++) result = (result * (n - r + i)) / i;
  return Math.round(result);
}

/** n choose k (the coarse level's tuples), as a float: only an estimate for progress. */
function binomial(n: number, k: number): number {
  let c = 1;
  for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
  return Math.max(0, Math.round(c));
}
