import { describe, expect, test } from 'vitest';
import { coarseStep, gridSearch } from '../../../sim/partition/grid-search.js';
import { exhaustiveSearch, latticeSize } from '../../../sim/partition/exhaustive-search.js';
import { fastSearch } from '../../../sim/partition/fast-search.js';
import { makeLattice } from '../../../sim/partition/lattice.js';
import { searchPartition } from '../../../sim/partition/search-partition.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { evenPartition } from '../../../sim/plan/partition.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { a100, falcon7b, ideal, llama7b, tinyModel, topology } from '../../support/scenarios.js';

function scenario(model: Scenario['model'], gpu: Scenario['gpu'], gpus: number, context: number, bandwidth: number): Scenario {
  return { model, gpu, topology: topology('switch', gpus, bandwidth, 2e-6), gpus, context, strategy: 'kvr-s' };
}

describe('grid search (the paper-style baseline)', () => {
  test('the coarse step is the smallest whose grid has at most 5000 boundary tuples', () => {
    // 8 GPUs at 16k with 64-token granularity: 255 lattice points; C(14, 7) = 3432 <= 5000 < C(15, 7).
    expect(coarseStep(makeLattice(16384, 8, 64))).toBe(18);
    // 2 GPUs: the whole lattice fits, so level 0 is exhaustive.
    expect(coarseStep(makeLattice(4096, 2, 64))).toBe(1);
  });

  test('levels halve the step down to the granularity and the result is on the lattice', () => {
    const outcome = gridSearch(new TtftEvaluator(scenario(llama7b, a100, 4, 8192, 300e9)), makeLattice(8192, 4, 64));
    // 127 lattice points; C(31, 3) = 4495 <= 5000 with a 4-granule coarse step.
    expect(outcome.detail.levels_in_tokens).toEqual([256, 128, 64]);
    expect(outcome.partition.reduce((a, b) => a + b)).toBe(8192);
    outcome.partition.slice(0, -1).forEach((c) => expect(c % 64).toBe(0));
  });
});

describe('fast search', () => {
  test.each([
    [2, 4096, 300e9],
    [2, 16384, 10e9],
    [3, 4096, 300e9],
    [3, 8192, 10e9],
  ])('ideal GPU, %i GPUs, %i tokens, %d B/s: within 0.1%% of an exhaustive search of the lattice', (p, C, B) => {
    const s = scenario(llama7b, ideal, p, C, B);
    const lattice = makeLattice(C, p, 64);
    const exhaustive = exhaustiveSearch(new TtftEvaluator(s), lattice);
    expect(exhaustive.simulations).toBe(latticeSize(lattice));
    const fast = fastSearch(new TtftEvaluator(s), lattice);
    expect(fast.ttft_s / exhaustive.ttft_s - 1).toBeLessThanOrEqual(0.001);
  });

  test('token granularity 1 on a tiny model: within 0.1% of exhaustive', () => {
    const s = scenario(tinyModel, ideal, 3, 300, 1e9);
    const lattice = makeLattice(300, 3, 1);
    const exhaustive = exhaustiveSearch(new TtftEvaluator(s), lattice);
    expect(exhaustive.simulations).toBe(299 * 298 / 2);
    expect(fastSearch(new TtftEvaluator(s), lattice).ttft_s / exhaustive.ttft_s - 1).toBeLessThanOrEqual(0.001);
  });

  test('chunks are multiples of the granularity (the last takes the remainder) and sum to the context', () => {
    const outcome = searchPartition(scenario(falcon7b, a100, 6, 10000, 300e9), { method: 'fast', granularity: 128 });
    expect(outcome.partition.reduce((a, b) => a + b)).toBe(10000);
    outcome.partition.slice(0, -1).forEach((c) => expect(c % 128).toBe(0));
  });

  test('grid search refuses GPU counts whose refinement levels would explode', () => {
    expect(() => searchPartition(scenario(llama7b, a100, 11, 16384, 300e9), { method: 'grid', granularity: 64 })).toThrow(
      /^search: grid search refines 3\^\(p-1\) partitions per level, 59049 on 11 GPUs; it supports up to 10 GPUs/,
    );
  });

  test('fast search scales to many GPUs (64 GPUs, multi-node)', () => {
    const s: Scenario = { model: llama7b, gpu: a100, topology: topology('multi-node', 64, 300e9, 2e-6), gpus: 64, context: 65536, strategy: 'kvr-s' };
    const outcome = searchPartition(s);
    const even = simulate({ ...s, strategy: 'kvr-e' }).result.ttft_s;
    expect(outcome.ttft_s).toBeLessThan(even);
  });

  test('exhaustive search refuses lattices too large to enumerate', () => {
    expect(() => searchPartition(scenario(llama7b, a100, 8, 16384, 300e9), { method: 'exhaustive', granularity: 64 })).toThrow(
      /^search: exhaustive search would simulate \d+ partitions \(limit 200000\)/,
    );
  });

  test('kvr-s in simulate uses the searched partition and reports how it was found', () => {
    const s = scenario(llama7b, a100, 4, 16384, 300e9);
    const { result } = simulate(s);
    const outcome = searchPartition(s);
    expect(result.partition).toEqual(outcome.partition);
    expect(result.ttft_s).toBe(outcome.ttft_s);
    expect(result.partition_origin).toEqual({ kind: 'searched', method: 'fast', granularity: 64, simulations: outcome.simulations });
    const even = simulate({ ...s, strategy: 'kvr-e' }).result.ttft_s;
    expect(result.ttft_s).toBeLessThan(even);
  });

  test('the even split is kept when nothing on the lattice beats it', () => {
    // 3 GPUs, 200 tokens, granularity 64: the lattice cannot express 67/67/66.
    const s = scenario(tinyModel, ideal, 3, 200, 1e12);
    const outcome = searchPartition(s, { method: 'fast', granularity: 64 });
    const evenTtft = new TtftEvaluator(s).ttft(evenPartition(200, 3));
    expect(outcome.ttft_s).toBeLessThanOrEqual(evenTtft);
  });
});
