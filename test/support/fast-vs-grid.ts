import { expect } from 'vitest';
import { fastSearch } from '../../sim/partition/fast-search.js';
import { gridSearch } from '../../sim/partition/grid-search.js';
import { makeLattice } from '../../sim/partition/lattice.js';
import { TtftEvaluator } from '../../sim/partition/ttft-evaluator.js';
import type { Scenario } from '../../sim/simulate.js';

export interface Comparison {
  name: string;
  fastTtft: number;
  gridTtft: number;
  fastSimulations: number;
  gridSimulations: number;
}

/** Runs both searchers on one scenario at the default 64-token granularity. */
export function compareSearchers(name: string, scenario: Scenario): Comparison {
  const lattice = makeLattice(scenario.context, scenario.gpus, 64);
  const grid = gridSearch(new TtftEvaluator(scenario), lattice);
  const fast = fastSearch(new TtftEvaluator(scenario), lattice);
  return { name, fastTtft: fast.ttft_s, gridTtft: grid.ttft_s, fastSimulations: fast.simulations, gridSimulations: grid.simulations };
}

/**
 * Issue #3's bar: fast never loses to grid by more than 0.1% TTFT and uses at most 5% of grid's
 * simulations. Per scenario the 5% is floored at 4 simulations: with two GPUs at 4k tokens the
 * grid is the whole 63-point lattice, and checking a local optimum in one dimension takes the
 * point and its two neighbours, plus kvr-e.
 */
export function expectFastBeatsGrid(rows: Comparison[]): void {
  for (const row of rows) {
    expect(row.fastTtft / row.gridTtft - 1, row.name).toBeLessThanOrEqual(0.001);
    expect(row.fastSimulations, row.name).toBeLessThanOrEqual(Math.max(4, 0.05 * row.gridSimulations));
  }
  const fast = rows.reduce((sum, row) => sum + row.fastSimulations, 0);
  const grid = rows.reduce((sum, row) => sum + row.gridSimulations, 0);
  expect(fast).toBeLessThanOrEqual(0.05 * grid);
  console.log(
    rows
      .map((r) => `${r.name}: fast ${((r.fastTtft / r.gridTtft - 1) * 100).toFixed(3)}% vs grid, ${r.fastSimulations}/${r.gridSimulations} simulations`)
      .join('\n') + `\ntotal simulations: fast ${fast}, grid ${grid} (${((fast / grid) * 100).toFixed(2)}%)`,
  );
}
