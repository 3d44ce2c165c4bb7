import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { exhaustiveSearch, latticeSize } from '../../../sim/partition/exhaustive-search.js';
import { candidateMoves, fastSearch } from '../../../sim/partition/fast-search.js';
import { makeLattice, partitionFromIndices, validIndices, type Lattice } from '../../../sim/partition/lattice.js';
import { PipelineBalance } from '../../../sim/partition/pipeline-balance.js';
import { shift, sweepDescent } from '../../../sim/partition/sweep-descent.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import type { Scenario } from '../../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { propertyOptions } from '../../support/property.js';
import { falcon7b, ideal, llama7b, tinyModel, topology } from '../../support/scenarios.js';

/** Small kvr-s scenarios whose lattice exhaustive search can still enumerate. */
const smallArb: fc.Arbitrary<{ scenario: Scenario; lattice: Lattice }> = fc
  .record({
    model: fc.constantFrom(tinyModel, { ...llama7b, layers: 2 }, { ...falcon7b, layers: 2 }),
    gpu: fc.constantFrom('ideal', 'a100-80g', 'h100-sxm'),
    gpus: fc.integer({ min: 2, max: 5 }),
    context: fc.integer({ min: 400, max: 6000 }),
    topology: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.double({ min: 1e9, max: 1e12, noNaN: true }),
    granularity: fc.constantFrom(64, 128),
  })
  .map((r) => ({
    scenario: {
      model: r.model,
      gpu: GPU_PRESETS[r.gpu]!,
      topology: topology(r.topology, r.gpus, r.bandwidth, 2e-6, { gpus_per_node: 2, nic_bandwidth: r.bandwidth / 8 }),
      gpus: r.gpus,
      context: r.context,
      strategy: 'kvr-s' as const,
    },
    lattice: { context: r.context, gpus: r.gpus, granularity: r.granularity, maxIndex: Math.floor((r.context - 1) / r.granularity) },
  }))
  .filter(({ lattice }) => lattice.maxIndex >= lattice.gpus - 1 && latticeSize(lattice) <= 3000);

/** The closed-form start fastSearch descends from, and its TTFT. */
function closedFormStart(evaluator: TtftEvaluator, lattice: Lattice): { indices: number[]; ttft: number } {
  const balance = new PipelineBalance(evaluator.scenario, evaluator.router);
  const indices = balance.roundToLattice(balance.balancedPartition(), lattice);
  return { indices, ttft: evaluator.ttft(partitionFromIndices(lattice, indices)) };
}

describe('sweep descent (passes over the move list), against exhaustive search and the restarting descent', () => {
  test('from the closed-form start: a partition no one-granule move improves, no worse than the start, no better than the lattice optimum', () => {
    fc.assert(
      fc.property(smallArb, ({ scenario, lattice }) => {
        const evaluator = new TtftEvaluator(scenario);
        const start = closedFormStart(evaluator, lattice);
        const moves = candidateMoves(lattice.gpus);
        const sweep = sweepDescent(evaluator, lattice, start.indices, moves, lattice.gpus > 2 ? 2 : 1);
        expect(validIndices(lattice, sweep.indices)).toBe(true);
        expect(sweep.ttft_s).toBe(evaluator.ttft(partitionFromIndices(lattice, sweep.indices)));
        expect(sweep.ttft_s).toBeLessThanOrEqual(start.ttft);
        expect(sweep.ttft_s).toBeGreaterThanOrEqual(exhaustiveSearch(evaluator, lattice).ttft_s);
        for (const [from, to] of moves) {
          const neighbour = shift(sweep.indices, from, to, 1);
          if (validIndices(lattice, neighbour)) expect(evaluator.ttft(partitionFromIndices(lattice, neighbour))).toBeGreaterThanOrEqual(sweep.ttft_s);
        }
      }),
      propertyOptions(60),
    );
  });

  test('with a budget the restarting descent converges within, its partition stays unless passes find a strictly faster one; a spent budget hands over to passes that only improve', () => {
    fc.assert(
      fc.property(smallArb, ({ scenario, lattice }) => {
        const evaluator = new TtftEvaluator(scenario);
        const restarting = fastSearch(evaluator, lattice);
        const budgeted = fastSearch(evaluator, lattice, { budgetAboveParts: 1, budgetScans: 1000 });
        expect(budgeted.ttft_s).toBeLessThanOrEqual(restarting.ttft_s);
        if (budgeted.ttft_s === restarting.ttft_s) expect(budgeted.partition).toEqual(restarting.partition);
        // No budget at all: passes from the closed-form start.
        const passes = fastSearch(evaluator, lattice, { budgetAboveParts: 1, budgetScans: 0 });
        if (lattice.gpus > 1) expect(passes.detail.passes).toBeGreaterThanOrEqual(1);
        expect(passes.ttft_s).toBeLessThanOrEqual(closedFormStart(evaluator, lattice).ttft);
        expect(passes.ttft_s).toBe(evaluator.ttft(passes.partition));
      }),
      propertyOptions(40),
    );
  });

  test('on average over random small lattices, passes end as close to the optimum as the restarting descent (measured: 0.189% vs 0.188% above it)', () => {
    const cases = fc.sample(smallArb, { numRuns: 80, seed: 20261206 });
    let passesGap = 0;
    let restartingGap = 0;
    for (const { scenario, lattice } of cases) {
      const evaluator = new TtftEvaluator(scenario);
      const optimum = exhaustiveSearch(evaluator, lattice).ttft_s;
      passesGap += fastSearch(evaluator, lattice, { budgetAboveParts: 1, budgetScans: 0 }).ttft_s / optimum - 1;
      restartingGap += fastSearch(evaluator, lattice).ttft_s / optimum - 1;
    }
    expect(passesGap / cases.length).toBeLessThanOrEqual(restartingGap / cases.length + 0.001);
  });

  // 72 GPUs: 1,282 simulations, under the budget of 12 scans of the move list.
  test('above 64 GPUs, where the restarting descent converges within its budget, kvr-s keeps its partition or finds a faster one', () => {
    const s: Scenario = { model: tinyModel, gpu: ideal, topology: topology('multi-node', 72, 300e9, 2e-6, { gpus_per_node: 8, nic_bandwidth: 25e9 }), gpus: 72, context: 32768, strategy: 'kvr-s' };
    const lattice = makeLattice(s.context, s.gpus, 64);
    const budgeted = fastSearch(new TtftEvaluator(s), lattice);
    const unbudgeted = fastSearch(new TtftEvaluator(s), lattice, { budgetAboveParts: Infinity, budgetScans: 0 });
    expect(budgeted.detail.passes).toBeGreaterThanOrEqual(1);
    expect(budgeted.ttft_s).toBeLessThanOrEqual(unbudgeted.ttft_s);
    if (budgeted.ttft_s === unbudgeted.ttft_s) expect(budgeted.partition).toEqual(unbudgeted.partition);
  });
});
