import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { llama7b } from '../../support/scenarios.js';

describe('buildPlan', () => {
  test('plans are plain JSON: they survive a round trip unchanged', () => {
    for (const strategy of ['single', 'tsp', 'tsp-causal', 'kvr-e'] as const) {
      const plan = buildPlan({ strategy, model: llama7b, context: 4096, gpus: strategy === 'single' ? 1 : 4 });
      expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      expect(plan.schema).toBe('kvr-plan@1');
      plan.ops.forEach((op, i) => expect(op.id).toBe(i));
    }
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
  ])('rejects %j', (override, message) => {
    const request = { strategy: 'kvr-e', model: llama7b, context: 4096, gpus: 2, ...override } as Parameters<typeof buildPlan>[0];
    expect(() => buildPlan(request)).toThrow(message);
  });
});
