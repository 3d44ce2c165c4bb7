import { compilePlan, executeProgram, runPlan, type EngineRun } from './engine/engine.js';
import { FOLD_SAMPLE_LAYERS, foldSample } from './engine/layer-fold.js';
import { buildFoldedResult } from './result/folded-result.js';
import type { Router } from './topology/routing.js';
import { scenarioRouter } from './scenario-router.js';
import { KvrInputError, PlanSizeError } from './errors.js';
import type { GpuSpec } from './hardware/gpu-spec.js';
import { opDurations } from './hardware/op-durations.js';
import { emptyLedger, shapeOpSeconds, type ShapeCostLedger } from './hardware/shape-durations.js';
import type { ModelSpec } from './model/model-spec.js';
import { checkPrecisionOnGpu } from './model/precision.js';
import type { PartitionTable } from './partition/partition-table.js';
import { predictPartition, type Predictor } from './partition/predict-partition.js';
import { DEFAULT_SEARCH, searchPartition, type SearchOptions } from './partition/search-partition.js';
import { DEFAULT_GRANULARITY } from './partition/lattice.js';
import { buildPlan, checkPlanRequest, checkPlanSize, type PlanRequest } from './plan/build-plan.js';
import { buildsWholePlan, mayFoldLayers, mayRunAsRecurrence } from './layer-fold-policy.js';
import { ComputePricer } from './hardware/compute-pricer.js';
import { runRecurrence } from './engine/layer-recurrence.js';
import { planRecurrence } from './plan/plan-recurrence.js';
import { buildRecurrenceResult } from './result/recurrence-result.js';
import { chooseRing } from './plan/ring-choice.js';
import type { CollectiveChoice, Plan, StrategyName } from './plan/plan.js';
import { planTable } from './plan/table-plan.js';
import { OP_COMPUTE, computeShape } from './plan/op-table.js';
import { topologyFabric, type CollectiveProtocol } from './plan/collective-tuner.js';
import { buildResult, type PartitionOrigin, type SimResult } from './result/result.js';
import type { Topology } from './topology/topology.js';
import type { AttentionImplementation } from './work/op-kernels.js';

export { FOLD_WITHOUT_BUILDING_OPS } from './layer-fold-policy.js';

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
  /** Strategies kvr-tp, ring-kv, ring-q, pp-chunked: GPUs per tensor-parallel group (divides gpus). */
  tp?: number;
  /** A MoE model under tp or tp-sp: expert-parallel ranks (1 or gpus; sim/plan/strategies/tp.ts). */
  ep?: number;
  /** With ep > 1: the busiest expert rank's routed pairs over the mean, in [1, ep] (sim/plan/expert-routing.ts). */
  expertImbalance?: number;
  /** Strategy pp-chunked: pipeline stages (default gpus / tp). */
  pp?: number;
  /** Strategy pp-chunked: tokens per prompt chunk, or `search` (least TTFT over CHUNK_CANDIDATES). */
  chunk?: number | 'search';
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
 * Told after each stage of one simulation (the partition found, then SIMULATION_STAGES - 1 more:
 * plan, op costs, compiled program, engine run, result), with `done` of `total` stages; the CLI
 * turns it into a progress bar (sim/ keeps no clock). A kvr-s search reports on its own
 * (SearchOptions.progress) before stage 0.
 */
export type SimulationProgress = (done: number, total: number) => void;
export const SIMULATION_STAGES = 5;

/**
 * scenario -> (kvr-s: search | kvr-p: predict) partition -> plan -> op costs -> event engine ->
 * result. Pure: the same scenario gives the same bits (`progress` only observes).
 */
export function simulate(scenario: Scenario, progress: SimulationProgress = () => undefined): Simulation {
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
    ...(scenario.ep === undefined ? {} : { ep: scenario.ep }),
    ...(scenario.expertImbalance === undefined ? {} : { expertImbalance: scenario.expertImbalance }),
    ...(scenario.pp === undefined ? {} : { pp: scenario.pp }),
    ...(scenario.collective === undefined ? {} : { collective: scenario.collective }),
    ...(scenario.channels === undefined ? {} : { channels: scenario.channels }),
    ...(scenario.protocol === undefined ? {} : { protocol: scenario.protocol }),
    fabric: topologyFabric(scenario.topology, scenario.gpus),
  };
  // A plan that may fold is size-checked only if it must be built whole (buildPlan checks it).
  const foldable = mayFoldLayers(scenario);
  const recurrent = mayRunAsRecurrence(scenario);
  checkPlanRequest({ strategy, model, context, gpus, ...options, ...(typeof scenario.chunk === 'number' ? { chunk: scenario.chunk } : {}) }, { size: buildsWholePlan(scenario) });
  checkPrecisionOnGpu(model, scenario.gpu);
  if (scenario.chunk === 'search') return searchChunk(scenario);
  if (scenario.partition !== undefined && strategy !== 'kvr' && strategy !== 'kvr-tp') {
    throw new KvrInputError('partition', `only strategy kvr takes a partition, and kvr-tp one per group (strategy is ${strategy})`);
  }
  const { partition, origin } = resolvePartition(scenario);
  progress(0, SIMULATION_STAGES);
  const chunk = typeof scenario.chunk === 'number' ? { chunk: scenario.chunk } : {};
  const request: PlanRequest = { strategy, model, context, gpus, ...options, ...chunk, ...(partition === undefined ? {} : { partition }) };
  const attention = scenario.attention ?? 'flash';
  if (recurrent) {
    const recurrence = recurrenceSimulation(scenario, request, router, origin, attention);
    if (recurrence !== undefined) {
      progress(SIMULATION_STAGES, SIMULATION_STAGES);
      return recurrence;
    }
  }
  if (foldable) {
    const folded = foldedSimulation(scenario, request, router, origin, attention);
    if (folded !== undefined) {
      progress(SIMULATION_STAGES, SIMULATION_STAGES);
      return folded;
    }
  }
  const plan = buildPlan(request);
  progress(1, SIMULATION_STAGES);
  const ledger = scenario.gpu.shape === undefined ? undefined : emptyLedger();
  const durations = opDurations(plan, scenario.gpu, attention, ledger);
  progress(2, SIMULATION_STAGES);
  const program = compilePlan(plan, router);
  progress(3, SIMULATION_STAGES);
  const run = executeProgram(program, durations);
  progress(4, SIMULATION_STAGES);
  const result = buildResult(plan, run, durations, scenario.gpu, scenario.topology, origin, attention, router);
  addRingChoice(scenario, result, router, plan.tp ?? 1);
  progress(5, SIMULATION_STAGES);
  if (ledger !== undefined) addShapeLedger(scenario.gpu, result, ledger);
  return { plan, durations, run, result };
}

/** Chunk sizes `--chunk search` tries: powers of two from 512 tokens up to the context, and the context. */
export function chunkCandidates(context: number): number[] {
  const sizes: number[] = [];
  for (let size = 512; size < context; size *= 2) sizes.push(size);
  sizes.push(context);
  return sizes;
}

/**
 * pp-chunked with `--chunk search`: simulates every candidate chunk size and keeps the one of least
 * TTFT (the first on a tie: the smallest), as kvr-s searches its partition. Candidates whose plans
 * are past the simulator's size limits (small chunks of a long prompt: ops grow with the chunks)
 * are left out and listed in the result; if none fits, the largest chunk's refusal is thrown.
 */
function searchChunk(scenario: Scenario): Simulation {
  let best: Simulation | undefined;
  const tooBig: number[] = [];
  let refusal: PlanSizeError | undefined;
  for (const chunk of chunkCandidates(scenario.context)) {
    let run: Simulation;
    try {
      run = simulate({ ...scenario, chunk });
    } catch (error) {
      if (!(error instanceof PlanSizeError)) throw error;
      tooBig.push(chunk);
      refusal = error;
      continue;
    }
    if (best === undefined || run.result.ttft_s < best.result.ttft_s) best = run;
  }
  if (best === undefined) throw refusal!;
  if (tooBig.length > 0) best.result.pipeline = { ...best.result.pipeline!, chunks_too_big: tooBig };
  return best;
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

/** ring-kv and ring-q: Yang et al.'s pass-KV / pass-Q recommendation at the ring's neighbour bandwidth. */
function addRingChoice(scenario: Scenario, result: SimResult, router: Router, tp: number): void {
  const { strategy, model, context, gpus } = scenario;
  if (strategy !== 'ring-kv' && strategy !== 'ring-q') return;
  // The bandwidth between ring neighbours: the slowest link from position 0 to position 1.
  const capacity = router.capacities();
  let bandwidth = Infinity;
  if (gpus > tp) for (const resource of router.route(0, tp).resources) bandwidth = Math.min(bandwidth, capacity[resource]!);
  result.ring_choice = chooseRing(model, context, 0, gpus / tp, scenario.gpu.peak_flops, bandwidth);
}

/** A shape-model GPU's band, stack, extrapolation notes and warnings, from the costs' ledger. */
function addShapeLedger(gpu: GpuSpec, result: SimResult, ledger: ShapeCostLedger): void {
  // The band: each kernel's cross-validated class error, weighted by its share of compute time.
  // A preset's shape-aware defaults (no measurements, no cross-validated error) have no band.
  const cv = gpu.shape!.cv_error;
  if (cv.gemm != null || cv.attention != null || cv.memory != null) {
    const e = ledger.total_seconds > 0 ? ledger.error_seconds / ledger.total_seconds : 0;
    result.ttft_band = e;
    result.ttft_band_s = [result.ttft_s * (1 - e), result.ttft_s * (1 + e)];
  }
  result.stack = gpu.stack_description ?? gpu.shape!.stack;
  const warnings = [...ledger.notes].sort();
  const memoryShare = ledger.total_seconds > 0 ? ledger.memory_seconds / ledger.total_seconds : 0;
  if (memoryShare > 0 && gpu.shape!.cv_error.memory == null) {
    warnings.push(`memory-bound kernels: ${(memoryShare * 100).toFixed(1)}% of compute time, priced from bytes and published constants, not measured (outside the band)`);
  }
  result.warnings = warnings;
  result.extrapolated = ledger.notes.size > 0;
}

/**
 * A shape-model GPU's cost ledger of the whole plan from a folded sample of n of its L identical
 * layers: the sample's ledger plus L - n times its last layer's (the fold checked that every layer
 * has the same ops and durations, so each has the same ledger; the notes are the sample's).
 */
function foldedLedger(sample: Plan, gpu: GpuSpec, attention: AttentionImplementation, L: number): ShapeCostLedger {
  const ledger = emptyLedger();
  opDurations(sample, gpu, attention, ledger);
  const last = emptyLedger();
  const n = sample.model.layers;
  const table = planTable(sample);
  for (let id = 0; id < table.count; id++) {
    if (table.kind[id] === OP_COMPUTE && table.layer[id] === n - 1) shapeOpSeconds(sample.model, computeShape(table, id), gpu.shape!, attention, last);
  }
  const extra = L - n;
  return {
    notes: ledger.notes,
    error_seconds: ledger.error_seconds + extra * last.error_seconds,
    memory_seconds: ledger.memory_seconds + extra * last.memory_seconds,
    total_seconds: ledger.total_seconds + extra * last.total_seconds,
  };
}

/**
 * The simulation as a layer recurrence (sim/engine/layer-recurrence.ts: the engine's times of a
 * plan on dedicated links, without building it), or undefined when the plan has none. Its plan,
 * durations and run are built on first use.
 */
function recurrenceSimulation(scenario: Scenario, request: PlanRequest, router: Router, origin: PartitionOrigin, attention: AttentionImplementation): Simulation | undefined {
  const pricer = new ComputePricer(scenario.model, scenario.gpu, attention);
  const recurrence = planRecurrence(request, router, pricer);
  if (recurrence === undefined) return undefined;
  const run = runRecurrence(recurrence, scenario.model.layers);
  if (run === undefined) return undefined;
  const { result, ledger } = buildRecurrenceResult(recurrence, run, pricer.notes, scenario.gpu, scenario.topology, origin, attention, router);
  addRingChoice(scenario, result, router, recurrence.header.tp ?? 1);
  if (scenario.gpu.shape !== undefined) addShapeLedger(scenario.gpu, result, ledger);
  return lazilyWhole(scenario, request, router, attention, result);
}

/** A simulation whose result is known, and whose plan, durations and run are built on first use. */
function lazilyWhole(scenario: Scenario, request: PlanRequest, router: Router, attention: AttentionImplementation, result: SimResult): Simulation {
  let whole: { plan: Plan; durations: Float64Array; run: EngineRun } | undefined;
  const build = (): { plan: Plan; durations: Float64Array; run: EngineRun } => {
    if (whole !== undefined) return whole;
    const plan = buildPlan(request);
    const all = opDurations(plan, scenario.gpu, attention);
    whole = { plan, durations: all, run: runPlan(plan, all, router) };
    return whole;
  };
  return {
    get plan() {
      return build().plan;
    },
    get durations() {
      return build().durations;
    },
    get run() {
      return build().run;
    },
    result,
  };
}

/**
 * The simulation from a sample of the layers (sim/engine/layer-fold.ts), or undefined when no
 * sample folds. Its plan, durations and run (the whole plan's) are built on first use.
 */
function foldedSimulation(scenario: Scenario, request: PlanRequest, router: Router, origin: PartitionOrigin, attention: AttentionImplementation): Simulation | undefined {
  const { model } = scenario;
  for (const n of FOLD_SAMPLE_LAYERS) {
    if (2 * n > model.layers) break;
    const sampleRequest = { ...request, model: { ...model, layers: n } };
    checkPlanSize(sampleRequest, model.layers);
    const sample = buildPlan(sampleRequest);
    const durations = opDurations(sample, scenario.gpu, attention);
    const fold = foldSample(sample, durations, router, model.layers);
    if (fold === 'unfoldable') return undefined;
    if (fold === undefined) continue;
    const result = buildFoldedResult(sample, model, fold, durations, scenario.gpu, scenario.topology, origin, attention, router);
    addRingChoice(scenario, result, router, sample.tp ?? 1);
    if (scenario.gpu.shape !== undefined) addShapeLedger(scenario.gpu, result, foldedLedger(sample, scenario.gpu, attention, model.layers));
    return lazilyWhole(scenario, request, router, attention, result);
  }
  return undefined;
}
