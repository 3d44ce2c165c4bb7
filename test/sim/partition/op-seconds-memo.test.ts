import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { OpSecondsMemo } from '../../../sim/partition/op-seconds-memo.js';
import { kvrPlan, reshapeKvrPlan } from '../../../sim/plan/strategies/kvr.js';
import { kvrTpPlan } from '../../../sim/plan/strategies/kvr-tp.js';
import { propertyOptions } from '../../support/property.js';
import { falcon7b, llama7b, tinyModel } from '../../support/scenarios.js';

/** Random partitions of `context` into `parts` positive chunks. */
function partitionArb(context: number, parts: number): fc.Arbitrary<number[]> {
  return fc.uniqueArray(fc.integer({ min: 1, max: context - 1 }), { minLength: parts - 1, maxLength: parts - 1 }).map((cuts) => {
    const sorted = [...cuts].sort((a, b) => a - b);
    return [...sorted, context].map((b, i) => b - (sorted[i - 1] ?? 0));
  });
}

describe('OpSecondsMemo: opDurations of a search\'s plans, remembered by shape', () => {
  test('kvr plans reshaped partition after partition: the same durations as opDurations, bit for bit', () => {
    const context = 6000;
    fc.assert(
      fc.property(
        fc.constantFrom(tinyModel, { ...llama7b, layers: 2 }, { ...falcon7b, layers: 2 }),
        fc.constantFrom('ideal', 'a100-80g', 'h100-sxm'),
        fc.constantFrom('flash' as const, 'eager' as const),
        fc.array(partitionArb(context, 4), { minLength: 1, maxLength: 6 }),
        (model, gpuName, attention, partitions) => {
          const gpu = GPU_PRESETS[gpuName]!;
          const memo = new OpSecondsMemo(gpu, attention);
          const plan = kvrPlan(model, [...partitions[0]!], 'kvr');
          for (const partition of partitions) {
            reshapeKvrPlan(plan, partition);
            expect(memo.durations(plan)).toEqual(opDurations(plan, gpu, attention));
          }
        },
      ),
      propertyOptions(60),
    );
  });

  test('plans with shards (kvr-tp) or MoE work go to opDurations whole', () => {
    const gpu = GPU_PRESETS['h100-sxm']!;
    const memo = new OpSecondsMemo(gpu, 'flash');
    const tp = kvrTpPlan({ ...llama7b, layers: 2 }, [3000, 1000], 2, 'auto');
    expect(memo.durations(tp)).toEqual(opDurations(tp, gpu, 'flash'));
    const moeModel = Object.values(MODEL_PRESETS).find((m) => m.moe !== undefined)!;
    const moe = kvrPlan({ ...moeModel, layers: 2 }, [3000, 1000], 'kvr');
    expect(memo.durations(moe)).toEqual(opDurations(moe, gpu, 'flash'));
  });
});
