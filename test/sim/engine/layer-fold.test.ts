import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runPlan, type EngineRun } from '../../../sim/engine/engine.js';
import { FOLD_SAMPLE_LAYERS, planLayers, runPlanFolded, type FoldMode } from '../../../sim/engine/layer-fold.js';
import { logitsOpId } from '../../../sim/plan/plan.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { topologyFromJson } from '../../../sim/topology/topology.js';
import { foldScenarioArb } from '../../support/fold-scenarios.js';
import { propertyOptions } from '../../support/property.js';
import { ideal, tinyModel, topology } from '../../support/scenarios.js';

/** Largest relative difference between two runs' op times (all ops, start, flow start and end). */
function maxRelativeGap(a: EngineRun, b: EngineRun): number {
  let gap = 0;
  for (const key of ['start', 'flowStart', 'end'] as const) {
    expect(b[key].length).toBe(a[key].length);
    for (let i = 0; i < a[key].length; i++) {
      const x = a[key][i]!;
      const y = b[key][i]!;
      const g = x === y ? 0 : Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y));
      if (!(g <= gap)) gap = g;
    }
  }
  return gap;
}

describe('layer folding (sim/engine/layer-fold.ts)', () => {
  test('a folded run gives every op the times of the full run, to 1e-9 relative, on random plans and topologies', () => {
    const folds: Record<FoldMode | 'full', number> = { periodic: 0, 'per-op': 0, full: 0 };
    fc.assert(
      fc.property(foldScenarioArb, (scenario) => {
        const sim = simulate(scenario);
        const router = scenarioRouter(scenario);
        const full = runPlan(sim.plan, sim.durations, router);
        const folded = runPlanFolded(sim.plan, sim.durations, router);
        folds[folded.fold?.mode ?? 'full'] += 1;
        expect(maxRelativeGap(full, folded)).toBeLessThanOrEqual(1e-9);
        expect(Array.from(folded.indexOf)).toEqual(Array.from(full.indexOf));
        expect(folded.events).toBe(full.events);
        expect(Math.abs(folded.makespan - full.makespan)).toBeLessThanOrEqual(1e-9 * full.makespan);
        // simulate() folds too: its TTFT is the full run's.
        const ttft = full.end[full.indexOf[logitsOpId(sim.plan)]!]!;
        expect(Math.abs(sim.result.ttft_s - ttft)).toBeLessThanOrEqual(1e-9 * ttft);
      }),
      propertyOptions(60),
    );
    // The property says something only if both kinds of fold happened.
    expect(folds.periodic).toBeGreaterThan(0);
    expect(folds['per-op']).toBeGreaterThan(0);
  });

  test('tsp on a switch is periodic: the engine runs 6 of 24 layers, and every layer after the first takes the same time', () => {
    const model = { ...tinyModel, layers: 24 };
    const scenario: Scenario = { model, gpu: ideal, topology: topology('switch', 4, 1e9), gpus: 4, context: 1024, strategy: 'tsp' };
    const sim = simulate(scenario);
    const run = runPlanFolded(sim.plan, sim.durations, scenarioRouter(scenario));
    expect(run.fold).toEqual({ mode: 'periodic', sampleLayers: FOLD_SAMPLE_LAYERS[0] });
    const K = planLayers(sim.plan)!.perLayer;
    // 4 compute ops per rank and layer, 4 x 3 ring all-gather transfers.
    expect(K).toBe(4 * 4 + 4 * 3);
    const layerEnd = (j: number): number => run.end[(j + 1) * K - 1]!;
    const period = layerEnd(2) - layerEnd(1);
    for (let j = 2; j < 24; j++) expect(layerEnd(j) - layerEnd(j - 1)).toBeCloseTo(period, 15);
  });

  test('kvr-e on dedicated links folds per op: rank i runs at the pace of the slowest rank up to i', () => {
    const model = { ...tinyModel, layers: 30 };
    const scenario: Scenario = { model, gpu: ideal, topology: topology('switch', 4, 1e12), gpus: 4, context: 4096, strategy: 'kvr-e' };
    const sim = simulate(scenario);
    const run = runPlanFolded(sim.plan, sim.durations, scenarioRouter(scenario));
    expect(run.fold?.mode).toBe('per-op');
    // With fast links each rank's layer is its own compute (later ranks attend longer prefixes),
    // so rank r's mlp ends advance by the sum of its four op durations per layer.
    for (let rank = 0; rank < 4; rank++) {
      const mlp = sim.plan.ops.filter((op) => op.kind === 'compute' && op.rank === rank && op.name === 'mlp');
      const own = sim.plan.ops
        .filter((op) => op.kind === 'compute' && op.rank === rank && op.layer === 5)
        .reduce((sum, op) => sum + sim.durations[op.id]!, 0);
      const step = run.end[mlp[29]!.id]! - run.end[mlp[28]!.id]!;
      expect(step).toBeCloseTo(own, 12);
    }
  });

  test('noise on a link leaves the plan unfolded (the whole plan runs)', () => {
    const noisy = topologyFromJson({
      nodes: [{ id: 'a', kind: 'gpu' }, { id: 'b', kind: 'gpu' }, { id: 'sw', kind: 'switch' }],
      links: [
        { a: 'a', b: 'sw', bandwidth: '1 GB/s' },
        { a: 'b', b: 'sw', bandwidth: '1 GB/s', noise: { period: '1 ms', min_fraction: 0.5, seed: 7 } },
      ],
    });
    const scenario: Scenario = { model: { ...tinyModel, layers: 24 }, gpu: ideal, topology: noisy, gpus: 2, context: 1024, strategy: 'tsp' };
    const sim = simulate(scenario);
    expect(runPlanFolded(sim.plan, sim.durations, scenarioRouter(scenario)).fold).toBeUndefined();
  });

  test('a plan shorter than twice the smallest sample runs whole', () => {
    const scenario: Scenario = { model: { ...tinyModel, layers: 2 * FOLD_SAMPLE_LAYERS[0] - 1 }, gpu: ideal, topology: topology('switch', 2, 1e9), gpus: 2, context: 256, strategy: 'tsp' };
    const sim = simulate(scenario);
    expect(runPlanFolded(sim.plan, sim.durations, scenarioRouter(scenario)).fold).toBeUndefined();
  });
});
