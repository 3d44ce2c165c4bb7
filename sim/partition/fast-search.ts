import { evenPartition } from '../plan/partition.js';
import type { Lattice } from './lattice.js';
import { partitionFromIndices, validIndices } from './lattice.js';
import { PipelineBalance } from './pipeline-balance.js';
import type { SearchOutcome } from './search-outcome.js';
import { shift, sweepDescent } from './sweep-descent.js';
import type { TtftEvaluator } from './ttft-evaluator.js';

/**
 * Up to this many chunks the restarting descent below runs until it converges, as it always did:
 * its partitions are the ones every test and table was checked on.
 */
export const BUDGET_ABOVE_PARTS = 64;
/**
 * Beyond, it gets this many scans of the move list's worth of simulations (about 9,000 at 128
 * GPUs) and then goes on in passes (sweep-descent.ts). Each improvement it takes may rescan the
 * whole list, so it can cost about p^3: 1156 rescans and 55,578 simulations (28 s) for llama2-70b
 * on 128 GPUs at 128k. Where it converges within the budget (every other case measured at 72 to
 * 128 GPUs needed under 6,500 simulations) the answer is the restarting descent's, bit for bit,
 * unless passes run straight from the closed-form start (as they also are) end strictly lower.
 * Those passes alone were worse than the restarting descent on 5 of 10 cases at 65 to 128 GPUs
 * (up to 0.3%) and better on 3, so neither replaces the other. The handover
 * point matters: at 256 GPUs and 1M (llama2-70b, h100-sxm, 8 per node) a budget of 6 scans ended
 * 0.005% above the unbudgeted descent (17.94572 s against 17.94488 s), 12 scans 0.004% below
 * (17.94415 s) with 24,728 simulations against 28,778.
 */
export const RESTART_BUDGET_SCANS = 12;

/** Where the restarting descent gets a budget, and how big (tests move both). */
export interface DescentLimits {
  budgetAboveParts: number;
  budgetScans: number;
}

export const DEFAULT_DESCENT_LIMITS: DescentLimits = { budgetAboveParts: BUDGET_ABOVE_PARTS, budgetScans: RESTART_BUDGET_SCANS };

/**
 * Our searcher. Two phases:
 * 1. A closed-form start from the cost model (PipelineBalance: the partition whose slowest
 *    pipeline stage, compute or incoming K,V transfer, is fastest), rounded to the lattice by the
 *    same model. It costs no simulation and lands within a fraction of a percent of the optimum.
 * 2. A lattice descent on simulated TTFT. A move shifts `step` granules from one rank to another
 *    by moving every boundary between them (so neighbouring ranks and long-range shifts are both
 *    single moves); the first improving move is taken, steps halve when none improves, down to
 *    one granule. Moves that improved last time are tried first. Above BUDGET_ABOVE_PARTS chunks
 *    it has a budget of simulations, and goes on in passes over the same moves when it is spent
 *    (sweep-descent.ts); passes from the closed-form start run too, and the better end is kept.
 * The even split (kvr-e) is also simulated and kept if it is better, so kvr-s never loses to it.
 * `limits` say where the descent's budget applies and how big it is (tests run the passes on small lattices).
 */
export function fastSearch(evaluator: TtftEvaluator, lattice: Lattice, limits: DescentLimits = DEFAULT_DESCENT_LIMITS): SearchOutcome {
  const p = lattice.gpus;
  const moves = candidateMoves(p);
  evaluator.expected = evaluator.simulations + expectedSimulations(p, limits);
  const balance = new PipelineBalance(evaluator.scenario, evaluator.router);
  const start = balance.balancedPartition();
  let indices = balance.roundToLattice(start, lattice);
  evaluator.startDescent(partitionFromIndices(lattice, indices));
  let best = evaluator.incumbentTtft();
  // Two granules first lets the descent step over ridges where single-granule moves all lose; in
  // one dimension (two ranks) there are no ridges, so it starts at one.
  let step = p > 2 ? 2 : 1;
  let rounds = 0;
  const budgeted = p > limits.budgetAboveParts;
  const budget = budgeted ? limits.budgetScans * moves.length : Infinity;
  const descentStart = evaluator.simulations;
  const closedForm = { indices, step };
  let passes: number | undefined;
  while (p > 1) {
    if (evaluator.simulations - descentStart >= budget) {
      const sweep = sweepDescent(evaluator, lattice, indices, moves, step);
      indices = sweep.indices;
      best = sweep.ttft_s;
      passes = sweep.passes;
      break;
    }
    let improved = false;
    for (let m = 0; m < moves.length; m++) {
      const [from, to] = moves[m]!;
      const candidate = shift(indices, from, to, step);
      if (!validIndices(lattice, candidate)) continue;
      // Only whether it beats the incumbent matters: the evaluator decides from as little as it can.
      if (evaluator.improves(partitionFromIndices(lattice, candidate))) {
        indices = candidate;
        improved = true;
        moves.unshift(...moves.splice(m, 1)); // try the winning move first next time
        break;
      }
    }
    rounds += 1;
    if (improved) continue;
    best = evaluator.incumbentTtft();
    if (step === 1) break;
    step = Math.max(1, step >> 1);
  }
  if (budgeted) {
    // Passes straight from the closed-form start as well, kept where strictly better: the two
    // descents end in different local optima, each better on some scenarios (see
    // RESTART_BUDGET_SCANS), and the passes cost a fraction of the budget.
    const fresh = sweepDescent(evaluator, lattice, closedForm.indices, candidateMoves(p), closedForm.step);
    passes = (passes ?? 0) + fresh.passes;
    if (fresh.ttft_s < best) {
      best = fresh.ttft_s;
      indices = fresh.indices;
    }
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
    detail: { start, rounds, ...(passes === undefined ? {} : { passes }), cost_model_evaluations: balance.evaluations },
  };
}

/**
 * The progress bar's guess at a search's simulations: p(p-1)/2 or 16 per rank, whichever is
 * more, up to BUDGET_ABOVE_PARTS; beyond, 175 per rank, as llama2-70b's searches on 8-GPU nodes
 * ran (16,340 and 9,014 at 128 GPUs; 26,213 and 35,994 at 256; 111,222 at 512; 180,188 at 1024),
 * where p(p-1)/2 guessed three times too many at 1024. A guess: a search may pass it.
 */
export function expectedSimulations(p: number, limits: DescentLimits = DEFAULT_DESCENT_LIMITS): number {
  return p > limits.budgetAboveParts ? 175 * p : Math.max((p * (p - 1)) / 2, 16 * p);
}

/**
 * Rank pairs (from, to) a move may shift tokens between: all pairs up to ALL_PAIRS_UP_TO ranks;
 * beyond, neighbours plus every pair with the first or the last rank, so a sweep stays O(p).
 */
const ALL_PAIRS_UP_TO = 10;

export function candidateMoves(p: number): [number, number][] {
  const moves: [number, number][] = [];
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < p; b++) {
      const keep = p <= ALL_PAIRS_UP_TO || Math.abs(a - b) === 1 || a === 0 || b === 0 || a === p - 1 || b === p - 1;
      if (a !== b && keep) moves.push([a, b]);
    }
  }
  return moves;
}
