import { afterEach, describe, expect, test, vi } from 'vitest';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { OpTable } from '../../../sim/plan/op-table.js';
import type { Plan } from '../../../sim/plan/plan.js';
import { hasOpTable, planOpTotal, planTable, withPlanFields } from '../../../sim/plan/table-plan.js';
import { reshapeKvrPlan } from '../../../sim/plan/strategies/kvr.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import { runPlan } from '../../../sim/engine/engine.js';
import { buildResult } from '../../../sim/result/result.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { a100, llama7b, topology } from '../../support/scenarios.js';
import { multiNode, PLAN_REQUESTS as REQUESTS } from '../../support/plan-requests.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('plans that keep their ops as columns', () => {
  test.each(REQUESTS)('%s: a plain copy of the plan (its ops as objects) simulates to the same bits', (_, request) => {
    const plan = buildPlan(request);
    const plain: Plan = JSON.parse(JSON.stringify(plan)) as Plan;
    expect(hasOpTable(plan)).toBe(true);
    expect(hasOpTable(plain)).toBe(false);
    const topo = request.fabric === undefined ? topology('switch', request.gpus, 300e9, 2e-6) : multiNode;
    const router = scenarioRouter({ topology: topo, gpu: a100 });
    const durations = opDurations(plan, a100);
    expect(opDurations(plain, a100)).toEqual(durations);
    const run = runPlan(plan, durations, router);
    const plainRun = runPlan(plain, durations, router);
    expect(plainRun.end).toEqual(run.end);
    expect(plainRun.events).toBe(run.events);
    const origin = { kind: 'even' } as const;
    expect(buildResult(plain, plainRun, durations, a100, topo, origin)).toEqual(buildResult(plan, run, durations, a100, topo, origin));
  });

  test('simulate runs whole plans without writing out a single op object', () => {
    const written = vi.spyOn(OpTable.prototype, 'op');
    const scenarios: Scenario[] = [
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'ring-q', tp: 2 },
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'pp-chunked', tp: 2, chunk: 4096 },
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'tp-sp' },
      { model: llama7b, gpu: a100, topology: topology('switch', 8, 300e9, 2e-6), gpus: 8, context: 16384, strategy: 'kvr-s' },
    ];
    for (const scenario of scenarios) {
      const sim = simulate(scenario);
      expect(sim.result.ttft_s).toBeGreaterThan(0);
      expect(hasOpTable(sim.plan)).toBe(true);
    }
    expect(written).not.toHaveBeenCalled();
  });

  test('its ops are a frozen snapshot, written anew after a reshape; assigning ops makes it a plain plan', () => {
    const plan = buildPlan({ strategy: 'kvr', model: llama7b, context: 4096, gpus: 2, partition: [2048, 2048] });
    const ops = plan.ops;
    expect(plan.ops).toBe(ops);
    expect(() => {
      (ops[0] as { flops: number }).flops = 1;
    }).toThrow(TypeError);
    expect(() => ops.push(ops[0]!)).toThrow(TypeError);
    reshapeKvrPlan(plan, [1024, 3072]);
    expect(plan.ops).not.toBe(ops);
    expect(plan.ops.find((op) => op.kind === 'compute' && op.rank === 1)).toMatchObject({ tokens: 3072, prefix: 1024 });
    const mine = plan.ops.map((op) => ({ ...op }));
    plan.ops = mine;
    expect(hasOpTable(plan)).toBe(false);
    expect(plan.ops).toBe(mine);
    expect(planOpTotal(plan)).toBe(mine.length);
    expect(() => reshapeKvrPlan(plan, [2048, 2048])).toThrow(/keeps its ops as objects/);
  });

  test('withPlanFields changes the header and keeps the columns, writing out no op', () => {
    const plan = buildPlan({ strategy: 'ring-q', model: llama7b, context: 4096, gpus: 4 });
    const written = vi.spyOn(OpTable.prototype, 'op');
    const other = withPlanFields(plan, { strategy: 'ring-kv' });
    expect(other.strategy).toBe('ring-kv');
    expect(planTable(other)).toBe(planTable(plan));
    expect(Object.keys(other)).toEqual(Object.keys(plan));
    expect(written).not.toHaveBeenCalled();
  });
});
