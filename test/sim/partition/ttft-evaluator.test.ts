import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { LEADERS, TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { planOpCount } from '../../../sim/plan/build-plan.js';
import { FOLD_WITHOUT_BUILDING_OPS, simulate, type Scenario } from '../../../sim/simulate.js';
import { foldScenarioArb } from '../../support/fold-scenarios.js';
import { propertyOptions } from '../../support/property.js';
import { ideal, llama7b, tinyModel, topology } from '../../support/scenarios.js';

/** The issue's front-loaded case: rank 0's last o/mlp end after the last rank's lm_head. */
const kvrS: Scenario = { model: llama7b, gpu: ideal, topology: topology('switch', 2, 300e9, 0), gpus: 2, context: 4096, strategy: 'kvr-s' };

describe('TtftEvaluator: the TTFT searches minimise is the end of the logits, not the makespan', () => {
  test('kvr partition 2432,1664: the end of the last rank\'s lm_head (0.3287094 s), as simulate reports it', () => {
    const evaluator = new TtftEvaluator(kvrS);
    const ttft = evaluator.ttft([2432, 1664]);
    const { result } = simulate({ ...kvrS, strategy: 'kvr', partition: [2432, 1664] });
    expect(ttft).toBe(result.ttft_s);
    expect(ttft.toFixed(7)).toBe('0.3287094');
    expect(result.makespan_s).toBeGreaterThan(ttft);
    // A reshaped template gives the same answer as a fresh one.
    evaluator.ttft([2048, 2048]);
    expect(new TtftEvaluator(kvrS).ttft([2048, 2048])).toBe(evaluator.ttft([2048, 2048]));
  });

  test('kvr-tp group partitions: the end of the last group\'s last rank\'s lm_head, as simulate reports it', () => {
    const s: Scenario = { ...kvrS, strategy: 'kvr-tp', gpus: 4, tp: 2, topology: topology('multi-node', 4, 300e9, 0, { gpus_per_node: 2, nic_bandwidth: 25e9 }) };
    const evaluator = new TtftEvaluator(s);
    for (const partition of [[2432, 1664], [3072, 1024], [2048, 2048]]) {
      const { result } = simulate({ ...s, partition });
      expect(evaluator.ttft(partition)).toBe(result.ttft_s);
      expect(result.ttft_s).toBeLessThanOrEqual(result.makespan_s);
    }
    // Front-loaded groups: the first group is still busy when the logits are out.
    const { result } = simulate({ ...s, partition: [3072, 1024] });
    expect(result.makespan_s).toBeGreaterThan(result.ttft_s);
  });
});

/** Chunks of `context` in `parts` parts (each >= 1) from positive weights. */
function chunksFrom(weights: readonly number[], parts: number, context: number): number[] {
  const used = weights.slice(0, parts);
  const total = used.reduce((a, b) => a + b, 0);
  const sizes = used.map((w) => Math.max(1, Math.floor((w / total) * (context - parts))));
  sizes[parts - 1]! += context - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

describe('TtftEvaluator with layer folding (a sample of the layers, sim/engine/layer-fold.ts)', () => {
  test('folded TTFT equals the whole plan\'s to 1e-9 relative, on random kvr and kvr-tp scenarios and partitions', () => {
    let folded = 0;
    let simulations = 0;
    fc.assert(
      fc.property(
        foldScenarioArb.filter((s) => s.strategy === 'kvr' || (s.strategy === 'kvr-tp' && s.gpus > s.tp!)),
        fc.array(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 4 }),
        (base, cuts) => {
          const scenario: Scenario = { ...base, strategy: base.strategy === 'kvr' ? 'kvr-s' : 'kvr-tp' };
          const parts = base.partition!.length;
          const partitions = [base.partition!, ...cuts.map((w) => chunksFrom(w, parts, base.context))];
          const sampled = new TtftEvaluator(scenario, 'always');
          const whole = new TtftEvaluator(scenario, 'never');
          // Twice over: the second pass reshapes templates already built.
          for (const partition of [...partitions, ...partitions.slice().reverse()]) {
            const a = sampled.ttft(partition);
            const b = whole.ttft(partition);
            expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * b);
          }
          expect(whole.foldedSimulations).toBe(0);
          folded += sampled.foldedSimulations;
          simulations += sampled.simulations;
        },
      ),
      propertyOptions(40),
    );
    console.log(`folded ${folded} of ${simulations} evaluator simulations`);
    // The property says something only if most partitions were answered from a sample.
    expect(folded).toBeGreaterThan(simulations / 2);
  });

  test('a big plan runs as a layer recurrence by default, and its TTFT is simulate\'s bit for bit (llama2-70b, 64 GPUs, ideal GPU)', () => {
    const gpus = 64;
    const s: Scenario = { model: MODEL_PRESETS['llama2-70b']!, gpu: ideal, topology: topology('multi-node', gpus, 450e9, 2e-6), gpus, context: 32768, strategy: 'kvr-s' };
    expect(planOpCount('kvr-s', s.model.layers, gpus)).toBeGreaterThanOrEqual(FOLD_WITHOUT_BUILDING_OPS);
    const evaluator = new TtftEvaluator(s);
    const whole = new TtftEvaluator(s, 'never');
    const even = new Array<number>(gpus).fill(512);
    const skewed = even.map((c, r) => c + (r < gpus / 2 ? 64 : -64));
    for (const partition of [even, skewed]) {
      const ttft = evaluator.ttft(partition);
      expect(ttft).toBe(simulate({ ...s, strategy: 'kvr', partition }).result.ttft_s);
      expect(Math.abs(ttft - whole.ttft(partition))).toBeLessThanOrEqual(1e-9 * ttft);
    }
    expect(evaluator.recurrenceSimulations).toBe(2);
    expect(evaluator.foldedSimulations).toBe(0);
  });

  test('a big kvr-tp plan runs as a layer recurrence by default: simulate\'s TTFT bit for bit, the whole plan\'s to 1e-9', () => {
    const gpus = 32;
    const model = { ...MODEL_PRESETS['llama2-70b']!, layers: 24 };
    const topo = topology('multi-node', gpus, 450e9, 2e-6, { nic_bandwidth: 50e9, nic_latency_s: 5e-6 });
    const s: Scenario = { model, gpu: ideal, topology: topo, gpus, context: 16384, strategy: 'kvr-tp', tp: 8 };
    expect(planOpCount('kvr-tp', model.layers, gpus, { tp: 8 })).toBeGreaterThanOrEqual(FOLD_WITHOUT_BUILDING_OPS);
    const evaluator = new TtftEvaluator(s);
    const whole = new TtftEvaluator(s, 'never');
    // Group chunks from 64 to 8192 tokens; the last partition's chunks split unevenly into 8 rows
    // (its groups' members differ: no one-chain shortcut).
    for (const partition of [[4096, 4096, 4096, 4096], [8192, 4096, 4032, 64], [4096, 4096, 4096, 4096].map((c, k) => c + (k < 2 ? 512 : -512)), [4097, 4095, 4099, 4093]]) {
      const ttft = evaluator.ttft(partition);
      expect(ttft).toBe(simulate({ ...s, partition }).result.ttft_s);
      expect(Math.abs(ttft - whole.ttft(partition))).toBeLessThanOrEqual(1e-9 * ttft);
    }
    expect(evaluator.recurrenceSimulations).toBe(4);
    expect(evaluator.foldedSimulations).toBe(0);
  });

  test('kvr-tp: a partition\'s TTFT does not depend on the partitions evaluated before, though the tuner picks its all-reduce protocol by size', () => {
    // 4 GPUs in groups of 2 at 100 MB/s, 8 tokens: group 0's all-reduces of 5 rows run the simple
    // protocol, of 1 row LL (a different op graph, compiled on its own).
    const s: Scenario = { model: { ...tinyModel, heads: 16, kv_heads: 4, layers: 12 }, gpu: ideal, topology: topology('switch', 4, 1e8, 1e-6), gpus: 4, context: 8, strategy: 'kvr-tp', tp: 2 };
    const protocols = (partition: number[]) => simulate({ ...s, partition }).plan.ops.flatMap((op) => (op.kind === 'collective' && op.ranks[0] === 0 ? [op.protocol] : []));
    expect(new Set(protocols([5, 3]))).toEqual(new Set(['simple']));
    expect(new Set(protocols([1, 7]))).toEqual(new Set(['ll']));
    for (const folding of ['always', 'never'] as const) {
      const evaluator = new TtftEvaluator(s, folding);
      for (const [first, then] of [[[5, 3], [1, 7]], [[1, 7], [5, 3]]]) {
        evaluator.ttft(first!);
        expect(evaluator.ttft(then!)).toBe(new TtftEvaluator(s, folding).ttft(then!));
      }
    }
  });

  test('noisy links are not folded: the evaluator runs the whole plan', () => {
    const base = topology('switch', 4, 1e9, 2e-6);
    const noisy = { ...base, links: base.links.map((link, i) => (i === 0 ? { ...link, noise: { period_s: 1e-3, min_fraction: 0.5, seed: 7 } } : link)) };
    const s: Scenario = { model: { ...llama7b, layers: 24 }, gpu: ideal, topology: noisy, gpus: 4, context: 2048, strategy: 'kvr-s' };
    const evaluator = new TtftEvaluator(s, 'always');
    expect(evaluator.ttft([512, 512, 512, 512])).toBe(new TtftEvaluator(s, 'never').ttft([512, 512, 512, 512]));
    expect(evaluator.foldedSimulations).toBe(0);
  });
});

describe('TtftEvaluator.best', () => {
  test('lists the partitions simulated in full by TTFT, ties by their chunks written out, at most LEADERS of them', () => {
    // Every partition of 4096 tokens over 3 ranks in steps of 128: 465 of them, with ties (ideal GPU, tiny model).
    const s: Scenario = { model: { ...tinyModel, layers: 2 }, gpu: ideal, topology: topology('switch', 3, 3e11, 0), gpus: 3, context: 4096, strategy: 'kvr-s' };
    const evaluator = new TtftEvaluator(s);
    const all: { partition: number[]; ttft_s: number }[] = [];
    for (let a = 128; a < 4096; a += 128) {
      for (let b = 128; a + b < 4096; b += 128) {
        const partition = [a, b, 4096 - a - b];
        all.push({ partition, ttft_s: evaluator.ttft(partition) });
      }
    }
    expect(all.length).toBeGreaterThan(LEADERS);
    const key = (p: number[]): string => p.join(',');
    all.sort((x, y) => x.ttft_s - y.ttft_s || (key(x.partition) < key(y.partition) ? -1 : 1));
    expect(evaluator.best(7)).toEqual(all.slice(0, 7));
    expect(evaluator.best(1000)).toEqual(all.slice(0, LEADERS));
  });
});
