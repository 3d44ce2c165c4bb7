import { describe, expect, test } from 'vitest';
import { buildPlan, planOpCount } from '../../../sim/plan/build-plan.js';
import { expandCollectives } from '../../../sim/plan/expand.js';
import type { StrategyName } from '../../../sim/plan/plan.js';
import { falcon7b, llama7b } from '../../support/scenarios.js';

describe('buildPlan', () => {
  test('plans are plain JSON: they survive a round trip unchanged', () => {
    for (const strategy of ['single', 'tsp', 'tsp-causal', 'kvr-e', 'ring-kv', 'tp', 'tp-sp'] as const) {
      const plan = buildPlan({ strategy, model: llama7b, context: 4096, gpus: strategy === 'single' ? 1 : 4 });
      expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      expect(plan.schema).toBe('kvr-plan@1');
      plan.ops.forEach((op, i) => expect(op.id).toBe(i));
    }
  });

  test.each([
    ['single', llama7b, 1, {}],
    ['tsp', llama7b, 5, { collective: 'direct' }],
    ['kvr-e', llama7b, 4, {}],
    ['ring-kv', llama7b, 6, {}],
    ['tp', llama7b, 4, {}],
    ['tp-sp', falcon7b, 4, {}],
    ['kvr-tp', llama7b, 6, { tp: 3, partition: [2000, 2096] }],
    ['kvr-tp', falcon7b, 8, { tp: 2, collective: 'direct', partition: [1000, 1000, 1000, 1096] }],
  ] as const)('planOpCount(%s) is the number of ops the engine runs for its plan (collectives expanded)', (strategy, model, gpus, extra) => {
    const plan = buildPlan({ strategy: strategy as StrategyName, model, context: 4096, gpus, ...extra, partition: 'partition' in extra ? [...extra.partition] : undefined });
    const options = { ...('tp' in extra ? { tp: extra.tp } : {}), parallelBlock: model.block === 'parallel' };
    expect(expandCollectives(plan).ops).toHaveLength(planOpCount(strategy as StrategyName, model.layers, gpus, options));
  });

  test.each([
    [{ strategy: 'ring' }, /^strategy: expected one of single, tsp, tsp-causal, kvr, kvr-e, kvr-s, kvr-p/],
    [{ gpus: 0 }, /^gpus: expected an integer in 1\.\.1024/],
    [{ context: 3, gpus: 4 }, /^context: expected an integer in 4\.\./],
    [{ strategy: 'single', gpus: 2 }, /^gpus: strategy single runs on one GPU/],
    [{ strategy: 'kvr' }, /^partition: is required by strategy kvr/],
    [{ strategy: 'kvr', partition: [100, 100] }, /^partition: chunks must sum to the context 4096/],
    [{ strategy: 'tsp', partition: [2048, 2048] }, /^partition: only strategy kvr takes a partition/],
    [{ strategy: 'tsp', gpus: 1024 }, /^gpus: tsp on 1024 GPUs with 32 layers needs 33652737 plan ops \(limit 2000000\)/],
    [{ strategy: 'ring-kv', gpus: 4, context: 7 }, /^context: ring-kv cuts the context into 2 x 4 = 8 zig-zag chunks: needs at least 8 tokens \(got 7\)/],
    [{ strategy: 'tp', gpus: 64 }, /^gpus: tensor parallelism over 64 GPUs needs at least one attention head and FFN column per GPU \(llama2-7b has 32 heads\)/],
    [{ strategy: 'kvr-tp', gpus: 8, partition: [2048, 2048] }, /^tp: is required by strategy kvr-tp/],
    [{ strategy: 'kvr-tp', gpus: 8, tp: 3, partition: [2048, 2048] }, /^tp: must be a whole divisor of the 8 GPUs \(got 3\)/],
    [{ strategy: 'kvr-tp', gpus: 8, tp: 4, partition: [4096] }, /^partition: needs one chunk per tensor-parallel group: 2 values \(got 1\)/],
    [{ strategy: 'kvr-e', collective: 'direct' }, /^collective: only applies to strategies with collectives \(tsp, tsp-causal, tp, tp-sp, kvr-tp\); strategy is kvr-e/],
    [{ strategy: 'tsp', collective: 'tree' }, /^collective: expected one of ring, direct/],
    [{ strategy: 'tp', tp: 2 }, /^tp: only applies to strategy kvr-tp/],
  ])('rejects %j', (override, message) => {
    const request = { strategy: 'kvr-e', model: llama7b, context: 4096, gpus: 2, ...override } as Parameters<typeof buildPlan>[0];
    expect(() => buildPlan(request)).toThrow(message);
  });
});
