import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runRecurrence } from '../../../sim/engine/layer-recurrence.js';
import { ComputePricer } from '../../../sim/hardware/compute-pricer.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import type { ModelSpec } from '../../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { IncrementalKvrChain } from '../../../sim/partition/incremental-kvr-chain.js';
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
  test('below its bound a run gives the recurrence\'s TTFT bit for bit, otherwise a number at least the bound, along random walks of partitions', () => {
    let runs = 0;
    let stopped = 0;
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
        let partition = new Array<number>(p).fill(context / p);
        let best = Infinity;
        for (const [from, to, share, factor] of steps) {
          const candidate = partition.slice();
          const a = from % p;
          const b = to % p;
          const tokens = Math.floor((candidate[a]! - 1) * share);
          candidate[a]! -= tokens;
          candidate[b]! += tokens;
          const bound = best * factor;
          const exact = exactTtft(candidate);
          const got = chain.ttftBelow(candidate, bound);
          runs += 1;
          if (exact < bound) {
            expect(got).toBe(exact);
          } else {
            expect(got).toBeGreaterThanOrEqual(bound);
            if (got !== exact) stopped += 1;
          }
          if (exact < best) {
            best = exact;
            partition = candidate;
          }
        }
        expect(chain.runs).toBe(steps.length);
      }),
      propertyOptions(150),
    );
    // The property says something only if runs stopped early, and many ran.
    expect(runs).toBeGreaterThan(300);
    expect(stopped).toBeGreaterThan(0);
  });

  test('a run starts at the first rank whose chunk differs from the kept partition, and keeps only partitions under its bound', () => {
    const gpus = 16;
    const scenario: Scenario = { model: { ...tinyModel, layers: 6 }, gpu: a100, topology: topology('multi-node', gpus, 3e11, 2e-6), gpus, context: gpus * 256, strategy: 'kvr-s' };
    const hops = kvrHops(scenarioRouter(scenario), gpus)!;
    const stages = new KvrStagePricer(new ComputePricer(scenario.model, a100, 'flash'));
    const chain = new IncrementalKvrChain(scenario.model, hops, stages, 0, gpus);
    const even = new Array<number>(gpus).fill(256);
    const best = chain.ttftBelow(even, Infinity);
    expect(chain.ranksRun).toBe(gpus);
    // Tokens between the last two ranks: two ranks run (or fewer, if it stops after the first).
    const late = even.slice();
    late[gpus - 2] = 200;
    late[gpus - 1] = 312;
    chain.ttftBelow(late, Infinity);
    expect(chain.ranksRun).toBe(gpus + 2);
    // `late` came in under Infinity and is kept: `even` now differs from it at rank gpus-2.
    expect(chain.ttftBelow(even, Infinity)).toBe(best);
    expect(chain.ranksRun).toBe(gpus + 4);
    // A bound of 0: nothing is kept, and the next run of `late` starts at rank gpus-2 again.
    chain.ttftBelow(late, 0);
    const ranks = chain.ranksRun;
    chain.ttftBelow(late, Infinity);
    expect(chain.ranksRun - ranks).toBe(2);
  });

  test('the evaluator\'s bounded runs agree with its simulations (llama2-70b, 64 GPUs)', () => {
    const gpus = 64;
    const scenario: Scenario = { model: MODEL_PRESETS['llama2-70b']!, gpu: ideal, topology: topology('multi-node', gpus, 450e9, 2e-6), gpus, context: 32768, strategy: 'kvr-s' };
    const simulated = new TtftEvaluator(scenario);
    const bounded = new TtftEvaluator(scenario);
    const even = new Array<number>(gpus).fill(512);
    const best = simulated.ttft(even);
    expect(bounded.ttftBelow(even, Infinity)).toBe(best);
    // Moves near the last rank: each run starts where the partition first differs from `even`.
    for (let rank = gpus - 8; rank < gpus - 1; rank++) {
      for (const tokens of [64, -64]) {
        const moved = even.slice();
        moved[rank]! -= tokens;
        moved[rank + 1]! += tokens;
        const ttft = simulated.ttft(moved);
        const below = bounded.ttftBelow(moved, best);
        if (ttft < best) expect(below).toBe(ttft);
        else expect(below).toBeGreaterThanOrEqual(best);
      }
    }
    expect(bounded.simulations).toBe(simulated.simulations);
  });
});
