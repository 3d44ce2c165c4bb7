import { describe, expect, test } from 'vitest';
import { exhaustiveSearch, latticeSize } from '../../../sim/partition/exhaustive-search.js';
import { fastSearch } from '../../../sim/partition/fast-search.js';
import { makeLattice, partitionFromIndices } from '../../../sim/partition/lattice.js';
import { PipelineBalance } from '../../../sim/partition/pipeline-balance.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { evenPartition } from '../../../sim/plan/partition.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import type { Scenario } from '../../../sim/simulate.js';
import { topologyFromJson, type Topology } from '../../../sim/topology/topology.js';
import { a100, ideal, llama7b, topology } from '../../support/scenarios.js';

/**
 * The fast search is a closed-form start (PipelineBalance) followed by a descent on simulated TTFT
 * (sim/partition/fast-search.ts). On the scenarios of search-partition.test.ts the start alone is
 * already within 0.1% of the optimum, so those tests cannot tell whether the descent runs. Every
 * scenario here was picked (by scanning GPU counts 3-5, switch and chain topologies, slow links and
 * both attention kinds against exhaustive search) because neither the start nor the even split
 * (which the fast search also tries) is within 1% of the lattice optimum: only a working descent
 * reaches it.
 */

/** GPUs in a chain of 300 GB/s links (2 us), except link `slow` (between gpu[slow] and gpu[slow+1]). */
function chain(gpus: number, slow: number, slowBandwidth: number): Topology {
  return topologyFromJson({
    name: `chain-slow-${slow}`,
    nodes: Array.from({ length: gpus }, (_, i) => ({ id: `gpu${i}`, kind: 'gpu' })),
    links: Array.from({ length: gpus - 1 }, (_, i) => ({
      a: `gpu${i}`,
      b: `gpu${i + 1}`,
      bandwidth: i === slow ? slowBandwidth : 300e9,
      latency: 2e-6,
    })),
  });
}

function kvrS(gpu: Scenario['gpu'], gpus: number, context: number, topo: Topology, attention: 'flash' | 'eager'): Scenario {
  return { model: llama7b, gpu, topology: topo, gpus, context, strategy: 'kvr-s', attention };
}

/** TTFT of the fast search's closed-form start rounded to the lattice, as fastSearch computes it. */
function startTtft(s: Scenario, lattice: ReturnType<typeof makeLattice>): number {
  const balance = new PipelineBalance(s, scenarioRouter(s));
  const indices = balance.roundToLattice(balance.balancedPartition(), lattice);
  return new TtftEvaluator(s).ttft(partitionFromIndices(lattice, indices));
}

describe('fast search: the descent reaches the lattice optimum where the closed-form start does not', () => {
  // [name, scenario, granularity]. Measured gaps (start / even vs exhaustive) at the time of writing
  // are in the names; the test only requires > 0.1%, leaving room for changes to the cost model
  // or the TTFT definition that shift TTFTs by a fraction of a percent.
  const cases: [string, Scenario, number][] = [
    ['5 GPUs (odd), switch at 10 GB/s, flash, ideal GPU (start +5.0%, even +7.7%)', kvrS(ideal, 5, 2048, topology('switch', 5, 10e9, 2e-6), 'flash'), 128],
    ['5 GPUs, chain with a 10 GB/s link 3-4, eager attention, ideal GPU (start +6.9%, even +6.1%)', kvrS(ideal, 5, 2048, chain(5, 3, 10e9), 'eager'), 128],
    ['4 GPUs, chain with a 1 GB/s link 0-1, flash, ideal GPU (start +1.2%, even +185%)', kvrS(ideal, 4, 4096, chain(4, 0, 1e9), 'flash'), 128],
    ['4 GPUs, chain with a 1 GB/s link 1-2, eager attention, A100 (start +1.06%, even +299%)', kvrS(a100, 4, 2048, chain(4, 1, 1e9), 'eager'), 128],
  ];

  test.each(cases)('%s: fast search finds exactly the exhaustive optimum, which beats its start and the even split by more than 0.1 percent', (_name, s, granularity) => {
    const lattice = makeLattice(s.context, s.gpus, granularity);
    const exhaustive = exhaustiveSearch(new TtftEvaluator(s), lattice);
    expect(exhaustive.simulations).toBe(latticeSize(lattice));
    const fast = fastSearch(new TtftEvaluator(s), lattice);
    // The scenario needs the descent: neither the start nor the even split is within 0.1%.
    expect(startTtft(s, lattice) / exhaustive.ttft_s - 1).toBeGreaterThan(0.001);
    expect(new TtftEvaluator(s).ttft(evenPartition(s.context, s.gpus)) / exhaustive.ttft_s - 1).toBeGreaterThan(0.001);
    // The descent lands on a lattice optimum: the same TTFT (possibly a tied partition), exactly.
    expect(fast.ttft_s).toBe(exhaustive.ttft_s);
    expect(fast.partition.reduce((a, b) => a + b)).toBe(s.context);
    // ... and it is still cheap: a small fraction of the lattice.
    expect(fast.simulations).toBeLessThanOrEqual(0.05 * exhaustive.simulations);
  }, 120_000);

  test('a case where the descent once stopped at a local optimum: within the 0.1% bar of exhaustive, and better than its start', () => {
    // A100, 5 GPUs, 2048 tokens, chain with a 1 GB/s first link. Under the roofline A100 the descent
    // ended at +0.078%; with its shape-aware defaults it reaches exhaustive's 128,256,768,768,128
    // from a start 1.05% off. This pins the bound the fast search promises (0.1%, issue #3).
    const s = kvrS(a100, 5, 2048, chain(5, 0, 1e9), 'flash');
    const lattice = makeLattice(s.context, s.gpus, 128);
    const exhaustive = exhaustiveSearch(new TtftEvaluator(s), lattice);
    const fast = fastSearch(new TtftEvaluator(s), lattice);
    expect(fast.ttft_s / exhaustive.ttft_s - 1).toBeGreaterThanOrEqual(0);
    expect(fast.ttft_s / exhaustive.ttft_s - 1).toBeLessThanOrEqual(0.001);
    expect(startTtft(s, lattice) / fast.ttft_s - 1).toBeGreaterThan(0.001);
  }, 120_000);
});

describe('fast search vs exhaustive search on small lattices (2-4 GPUs, coarse granularity)', () => {
  // Every combination of: GPU (ideal, A100), attention (flash, eager), links (switch at 300 GB/s,
  // switch at 10 GB/s, chain at 300 GB/s with a 1 GB/s last hop). 4096 tokens with granularity 128
  // (2 and 3 GPUs: 31 and 465 partitions) or 256 (4 GPUs: 455 partitions).
  // Stated bound: on 2 and 3 GPUs the fast search finds the lattice optimum exactly (or the even
  // split, off the lattice, beats it); on 4 GPUs it is within 0.1% of it (issue #3's bar).
  const cases: [string, Scenario, number][] = [];
  for (const gpus of [2, 3, 4]) {
    const links: [string, Topology][] = [
      ['switch 300 GB/s', topology('switch', gpus, 300e9, 2e-6)],
      ['switch 10 GB/s', topology('switch', gpus, 10e9, 2e-6)],
      [`chain, 1 GB/s hop ${gpus - 2}-${gpus - 1}`, chain(gpus, gpus - 2, 1e9)],
    ];
    for (const gpu of [ideal, a100]) {
      for (const attention of ['flash', 'eager'] as const) {
        for (const [name, topo] of links) cases.push([`${gpus} GPUs, ${gpu.name}, ${attention}, ${name}`, kvrS(gpu, gpus, 4096, topo, attention), gpus === 4 ? 256 : 128]);
      }
    }
  }

  test('the stated bound holds on every case, and the start alone would miss it', () => {
    let startMisses = 0;
    for (const [name, s, granularity] of cases) {
      const lattice = makeLattice(s.context, s.gpus, granularity);
      const exhaustive = exhaustiveSearch(new TtftEvaluator(s), lattice).ttft_s;
      const fast = fastSearch(new TtftEvaluator(s), lattice).ttft_s;
      if (s.gpus <= 3) expect(fast, name).toBeLessThanOrEqual(exhaustive);
      else expect(fast / exhaustive - 1, name).toBeLessThanOrEqual(0.001);
      const even = new TtftEvaluator(s).ttft(evenPartition(s.context, s.gpus));
      if (Math.min(startTtft(s, lattice), even) > exhaustive) startMisses += 1;
    }
    // Without the descent (start or even split only) the exact bound fails on some cases (3 when
    // this was written), so the sweep tests the descent and not only the closed form.
    expect(startMisses).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
