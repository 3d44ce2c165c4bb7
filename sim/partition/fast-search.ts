import { evenPartition } from '../plan/partition.js';
import type { Lattice } from './lattice.js';
import { partitionFromIndices, validIndices } from './lattice.js';
import { PipelineBalance } from './pipeline-balance.js';
import type { SearchOutcome } from './search-outcome.js';
import type { TtftEvaluator } from './ttft-evaluator.js';

/**
 * Our searcher. Two phases:
 * 1. A closed-form start from the cost model (PipelineBalance: the partition whose slowest
 *    pipeline stage, compute or incoming K,V transfer, is fastest), rounded to the lattice by the
 *    same model. It costs no simulation and lands within a fraction of a percent of the optimum.
 * 2. A lattice descent on simulated TTFT. A move shifts `step` granules from one rank to another
 *    by moving every boundary between them (so neighbouring ranks and long-range shifts are both
 *    single moves); the first improving move is taken, steps halve when none improves, down to
 *    one granule. Moves that improved last time are tried first.
 * The even split (kvr-e) is also simulated and kept if it is better, so kvr-s never loses to it.
 */
export function fastSearch(evaluator: TtftEvaluator, lattice: Lattice): SearchOutcome {
  const p = lattice.gpus;
  evaluator.expected = evaluator.simulations + Math.max((p * (p - 1)) / 2, 16 * p);
  const balance = new PipelineBalance(evaluator.scenario, evaluator.router);
  const start = balance.balancedPartition();
  let indices = balance.roundToLattice(start, lattice);
  let best = evaluator.ttft(partitionFromIndices(lattice, indices));
  const moves = candidateMoves(p);
  // Two granules first lets the descent step over ridges where single-granule moves all lose; in
  // one dimension (two ranks) there are no ridges, so it starts at one.
  let step = p > 2 ? 2 : 1;
  let rounds = 0;
  while (p > 1) {
    let improved = false;
    for (let m = 0; m < moves.length; m++) {
      const [from, to] = moves[m]!;
      const candidate = shift(indices, from, to, step);
      if (!validIndices(lattice, candidate)) continue;
      const ttft = evaluator.ttft(partitionFromIndices(lattice, candidate));
      if (ttft < best) {
        best = ttft;
        indices = candidate;
        improved = true;
        moves.unshift(...moves.splice(m, 1)); // try the winning move first next time
        break;
      }
    }
    rounds += 1;
    if (improved) continue;
    if (step === 1) break;
    step = Math.max(1, step >> 1);
  }
  let partition = partitionFromIndices(lattice, indices);
  const even = evenPartition(lattice.context, p);
  const evenTtft = evaluator.ttft(even);
  if (evenTtft < best) {
    best = evenTtft;
    partition = even;
  }
  return {
    partition,
    ttft_s: best,
    simulations: evaluator.simulations,
    detail: { start, rounds, cost_model_evaluations: balance.evaluations },
  };
}

/**
 * Rank pairs (from, to) a move may shift tokens between: all pairs up to ALL_PAIRS_UP_TO ranks;
 * beyond, neighbours plus every pair with the first or the last rank, so a sweep stays O(p).
 */
const ALL_PAIRS_UP_TO = 10;

function candidateMoves(p: number): [number, number][] {
  const moves: [number, number][] = [];
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < p; b++) {
      const keep = p <= ALL_PAIRS_UP_TO || Math.abs(a - b) === 1 || a === 0 || b === 0 || a === p - 1 || b === p - 1;
      if (a !== b && keep) moves.push([a, b]);
    }
  }
  return moves;
}

/** Moves `step` granules from rank `from` to rank `to` by shifting the boundaries between them. */
function shift(indices: readonly number[], from: number, to: number, step: number): number[] {
  const next = indices.slice();
  if (from < to) {
    // Boundaries b_{from+1} .. b_{to} (indices from..to-1) move left: `from` shrinks, `to` grows.
    for (let k = from; k < to; k++) next[k]! -= step;
  } else {
    for (let k = to; k < from; k++) next[k]! += step;
  }
  return next;
}
