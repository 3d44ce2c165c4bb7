import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runRecurrence } from '../../../sim/engine/layer-recurrence.js';
import { ComputePricer } from '../../../sim/hardware/compute-pricer.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import type { ModelSpec } from '../../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { fastSearch } from '../../../sim/partition/fast-search.js';
import { IncrementalKvrChain } from '../../../sim/partition/incremental-kvr-chain.js';
import { makeLattice } from '../../../sim/partition/lattice.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { kvrHops, kvrRecurrence, KvrStagePricer } from '../../../sim/plan/strategies/kvr-recurrence.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import type { Scenario } from '../../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { propertyOptions } from '../../support/property.js';
import { a100, ideal, tinyModel, topology } from '../../support/scenarios.js';

/** A chain scenario and a walk of partitions, each a random move of tokens from the one before. */
const walkArb = fc
  .record({
    layers: fc.integer({ min: 1, max: 9 }),
    gpus: fc.integer({ min: 2, max: 24 }),
    tokensPerGpu: fc.integer({ min: 4, max: 600 }),
    preset: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.constantFrom(1e8, 1e9, 3e10, 3e11),
    latency: fc.constantFrom(0, 2e-6),
    gpu: fc.constantFrom(ideal, a100, GPU_PRESETS['h100-sxm']!),
    // Each step: from rank, to rank, tokens (as a share of the giver's chunk), and the bound
    // asked with (the best so far, or that times a factor: above, a bound no run stops under).
    steps: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(1, 1, 0.999, 1.01)), { minLength: 1, maxLength: 12 }),
  })
  .map((r) => {
    const model: ModelSpec = { ...tinyModel, layers: r.layers };
    const context = r.tokensPerGpu * r.gpus;
    const scenario: Scenario = { model, gpu: r.gpu, topology: topology(r.preset, r.gpus, r.bandwidth, r.latency), gpus: r.gpus, context, strategy: 'kvr-s' };
    return { scenario, steps: r.steps };
  });

describe('IncrementalKvrChain (sim/partition/incremental-kvr-chain.ts)', () => {
  test('decides whether a candidate beats the incumbent as the exact TTFTs do, along random walks of partitions', () => {
    let decisions = 0;
    const early = { atLeast: 0, estimate: 0 };
    fc.assert(
      fc.property(walkArb, ({ scenario, steps }) => {
        const router = scenarioRouter(scenario);
        const p = scenario.gpus;
        const hops = kvrHops(router, p);
        // Hops that share a link have no chain (the engine shares their bandwidth).
        if (hops === undefined) return;
        const stages = new KvrStagePricer(new ComputePricer(scenario.model, scenario.gpu, 'flash'));
        const context = scenario.context;
        const lmHead = stages.pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true }).seconds;
        const chain = new IncrementalKvrChain(scenario.model, hops, stages, lmHead, p);
        const exactTtft = (partition: number[]): number => runRecurrence(kvrRecurrence(scenario.model, partition, 'kvr', hops, stages), scenario.model.layers)!.ttft;
        let incumbent = new Array<number>(p).fill(context / p);
        let best = exactTtft(incumbent);
        chain.setIncumbent(incumbent, best);
        for (const [from, to, share, restart] of steps) {
          if (restart !== 1) {
            // Now and then a new incumbent, as a second descent starts (what it shares is kept).
            incumbent = incumbent.map((c, i) => (i === 0 ? c : c)).reverse();
            best = exactTtft(incumbent);
            chain.setIncumbent(incumbent, best);
          }
          const candidate = incumbent.slice();
          const a = from % p;
          const b = to % p;
          const tokens = Math.floor((candidate[a]! - 1) * share);
          candidate[a]! -= tokens;
          candidate[b]! += tokens;
          const exact = exactTtft(candidate);
          const wins = chain.improves(candidate);
          decisions += 1;
          expect(wins).toBe(exact < best);
          const last = chain.last;
          if ('exact' in last) {
            expect(last.exact).toBe(exact);
          } else if ('atLeast' in last) {
            early.atLeast += 1;
            expect(last.atLeast).toBeLessThanOrEqual(exact);
            expect(wins).toBe(false);
          } else {
            early.estimate += 1;
            expect(Math.abs(last.estimate - exact)).toBeLessThanOrEqual(1e-10 * exact);
            expect(wins).toBe(true);
          }
          if (wins) {
            incumbent = candidate;
            best = exact;
          }
          // Asked at any point, the incumbent's TTFT is exact.
          if (restart === 1.01) expect(chain.incumbentTtft()).toBe(best);
        }
        expect(chain.incumbentTtft()).toBe(best);
      }),
      propertyOptions(150),
    );
    // The property says something only if many decisions were made, some of them early both ways.
    expect(decisions).toBeGreaterThan(300);
    expect(early.atLeast).toBeGreaterThan(0);
    expect(early.estimate).toBeGreaterThan(0);
  });

  test('a candidate runs from the first rank whose chunk differs from the incumbent\'s', () => {
    const gpus = 16;
    const scenario: Scenario = { model: { ...tinyModel, layers: 6 }, gpu: a100, topology: topology('multi-node', gpus, 3e11, 2e-6), gpus, context: gpus * 256, strategy: 'kvr-s' };
    const hops = kvrHops(scenarioRouter(scenario), gpus)!;
    const stages = new KvrStagePricer(new ComputePricer(scenario.model, a100, 'flash'));
    const chain = new IncrementalKvrChain(scenario.model, hops, stages, 0, gpus);
    const even = new Array<number>(gpus).fill(256);
    chain.setIncumbent(even, runRecurrence(kvrRecurrence(scenario.model, even, 'kvr', hops, stages), 6)!.ttft);
    // Its TTFT was given: nothing runs until a candidate does.
    expect(chain.ranksRun).toBe(0);
    const late = even.slice();
    late[gpus - 2] = 200;
    late[gpus - 1] = 312;
    chain.improves(late);
    // The incumbent's own ranks up to gpus-2 run first (not counted), then the candidate's two at most.
    expect(chain.runs).toBe(1);
    expect(chain.ranksRun).toBeLessThanOrEqual(2);
    const before = chain.ranksRun;
    const later = even.slice();
    later[gpus - 3] = 200;
    later[gpus - 2] = 312;
    chain.improves(later);
    expect(chain.ranksRun - before).toBeLessThanOrEqual(3);
  });

  test('the evaluator\'s descent decisions agree with its simulations (llama2-70b, 64 GPUs)', () => {
    const gpus = 64;
    const scenario: Scenario = { model: MODEL_PRESETS['llama2-70b']!, gpu: ideal, topology: topology('multi-node', gpus, 450e9, 2e-6), gpus, context: 32768, strategy: 'kvr-s' };
    const simulated = new TtftEvaluator(scenario);
    const descent = new TtftEvaluator(scenario);
    let incumbent = new Array<number>(gpus).fill(512);
    let best = simulated.ttft(incumbent);
    descent.startDescent(incumbent);
    expect(descent.incumbentTtft()).toBe(best);
    for (let rank = 0; rank < gpus - 1; rank += 3) {
      for (const tokens of [64, -64, 192]) {
        const moved = incumbent.slice();
        moved[rank]! -= tokens;
        moved[rank + 1]! += tokens;
        const ttft = simulated.ttft(moved);
        expect(descent.improves(moved)).toBe(ttft < best);
        if (ttft < best) {
          incumbent = moved;
          best = ttft;
        }
      }
    }
    expect(descent.incumbentTtft()).toBe(best);
    expect(descent.simulations).toBe(simulated.simulations);
  });
});

describe('a kvr-s search on the incremental chain decides as one that simulates every candidate in full', () => {
  /** kvr-s scenarios with up to 24 ranks on random topologies, GPUs and contexts. */
  const searchArb = fc
    .record({
      layers: fc.integer({ min: 1, max: 6 }),
      gpus: fc.integer({ min: 2, max: 24 }),
      granules: fc.integer({ min: 2, max: 12 }),
      preset: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
      bandwidth: fc.constantFrom(1e9, 3e10, 3e11),
      gpu: fc.constantFrom(ideal, a100, GPU_PRESETS['h100-sxm']!),
      // Where the restarting descent gets its budget and hands over to passes (the passes run on small lattices too).
      budgetAboveParts: fc.constantFrom(1, 4, 64),
      budgetScans: fc.constantFrom(1, 2, 12),
    })
    .map((r) => {
      const context = r.gpus * r.granules * 64;
      const scenario: Scenario = { model: { ...tinyModel, layers: r.layers }, gpu: r.gpu, topology: topology(r.preset, r.gpus, r.bandwidth, 2e-6), gpus: r.gpus, context, strategy: 'kvr-s' };
      return { scenario, limits: { budgetAboveParts: r.budgetAboveParts, budgetScans: r.budgetScans } };
    });

  test('same partition, TTFT (bit for bit) and simulations, on random scenarios and search budgets', () => {
    let incremental = 0;
    fc.assert(
      fc.property(searchArb, ({ scenario, limits }) => {
        const lattice = makeLattice(scenario.context, scenario.gpus, 64);
        // 'never': every candidate simulated in full (and no chain); 'auto': the chain where the hops allow it.
        const full = fastSearch(new TtftEvaluator(scenario, 'never'), lattice, limits);
        const evaluator = new TtftEvaluator(scenario);
        const fast = fastSearch(evaluator, lattice, limits);
        expect(fast.partition).toEqual(full.partition);
        expect(fast.ttft_s).toBe(full.ttft_s);
        expect(fast.simulations).toBe(full.simulations);
        if (kvrHops(evaluator.router, scenario.gpus) !== undefined) incremental += 1;
      }),
      propertyOptions(60),
    );
    // The property says something only if most searches ran on the chain.
    expect(incremental).toBeGreaterThan(30);
  });
});
