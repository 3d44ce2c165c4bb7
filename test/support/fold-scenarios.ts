import fc from 'fast-check';
import type { ModelSpec } from '../../sim/model/model-spec.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import type { Scenario } from '../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../sim/topology/presets.js';
import { a100, ideal, tinyModel, topology } from './scenarios.js';

/**
 * Random scenarios for the layer-folding properties (sim/engine/layer-fold.ts): 12 to 40 layers of
 * a small model, every strategy that folds, every topology preset, slow and fast links.
 */
export const FOLD_STRATEGIES: StrategyName[] = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'ring-kv', 'tp', 'tp-sp', 'kvr-tp'];

export const foldScenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    strategy: fc.constantFrom(...FOLD_STRATEGIES),
    layers: fc.integer({ min: 12, max: 40 }),
    gpus: fc.constantFrom(2, 3, 4, 8, 16),
    tokensPerGpu: fc.integer({ min: 2, max: 600 }),
    preset: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.constantFrom(1e8, 1e9, 3e10, 3e11),
    latency: fc.constantFrom(0, 2e-6),
    gpu: fc.constantFrom(ideal, a100),
    block: fc.constantFrom('sequential' as const, 'parallel' as const),
    cuts: fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 16, maxLength: 16 }),
  })
  .map((r): Scenario => {
    const gpus = r.strategy === 'single' ? 1 : r.gpus;
    // 16 heads: tensor parallelism over up to 16 GPUs.
    const model: ModelSpec = { ...tinyModel, heads: 16, kv_heads: 4, layers: r.layers, block: r.block, ...(r.block === 'parallel' ? { norm: 'layernorm' as const } : {}) };
    const context = r.tokensPerGpu * Math.max(2, gpus);
    const scenario: Scenario = {
      model,
      gpu: r.gpu,
      topology: topology(r.preset, Math.max(gpus, 2), r.bandwidth, r.latency),
      gpus,
      context,
      strategy: r.strategy,
    };
    // Uneven chunks (kvr: one per rank; kvr-tp: one per group of 2), from the random cuts.
    const chunks = (parts: number): number[] => {
      const weights = r.cuts.slice(0, parts);
      const total = weights.reduce((a, b) => a + b, 0);
      const sizes = weights.map((w) => Math.max(1, Math.floor((w / total) * (context - parts))));
      sizes[parts - 1]! += context - sizes.reduce((a, b) => a + b, 0);
      return sizes;
    };
    if (r.strategy === 'kvr') scenario.partition = chunks(gpus);
    if (r.strategy === 'kvr-tp') {
      scenario.tp = 2;
      scenario.partition = chunks(gpus / 2 >= 1 && gpus % 2 === 0 ? gpus / 2 : 1);
      if (gpus % 2 !== 0) scenario.gpus = scenario.tp;
    }
    return scenario;
  });

