import { runPlan, type EngineRun } from './engine/engine.js';
import { KvrInputError } from './errors.js';
import type { GpuSpec } from './hardware/gpu-spec.js';
import { opDurations } from './hardware/op-durations.js';
import type { ModelSpec } from './model/model-spec.js';
import { buildPlan } from './plan/build-plan.js';
import type { Plan, StrategyName } from './plan/plan.js';
import { buildResult, type SimResult } from './result/result.js';
import { Router } from './topology/routing.js';
import type { Topology } from './topology/topology.js';

/** Everything one prediction depends on. */
export interface Scenario {
  model: ModelSpec;
  gpu: GpuSpec;
  /** Ranks 0..gpus-1 run on the topology's first `gpus` GPU nodes. */
  topology: Topology;
  gpus: number;
  context: number;
  strategy: StrategyName;
  /** Strategy kvr only. */
  partition?: number[];
}

export interface Simulation {
  plan: Plan;
  durations: Float64Array;
  run: EngineRun;
  result: SimResult;
}

/** scenario -> plan -> op costs -> event engine -> result. Pure: same scenario, same bits. */
export function simulate(scenario: Scenario): Simulation {
  const router = new Router(scenario.topology);
  if (scenario.gpus > router.gpuCount) {
    throw new KvrInputError(
      'gpus',
      `topology ${scenario.topology.name} has ${router.gpuCount} GPUs, fewer than ${scenario.gpus}`,
    );
  }
  const request = {
    strategy: scenario.strategy,
    model: scenario.model,
    context: scenario.context,
    gpus: scenario.gpus,
    ...(scenario.partition === undefined ? {} : { partition: scenario.partition }),
  };
  const plan = buildPlan(request);
  const durations = opDurations(plan, scenario.gpu);
  const run = runPlan(plan, durations, router);
  const result = buildResult(plan, run, durations, scenario.gpu, scenario.topology);
  return { plan, durations, run, result };
}
