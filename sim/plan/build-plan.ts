import { KvrInputError } from '../errors.js';
import type { ModelSpec } from '../model/model-spec.js';
import { checkPartition, evenPartition } from './partition.js';
import { STRATEGY_NAMES, type Plan, type StrategyName } from './plan.js';
import { kvrPlan } from './strategies/kvr.js';
import { tspPlan } from './strategies/tsp.js';

export interface PlanRequest {
  strategy: StrategyName;
  model: ModelSpec;
  context: number;
  gpus: number;
  /** The chunk of each rank: given for kvr, searched for kvr-s, predicted for kvr-p. */
  partition?: number[];
}

export const MAX_GPUS = 1024;
export const MAX_CONTEXT = 1 << 24;
/** Plans beyond this many ops would take gigabytes; refuse them instead of exhausting memory. */
export const MAX_PLAN_OPS = 2_000_000;

/** Ops a plan will have: four compute ops per rank and layer, the transfers, and the logits. */
export function planOpCount(strategy: StrategyName, layers: number, gpus: number): number {
  const ranks = strategy === 'single' ? 1 : gpus;
  const transfers = strategy === 'tsp' || strategy === 'tsp-causal' ? ranks * (ranks - 1) : ranks - 1;
  return layers * (4 * ranks + transfers) + 1;
}

/** Rejects strategy, GPU count and context combinations that mean nothing, before any work. */
export function checkPlanRequest(request: Omit<PlanRequest, 'partition'>): void {
  const { strategy, model, context, gpus } = request;
  if (!(STRATEGY_NAMES as readonly string[]).includes(strategy)) {
    throw new KvrInputError('strategy', `expected one of ${STRATEGY_NAMES.join(', ')} (got "${strategy}")`);
  }
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > MAX_GPUS) {
    throw new KvrInputError('gpus', `expected an integer in 1..${MAX_GPUS} (got ${gpus})`);
  }
  if (!Number.isInteger(context) || context < gpus || context > MAX_CONTEXT) {
    throw new KvrInputError('context', `expected an integer in ${gpus}..${MAX_CONTEXT}, at least one token per GPU (got ${context})`);
  }
  if (strategy === 'single' && gpus !== 1) {
    throw new KvrInputError('gpus', `strategy single runs on one GPU (got ${gpus})`);
  }
  const opCount = planOpCount(strategy, model.layers, gpus);
  if (opCount > MAX_PLAN_OPS) {
    throw new KvrInputError(
      'gpus',
      `${strategy} on ${gpus} GPUs with ${model.layers} layers needs ${opCount} plan ops (limit ${MAX_PLAN_OPS}); use fewer GPUs`,
    );
  }
}

/** Turns a strategy and a scenario into a plan. */
export function buildPlan(request: PlanRequest): Plan {
  checkPlanRequest(request);
  const { strategy, model, context, gpus, partition } = request;
  const takesPartition = strategy === 'kvr' || strategy === 'kvr-s' || strategy === 'kvr-p';
  if (takesPartition) {
    if (partition === undefined) throw new KvrInputError('partition', `is required by strategy ${strategy} (e.g. 6000,5000,5384)`);
    checkPartition(partition, context, gpus);
  } else if (partition !== undefined) {
    throw new KvrInputError('partition', `only strategy kvr takes a partition (strategy is ${strategy})`);
  }
  switch (strategy) {
    case 'single':
      return kvrPlan(model, [context], 'single');
    case 'kvr':
    case 'kvr-s':
    case 'kvr-p':
      return kvrPlan(model, [...partition!], strategy);
    case 'kvr-e':
      return kvrPlan(model, evenPartition(context, gpus), 'kvr-e');
    case 'tsp':
    case 'tsp-causal':
      return tspPlan(model, evenPartition(context, gpus), strategy);
  }
}
