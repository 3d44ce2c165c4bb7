import { describe, expect, test } from 'vitest';
import { STRATEGY_NAMES } from '../../../sim/plan/plan.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { ideal, tinyModel, topology } from '../../support/scenarios.js';

describe('buildResult: ttft_s is when the first token exists, makespan_s when every rank is idle', () => {
  test.each(STRATEGY_NAMES.map((s) => [s]))('%s: ttft_s is the end of lm_head on the last rank; makespan_s the end of every op', (strategy) => {
    const gpus = strategy === 'single' ? 1 : 4;
    const s: Scenario = {
      model: tinyModel,
      gpu: ideal,
      topology: topology('switch', gpus, 1e9, 1e-6),
      gpus,
      context: 512,
      strategy,
      ...(strategy === 'kvr' ? { partition: [200, 150, 100, 62] } : {}),
      ...(strategy === 'kvr-tp' || strategy === 'pp-chunked' ? { tp: 2 } : {}),
      ...(strategy === 'pp-chunked' ? { chunk: 100 } : {}),
      ...(strategy === 'kvr-s' || strategy === 'kvr-tp' ? { search: { method: 'fast', granularity: 8 } } : {}),
    };
    const { plan, run, result } = simulate(s);
    const lmHead = plan.ops.filter((op) => op.kind === 'compute' && op.name === 'lm_head');
    expect(lmHead).toHaveLength(1);
    expect(lmHead[0]!.kind === 'compute' && lmHead[0]!.rank).toBe(plan.last_rank);
    expect(result.ttft_s).toBe(run.end[run.indexOf[lmHead[0]!.id]!]);
    expect(result.makespan_s).toBe(Math.max(...run.end));
    expect(result.ttft_s).toBeLessThanOrEqual(result.makespan_s);
  });
});
