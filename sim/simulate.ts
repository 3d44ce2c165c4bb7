import type { EngineRun } from './engine/engine.js';
import { runPlanFolded } from './engine/layer-fold.js';
import { scenarioRouter } from './scenario-router.js';
import { KvrInputError } from './errors.js';
import type { GpuSpec } from './hardware/gpu-spec.js';
import { opDurations } from './hardware/op-durations.js';
import { emptyLedger } from './hardware/shape-durations.js';
import type { ModelSpec } from './model/model-spec.js';
import { checkPrecisionOnGpu } from './model/precision.js';
import type { PartitionTable } from './partition/partition-table.js';
import { predictPartition, type Predictor } from './partition/predict-partition.js';
import { DEFAULT_SEARCH, searchPartition, type SearchOptions } from './partition/search-partition.js';
import { DEFAULT_GRANULARITY } from './partition/lattice.js';
import { buildPlan, checkPlanRequest } from './plan/build-plan.js';
import type { CollectiveChoice, Plan, StrategyName } from './plan/plan.js';
import { topologyFabric, type CollectiveProtocol } from './plan/collective-tuner.js';
import { buildResult, type PartitionOrigin, type SimResult } from './result/result.js';
import type { Topology } from './topology/topology.js';
import type { AttentionImplementation } from './work/op-kernels.js';

/** Everything one prediction depends on. */
export interface Scenario {
  model: ModelSpec;
  gpu: GpuSpec;
  /** Ranks 0..gpus-1 run on the topology's first `gpus` GPU nodes. */
  topology: Topology;
  gpus: number;
  context: number;
  strategy: StrategyName;
  /** Strategy kvr; or kvr-tp, one chunk per group (else searched). */
  partition?: number[];
  /** Strategy kvr-tp: GPUs per tensor-parallel group (divides gpus). */
  tp?: number;
  /** Collective algorithm of tsp, tsp-causal, tp, tp-sp and kvr-tp (default auto: the tuner's pick per collective). */
  collective?: CollectiveChoice;
  /** Ring channels and NCCL protocol, when forced (default: the tuner's). */
  channels?: number;
  protocol?: CollectiveProtocol;
  /** Strategies kvr-s and kvr-tp: how to search (default: fast, 64-token granularity). */
  search?: SearchOptions;
  /** Attention implementation the costs assume (default: flash). */
  attention?: AttentionImplementation;
  /** Strategy kvr-p: the predictor (default: model) and, for interpolate, its partition table. */
  predictor?: Predictor;
  partitionTable?: PartitionTable;
}

export interface Simulation {
  plan: Plan;
  durations: Float64Array;
  run: EngineRun;
  result: SimResult;
}

/**
 * scenario -> (kvr-s: search | kvr-p: predict) partition -> plan -> op costs -> event engine ->
 * result. Pure: the same scenario gives the same bits.
 */
export function simulate(scenario: Scenario): Simulation {
  const router = scenarioRouter(scenario);
  if (scenario.gpus > router.gpuCount) {
    throw new KvrInputError(
      'gpus',
      `topology ${scenario.topology.name} has ${router.gpuCount} GPUs, fewer than ${scenario.gpus}`,
    );
  }
  const { strategy, model, context, gpus } = scenario;
  const options = {
    ...(scenario.tp === undefined ? {} : { tp: scenario.tp }),
    ...(scenario.collective === undefined ? {} : { collective: scenario.collective }),
    ...(scenario.channels === undefined ? {} : { channels: scenario.channels }),
    ...(scenario.protocol === undefined ? {} : { protocol: scenario.protocol }),
    fabric: topologyFabric(scenario.topology, scenario.gpus),
  };
  checkPlanRequest({ strategy, model, context, gpus, ...options });
  checkPrecisionOnGpu(model, scenario.gpu);
  if (scenario.partition !== undefined && strategy !== 'kvr' && strategy !== 'kvr-tp') {
    throw new KvrInputError('partition', `only strategy kvr takes a partition, and kvr-tp one per group (strategy is ${strategy})`);
  }
  const { partition, origin } = resolvePartition(scenario);
  const plan = buildPlan({ strategy, model, context, gpus, ...options, ...(partition === undefined ? {} : { partition }) });
  const attention = scenario.attention ?? 'flash';
  const ledger = scenario.gpu.shape === undefined ? undefined : emptyLedger();
  const durations = opDurations(plan, scenario.gpu, attention, ledger);
  // Identical layers: a steady state found in a sample of them gives the rest (engine/layer-fold.ts).
  const run = runPlanFolded(plan, durations, router);
  const result = buildResult(plan, run, durations, scenario.gpu, scenario.topology, origin, attention, router);
  if (ledger !== undefined) {
    // The band: each kernel's cross-validated class error, weighted by its share of compute time.
    // A preset's shape-aware defaults (no measurements, no cross-validated error) have no band.
    const cv = scenario.gpu.shape!.cv_error;
    if (cv.gemm != null || cv.attention != null || cv.memory != null) {
      const e = ledger.total_seconds > 0 ? ledger.error_seconds / ledger.total_seconds : 0;
      result.ttft_band = e;
      result.ttft_band_s = [result.ttft_s * (1 - e), result.ttft_s * (1 + e)];
    }
    result.stack = scenario.gpu.stack_description ?? scenario.gpu.shape!.stack;
    const warnings = [...ledger.notes].sort();
    const memoryShare = ledger.total_seconds > 0 ? ledger.memory_seconds / ledger.total_seconds : 0;
    if (memoryShare > 0 && scenario.gpu.shape!.cv_error.memory == null) {
      warnings.push(`memory-bound kernels: ${(memoryShare * 100).toFixed(1)}% of compute time, priced from bytes and published constants, not measured (outside the band)`);
    }
    result.warnings = warnings;
    result.extrapolated = ledger.notes.size > 0;
  }
  return { plan, durations, run, result };
}

function resolvePartition(scenario: Scenario): { partition?: number[]; origin: PartitionOrigin } {
  switch (scenario.strategy) {
    case 'kvr':
      return { ...(scenario.partition === undefined ? {} : { partition: scenario.partition }), origin: { kind: 'given' } };
    case 'kvr-tp':
    case 'kvr-s': {
      // kvr-tp is searched like kvr-s, over the groups, unless its group chunks are given.
      if (scenario.strategy === 'kvr-tp' && scenario.partition !== undefined) return { partition: scenario.partition, origin: { kind: 'given' } };
      const search = scenario.search ?? DEFAULT_SEARCH;
      const outcome = searchPartition(scenario, search);
      return {
        partition: outcome.partition,
        origin: { kind: 'searched', method: search.method, granularity: search.granularity, simulations: outcome.simulations },
      };
    }
    case 'kvr-p': {
      const predictor = scenario.predictor ?? 'model';
      const partition = predictPartition(scenario, predictor, scenario.partitionTable);
      return {
        partition,
        origin: { kind: 'predicted', predictor, granularity: scenario.partitionTable?.granularity ?? DEFAULT_GRANULARITY },
      };
    }
    case 'single':
      return { origin: { kind: 'single' } };
    default:
      return { origin: { kind: 'even' } };
  }
}
