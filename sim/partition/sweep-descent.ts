import type { Lattice } from './lattice.js';
import { partitionFromIndices, validIndices } from './lattice.js';
import type { TtftEvaluator } from './ttft-evaluator.js';

/** A move: shift granules from rank `from` to rank `to` (every boundary between them moves). */
export type RankMove = readonly [from: number, to: number];

/** Winning moves retried after each win (the two most recent, distinct). */
const RECENT_WINNERS = 2;

export interface SweepOutcome {
  indices: number[];
  ttft_s: number;
  /** Passes over the move list, all step sizes together. */
  passes: number;
}

/**
 * Lattice descent for many ranks, in passes over the move list instead of restarts, from `start`
 * (the evaluator's incumbent, if it is already: startDescent keeps what it knows); fast-search
 * goes on with it where its restarting descent has spent its budget.
 *
 * The restarting descent takes the first improving move and rescans the list from its front, so
 * each improvement may pay for a scan of all O(p) moves: O(p) improvements x O(p) candidates x
 * O(p) per simulation, about p^3. Here a pass walks the whole list once and takes every improving
 * move where it finds it, so a pass costs about one simulation per move however many moves win:
 * - a winning move is repeated while it keeps improving, galloping (the shift doubles after each
 *   win and halves after a loss, down to the step): tokens often have far to go, hundreds of
 *   granules at 256 GPUs, and a run of k wins then costs about 2 log2 k simulations, not k
 *   (512 GPUs at 1M: 120,100 -> 66,928 simulations, a slightly better partition);
 * - after a win, the two most recent winners are retried until neither improves (two ranks
 *   that feed a third, e.g. 2 -> 1 and 0 -> 1, otherwise advance one pass at a time);
 * - passes alternate direction, so a run of neighbour moves that must happen from the last
 *   rank backwards takes one pass, not one per rank.
 * Steps halve from `firstStep` to one granule when a pass improves nothing; passes per step are
 * capped at ceil(log2 p) + 2 (4 or fewer were needed at 128 and 256 GPUs), so the rounds grow
 * like log p.
 */
export function sweepDescent(
  evaluator: TtftEvaluator,
  lattice: Lattice,
  start: readonly number[],
  moves: readonly RankMove[],
  firstStep: number,
): SweepOutcome {
  let indices = start.slice();
  evaluator.startDescent(partitionFromIndices(lattice, start));
  const maxPasses = Math.ceil(Math.log2(lattice.gpus)) + 2;
  let passes = 0;
  const recent: RankMove[] = [];
  /**
   * Applies `move` while it improves, galloping: after each win the shift doubles, after a loss it
   * halves, until `step` itself loses; whether it improved at all.
   */
  const push = (move: RankMove, step: number): boolean => {
    let improved = false;
    let size = step;
    for (;;) {
      const candidate = shift(indices, move[0], move[1], size);
      if (validIndices(lattice, candidate) && evaluator.improves(partitionFromIndices(lattice, candidate))) {
        indices = candidate;
        improved = true;
        size *= 2;
      } else if (size === step) {
        return improved;
      } else {
        size = Math.max(step, size >> 1);
      }
    }
  };
  for (let step = firstStep; ; step = Math.max(1, step >> 1)) {
    for (let pass = 0; pass < maxPasses; pass++) {
      let improved = false;
      const forward = pass % 2 === 0;
      for (let j = 0; j < moves.length; j++) {
        const move = moves[forward ? j : moves.length - 1 - j]!;
        if (!push(move, step)) continue;
        improved = true;
        const seen = recent.indexOf(move);
        if (seen >= 0) recent.splice(seen, 1);
        recent.unshift(move);
        if (recent.length > RECENT_WINNERS) recent.pop();
        for (let again = true; again; ) {
          again = false;
          for (const winner of recent) if (push(winner, step)) again = true;
        }
      }
      passes += 1;
      if (!improved) break;
    }
    if (step === 1) break;
  }
  return { indices, ttft_s: evaluator.incumbentTtft(), passes };
}

/** Moves `step` granules from rank `from` to rank `to` by shifting the boundaries between them. */
export function shift(indices: readonly number[], from: number, to: number, step: number): number[] {
  const next = indices.slice();
  if (from < to) {
    // Boundaries b_{from+1} .. b_{to} (indices from..to-1) move left: `from` shrinks, `to` grows.
    for (let k = from; k < to; k++) next[k]! -= step;
  } else {
    for (let k = to; k < from; k++) next[k]! += step;
  }
  return next;
}
