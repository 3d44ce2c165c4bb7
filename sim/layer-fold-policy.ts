import { FOLD_SAMPLE_LAYERS } from './engine/layer-fold.js';
import { planOpCount } from './plan/build-plan.js';
import type { StrategyName } from './plan/plan.js';
import { RECURRENCE_STRATEGIES } from './plan/plan-recurrence.js';
import type { Scenario } from './simulate.js';

/**
 * Strategies whose plans repeat layer after layer (sim/engine/layer-fold.ts checks each sample).
 * A strategy with layers that differ (pipeline stages) stays off this list; a MoE model with
 * leading dense layers has unequal layers and runs whole (the fold finds it unfoldable).
 */
const LAYER_FOLD_STRATEGIES: readonly StrategyName[] = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p', 'ring-kv', 'tp', 'tp-sp', 'kvr-tp'];
/**
 * Plans of at least this many engine ops are simulated from a sample of their layers, never built
 * whole unless a caller reads the simulation's plan, durations or run. Smaller plans are built and
 * run whole (still folded in the engine), so their sums keep the order of a plain loop.
 */
export const FOLD_WITHOUT_BUILDING_OPS = 20_000;

/**
 * Whether a sample of the scenario's layers may stand for all of them, whatever the plan's size:
 * a strategy of repeating layers, enough layers for the smallest sample, no noise or background
 * traffic.
 */
export function layersMayFold(scenario: Scenario): boolean {
  if (!LAYER_FOLD_STRATEGIES.includes(scenario.strategy)) return false;
  if (scenario.model.layers < 2 * FOLD_SAMPLE_LAYERS[0]) return false;
  const topology = scenario.topology;
  return !((topology.background?.length ?? 0) > 0 || topology.links.some((link) => link.noise !== undefined));
}

/**
 * Whether simulate (and the partition searches' TtftEvaluator, so that both give the same bits)
 * simulates the scenario from a sample of its layers: big plans of repeating layers, no noise.
 */
export function mayFoldLayers(scenario: Scenario): boolean {
  if (!layersMayFold(scenario)) return false;
  const ops = planOpCount(scenario.strategy, scenario.model.layers, scenario.gpus, {
    ...(scenario.tp === undefined ? {} : { tp: scenario.tp }),
    ...(scenario.ep === undefined ? {} : { ep: scenario.ep }),
    parallelBlock: scenario.model.block === 'parallel',
  });
  return ops >= FOLD_WITHOUT_BUILDING_OPS;
}

/**
 * Whether simulate times the scenario as a layer recurrence (sim/engine/layer-recurrence.ts) when
 * its plan has one: ring-kv (with or without --tp), tsp, tsp-causal, KV-Runahead and kvr-tp
 * plans as big as folded ones. Smaller plans are built and run whole, as before.
 */
export function mayRunAsRecurrence(scenario: Scenario): boolean {
  if (!RECURRENCE_STRATEGIES.includes(scenario.strategy)) return false;
  const ops = planOpCount(scenario.strategy, scenario.model.layers, scenario.gpus, {
    ...(scenario.tp === undefined ? {} : { tp: scenario.tp }),
    parallelBlock: scenario.model.block === 'parallel',
  });
  return ops >= FOLD_WITHOUT_BUILDING_OPS;
}

/**
 * Whether simulate may build the scenario's whole plan up front, so that its size is checked
 * before it runs: not when it folds the layers or runs them as a recurrence (a plan too big is
 * then refused only if it must be built after all). Commands that vet strategies before running
 * them (compare) check sizes the same way.
 */
export function buildsWholePlan(scenario: Scenario): boolean {
  return !mayFoldLayers(scenario) && !mayRunAsRecurrence(scenario);
}
