import { KvrInputError } from '../errors.js';
import type { Lattice } from './lattice.js';
import { partitionFromIndices } from './lattice.js';
import type { SearchOutcome } from './search-outcome.js';
import type { TtftEvaluator } from './ttft-evaluator.js';

/** Refuse exhaustive searches beyond this many partitions. */
export const EXHAUSTIVE_LIMIT = 200_000;

/** Every partition on the lattice: the reference the other searchers are checked against. */
export function exhaustiveSearch(evaluator: TtftEvaluator, lattice: Lattice): SearchOutcome {
  const r = lattice.gpus - 1;
  const count = latticeSize(lattice);
  if (count > EXHAUSTIVE_LIMIT) {
    throw new KvrInputError(
      'search',
      `exhaustive search would simulate ${count} partitions (limit ${EXHAUSTIVE_LIMIT}); use fast or grid, or a coarser granularity`,
    );
  }
  evaluator.expected = evaluator.simulations + count;
  let best = Infinity;
  let bestIndices: number[] = [];
  const tuple = Array.from({ length: r }, (_, i) => i + 1);
  for (;;) {
    const ttft = evaluator.ttft(partitionFromIndices(lattice, tuple));
    if (ttft < best) {
      best = ttft;
      bestIndices = tuple.slice();
    }
    let i = r - 1;
    while (i >= 0 && tuple[i] === lattice.maxIndex - (r - 1 - i)) i--;
    if (i < 0) break;
    tuple[i]! += 1;
    for (let j = i + 1; j < r; j++) tuple[j] = tuple[j - 1]! + 1;
  }
  return { partition: partitionFromIndices(lattice, bestIndices), ttft_s: best, simulations: evaluator.simulations, detail: {} };
}

/** Number of partitions on the lattice: C(maxIndex, p-1). */
export function latticeSize(lattice: Lattice): number {
  const r = lattice.gpus - 1;
  let result = 1;
  for (let i = 1; i <= r; i++) result = (result * (lattice.maxIndex - r + i)) / i;
  return Math.round(result);
}
