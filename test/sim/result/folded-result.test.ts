import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runPlan } from '../../../sim/engine/engine.js';
import { FOLD_SAMPLE_LAYERS, foldSample, type LayerFold } from '../../../sim/engine/layer-fold.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import { buildPlan, estimateSimulationBytes, formatBytes, MAX_PLAN_OPS, planOpCount, type PlanRequest } from '../../../sim/plan/build-plan.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import type { Plan } from '../../../sim/plan/plan.js';
import { buildFoldedResult } from '../../../sim/result/folded-result.js';
import { buildResult, type SimResult } from '../../../sim/result/result.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import { FOLD_WITHOUT_BUILDING_OPS, simulate, type Scenario } from '../../../sim/simulate.js';
import { foldScenarioArb } from '../../support/fold-scenarios.js';
import { propertyOptions } from '../../support/property.js';
import { ideal, tinyModel, topology } from '../../support/scenarios.js';

/**
 * Every number of a result within `tolerance` relative of the other's (relative to `scale` when
 * larger: a rank's wait_s is finish_s - compute_s, a difference of two sums each held to it);
 * everything else equal.
 */
function expectClose(actual: unknown, expected: unknown, tolerance: number, path = 'result', scale = 0): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const gap = actual === expected ? 0 : Math.abs(actual - expected) / Math.max(Math.abs(actual), Math.abs(expected), scale);
    if (!(gap <= tolerance)) throw new Error(`${path}: ${actual} vs ${expected} (relative gap ${gap})`);
    return;
  }
  if (typeof expected !== 'object' || expected === null) {
    expect(actual, path).toEqual(expected);
    return;
  }
  expect(typeof actual, path).toBe('object');
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  expect(Object.keys(a).sort(), path).toEqual(Object.keys(e).sort());
  for (const key of Object.keys(e)) expectClose(a[key], e[key], tolerance, `${path}.${key}`, key === 'wait_s' ? (e.finish_s as number) : 0);
}

function request(scenario: Scenario, plan: Plan): PlanRequest {
  return {
    strategy: scenario.strategy,
    model: scenario.model,
    context: scenario.context,
    gpus: scenario.gpus,
    fabric: topologyFabric(scenario.topology, scenario.gpus),
    ...(scenario.tp === undefined ? {} : { tp: scenario.tp }),
    ...(scenario.partition === undefined ? {} : { partition: plan.partition.filter((_, rank) => rank % (scenario.tp ?? 1) === 0) }),
  };
}

/** The result from the first sample that folds, built from the sample alone; or undefined. */
function foldedResult(scenario: Scenario, whole: Plan): { result: SimResult; fold: LayerFold } | undefined {
  const router = scenarioRouter(scenario);
  for (const n of FOLD_SAMPLE_LAYERS) {
    if (2 * n > scenario.model.layers) return undefined;
    const sample = buildPlan({ ...request(scenario, whole), model: { ...scenario.model, layers: n } });
    const durations = opDurations(sample, scenario.gpu);
    const fold = foldSample(sample, durations, router, scenario.model.layers);
    if (fold === 'unfoldable') return undefined;
    if (fold !== undefined) {
      return { fold, result: buildFoldedResult(sample, scenario.model, fold, durations, scenario.gpu, scenario.topology, { kind: 'even' }, 'flash', router) };
    }
  }
  return undefined;
}

describe('results from a sample of the layers (sim/result/folded-result.ts)', () => {
  test('equal the whole plan\'s result, every field to 1e-9 relative, on random plans and topologies', () => {
    let folded = 0;
    fc.assert(
      fc.property(foldScenarioArb, (scenario) => {
        const router = scenarioRouter(scenario);
        const plan = buildPlan(request(scenario, simulate(scenario).plan));
        const durations = opDurations(plan, scenario.gpu);
        const whole = buildResult(plan, runPlan(plan, durations, router), durations, scenario.gpu, scenario.topology, { kind: 'even' }, 'flash', router);
        const sampled = foldedResult(scenario, plan);
        if (sampled === undefined) return;
        folded += 1;
        expectClose(sampled.result, whole, 1e-9);
      }),
      propertyOptions(40),
    );
    expect(folded).toBeGreaterThan(10);
  });

  test(`simulate folds plans of ${FOLD_WITHOUT_BUILDING_OPS} engine ops or more without building them, and builds them when asked`, () => {
    // kvr-e over 64 ranks: 4 compute ops per rank and layer and 63 sends, 1 lm_head.
    const model = { ...tinyModel, layers: 640 };
    expect(planOpCount('kvr-e', model.layers, 64)).toBe(640 * (4 * 64 + 63) + 1);
    expect(planOpCount('kvr-e', model.layers, 64)).toBeGreaterThanOrEqual(FOLD_WITHOUT_BUILDING_OPS);
    const scenario: Scenario = { model, gpu: ideal, topology: topology('switch', 64, 1e11), gpus: 64, context: 64 * 64, strategy: 'kvr-e' };
    const sim = simulate(scenario);
    const router = scenarioRouter(scenario);
    // Reading the plan builds it whole: 640 layers.
    expect(sim.plan.ops.length).toBe(planOpCount('kvr-e', model.layers, 64));
    const full = runPlan(sim.plan, sim.durations, router);
    const whole = buildResult(sim.plan, full, sim.durations, ideal, scenario.topology, { kind: 'even' }, 'flash', router);
    expectClose(sim.result, whole, 1e-9);
    expect(sim.result.events).toBe(full.events);
  });

  test('a sample too big to hold is refused with its op count and estimated memory, naming the sample', () => {
    const model = { ...tinyModel, heads: 16, layers: 32 };
    // Direct all-gathers share links: no recurrence (sim/engine/layer-recurrence.ts), only a sample.
    const scenario: Scenario = { model, gpu: ideal, topology: topology('switch', 1024, 1e11), gpus: 1024, context: 4096, strategy: 'tsp', collective: 'direct' };
    const sampleOps = planOpCount('tsp', FOLD_SAMPLE_LAYERS[0], 1024);
    expect(sampleOps).toBe(6 * (4 * 1024 + 1024 * 1023) + 1);
    const bytes = estimateSimulationBytes('tsp', FOLD_SAMPLE_LAYERS[0], 1024, { collective: 'direct' }).bytes;
    expect(() => simulate(scenario)).toThrow(`gpus: tsp on 1024 GPUs with a sample of 6 of its 32 layers needs ${sampleOps} plan ops, about ${formatBytes(bytes)} of memory to simulate (limit ${MAX_PLAN_OPS} ops); use fewer GPUs`);
  });
});
