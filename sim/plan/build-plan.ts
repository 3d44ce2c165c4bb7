import { KvrInputError, PlanSizeError } from '../errors.js';
import type { ModelSpec } from '../model/model-spec.js';
import { checkPartition, evenPartition } from './partition.js';
import { COLLECTIVE_CHOICES, COLLECTIVE_STRATEGIES, STRATEGY_NAMES, TP_STRATEGIES, type CollectiveAlgorithm, type CollectiveChoice, type Plan, type StrategyName } from './plan.js';
import { COLLECTIVE_PROTOCOLS, type CollectiveFabric, type CollectiveProtocol } from './collective-tuner.js';
import type { BuilderSetup } from './plan-builder.js';
import { kvrPlan } from './strategies/kvr.js';
import { kvrTpPlan } from './strategies/kvr-tp.js';
import { ringKvPlan } from './strategies/ring-kv.js';
import { ringQPlan } from './strategies/ring-q.js';
import { DEFAULT_PP_CHUNK, ppChunkedPlan, promptChunks } from './strategies/pp-chunked.js';
import { tpPlan } from './strategies/tp.js';
import { tspPlan } from './strategies/tsp.js';
import { checkExpertImbalance } from './expert-routing.js';

export interface PlanRequest {
  strategy: StrategyName;
  model: ModelSpec;
  context: number;
  gpus: number;
  /** The chunk of each rank: given for kvr, searched for kvr-s, predicted for kvr-p; per group for kvr-tp. */
  partition?: number[];
  /** kvr-tp, ring-kv, ring-q, pp-chunked: GPUs per tensor-parallel group (divides gpus; kvr-tp requires it, the others default to 1). */
  tp?: number;
  /** A MoE model's expert-parallel ranks (tp, tp-sp: 1 or gpus; sim/plan/strategies/tp.ts); absent: 1. */
  ep?: number;
  /** With ep > 1: the busiest expert rank's load over the mean, in [1, ep] (sim/plan/expert-routing.ts); absent: 1. */
  expertImbalance?: number;
  /** pp-chunked: pipeline stages (gpus = pp x tp; at most the model's layers). */
  pp?: number;
  /** pp-chunked: tokens per prompt chunk (default 8192, or the context when shorter). */
  chunk?: number;
  /**
   * Collective algorithm of tsp, tsp-causal, tp, tp-sp and kvr-tp: auto (the default with a
   * fabric: the tuner's pick per collective, sim/plan/collective-tuner.ts) or one forced. Without a
   * fabric (a plan built for no topology) the default is one ring with no protocol model.
   */
  collective?: CollectiveChoice;
  /** The machine the tuner sees (simulate passes the topology's). */
  fabric?: CollectiveFabric;
  /** Forced ring channels and NCCL protocol (absent: the tuner's). */
  channels?: number;
  protocol?: CollectiveProtocol;
}

export const MAX_GPUS = 1024;
export const MAX_CONTEXT = 1 << 24;
/**
 * Plans that store more than this many ops (a collective counted once, as the plan holds it) would
 * take gigabytes and minutes; refuse them instead of exhausting memory.
 */
export const MAX_PLAN_OPS = 2_000_000;

/**
 * Ops the engine will run for a plan: four compute ops per rank and layer (ring-kv: p attention
 * steps instead of one), the transfers (a collective op counted as the transfers it expands to, as
 * they are what the engine runs), and the logits. `tp` is kvr-tp's group size;
 * `parallelBlock` a Falcon-style block (one all-reduce per layer under tensor parallelism).
 */
export function planOpCount(strategy: StrategyName, layers: number, gpus: number, options: { tp?: number; parallelBlock?: boolean; channels?: number; ep?: number; chunks?: number } = {}): number {
  return planOpCounts(strategy, layers, gpus, options).engine;
}

/**
 * A plan's ops as stored and as run: `stored` the plan's own ops (a collective is one op, expanded
 * into its transfers only when compiled: sim/plan/expand.ts), `engine` the ops the engine runs
 * (planOpCount). Under expert parallelism the all-to-alls' count is not split: stored = engine there.
 */
export function planOpCounts(
  strategy: StrategyName,
  layers: number,
  gpus: number,
  options: { tp?: number; parallelBlock?: boolean; channels?: number; ep?: number; chunks?: number } = {},
): { stored: number; engine: number } {
  const ranks = strategy === 'single' ? 1 : gpus;
  // Expert parallelism adds per layer (at most) two MoE ops per rank and two all-to-alls of p(p-1) sends.
  if ((options.ep ?? 1) > 1) {
    const engine = planOpCount(strategy, layers, gpus, { ...options, ep: 1 }) + layers * (2 * ranks + 2 * ranks * (ranks - 1));
    return { stored: engine, engine };
  }
  // Rings per collective: each carries 1/n of every block, so n times the transfers.
  const n = options.channels ?? 1;
  const reductions = options.parallelBlock === true ? 1 : 2;
  // Collectives over t ranks (none below 2): how many, and the transfers they expand to.
  const counts = (plain: number, collectives: number, expanded: number, t: number): { stored: number; engine: number } =>
    t > 1 ? { stored: plain + collectives, engine: plain + expanded } : { stored: plain, engine: plain };
  switch (strategy) {
    case 'tsp':
    case 'tsp-causal': {
      // The all-gathers' transfers are the plan's own ops.
      const ops = layers * (4 * ranks + n * ranks * (ranks - 1)) + 1;
      return { stored: ops, engine: ops };
    }
    case 'ring-kv':
    case 'ring-q': {
      // Per position: qkv, g attention steps, o, mlp; g(g-1) block sends (ring-q: and as many
      // partial outputs back) for each of t shards; two all-reduces per zig-zag chunk.
      const t = options.tp ?? 1;
      const g = ranks / t;
      const sends = (strategy === 'ring-q' ? 2 : 1) * g * (g - 1) * t;
      return counts(layers * ((3 + g) * ranks + sends) + 1, layers * g * 2 * reductions, layers * g * 2 * n * reductions * 2 * t * (t - 1), t);
    }
    case 'pp-chunked': {
      // Every rank runs 4 ops per layer of its stage for every chunk: 4 t L per chunk in all; a
      // chunk enters stages 1.. by t sends and an all-gather.
      const t = options.tp ?? 1;
      const stages = ranks / t;
      const chunks = options.chunks ?? 1;
      return counts(
        chunks * (layers * 4 * t + (stages - 1) * t) + 1,
        chunks * (layers * reductions + (stages - 1)),
        chunks * (layers * n * reductions * 2 * t * (t - 1) + (stages - 1) * n * t * (t - 1)),
        t,
      );
    }
    case 'tp':
    case 'tp-sp':
      // An all-reduce (or a reduce-scatter + all-gather pair) moves 2(p-1) blocks per rank.
      return counts(layers * 4 * ranks + 1, layers * reductions * (strategy === 'tp-sp' ? 2 : 1), layers * n * reductions * 2 * ranks * (ranks - 1), ranks);
    case 'kvr-tp': {
      const t = options.tp ?? 1;
      const groups = ranks / t;
      return counts(layers * (4 * ranks + (groups - 1) * t) + 1, layers * groups * reductions, layers * n * groups * reductions * 2 * t * (t - 1), t);
    }
    default: {
      const ops = layers * (4 * ranks + ranks - 1) + 1;
      return { stored: ops, engine: ops };
    }
  }
}

/**
 * Dependency edges the engine holds for a plan: an upper estimate, within 1.5x for every strategy
 * and a few percent where the p^3 terms dominate (test/sim/plan/build-plan.test.ts holds it to
 * compiled plans). Most ops wait for one
 * or two others, but a collective that starts `together` makes each of its first transfers wait
 * for every member's ready op: a direct all-gather over p ranks is p(p-1) transfers of p deps each,
 * p^3 edges per layer, which is what costs gigabytes at a few hundred GPUs.
 */
export function planEdgeCount(
  strategy: StrategyName,
  layers: number,
  gpus: number,
  options: { tp?: number; parallelBlock?: boolean; collective?: CollectiveChoice; channels?: number; ep?: number; chunks?: number } = {},
): number {
  const p = strategy === 'single' ? 1 : gpus;
  // Expert parallelism: each send of the two all-to-alls waits for one op; each expert and combine op for p.
  if ((options.ep ?? 1) > 1) return planEdgeCount(strategy, layers, gpus, { ...options, ep: 1 }) + layers * 4 * p * p;
  const n = options.channels ?? 1;
  const direct = options.collective === 'direct';
  const reductions = options.parallelBlock === true ? 1 : 2;
  // One all-reduce (or reduce-scatter + all-gather pair) over t ranks, with its consumers.
  // A merged multi-channel ring step waits for both of the previous step's receives: 5 edges per
  // transfer pair instead of 3.
  const perRing = n > 1 ? 5 : 3;
  const reduction = (t: number): number => (direct ? 2 * t * t * t : perRing * n * t * t);
  switch (strategy) {
    case 'tsp':
    case 'tsp-causal':
      return layers * ((direct ? p * p * p : perRing * n * p * p) + 3 * p) + 1;
    case 'ring-kv':
    case 'ring-q': {
      // Most ops wait for one or two others; a direct all-reduce's transfers wait for every member.
      const t = options.tp ?? 1;
      const ops = planOpCount(strategy, layers, gpus, options);
      return 2 * ops + (direct && t > 1 ? layers * 2 * (p / t) * reductions * t * t * t : 0);
    }
    case 'pp-chunked': {
      const t = options.tp ?? 1;
      const ops = planOpCount(strategy, layers, gpus, options);
      const chunks = options.chunks ?? 1;
      // A stage's ops wait for the op before them (one edge each); all-reduces as tp's.
      return ops + (t > 1 ? chunks * layers * reductions * (direct ? 2 * t * t * t : 2 * n * t * t) : 0);
    }
    case 'tp':
    case 'tp-sp':
      return layers * (reductions * reduction(p) + 4 * p) + 1;
    case 'kvr-tp': {
      const t = options.tp ?? 1;
      return layers * ((p / t) * reductions * reduction(t) + 7 * p) + 1;
    }
    default:
      return layers * 7 * p + 1;
  }
}

/**
 * Bytes of memory a simulation takes per op the plan stores (its slots in the op table's columns,
 * about 90 bytes with its deps, the room the columns grow by while building, and its duration),
 * per op the engine runs (its per-op arrays, times and events, and the flow model's per-flow state
 * where transfers share links; a collective's transfers exist only here) and per dependency edge
 * (edge lists while compiling, successor lists). Fitted to the peak RSS over the baseline of plans
 * built and run whole on llama2-70b at 1M tokens: on the flow model (kvr simulate, multi-node)
 * ring-q on 64 GPUs (988k ops, 318 MB) and with --tp 2 on 128 (2.0M stored, 2.06M run, 625 MB),
 * which need 130 and 115 bytes per stored op at 160 per engine op; without shared links (buildPlan,
 * opDurations, runPlan on `switch`) tsp on 240 GPUs (16 layers: 933k ops, 261 MB), ring-kv on 128
 * (20 layers: 660k ops, 159 MB) and pp-chunked --tp 8 on 64 (356k stored, 2.68M run, 480 MB) need
 * less. With one object per op (before the op table) a stored op took 250 bytes.
 */
export const BYTES_PER_PLAN_OP = 140;
export const BYTES_PER_ENGINE_OP = 160;
export const BYTES_PER_PLAN_EDGE = 16;
/** Simulations estimated above this many bytes are refused before any work (a sweep runs several at once). */
export const MAX_SIMULATION_BYTES = 2e9;

/**
 * What a simulation of a plan will hold in memory, estimated from its op and edge counts: `ops`
 * the ops the plan stores, `engineOps` those the engine runs (collectives expanded).
 */
export function estimateSimulationBytes(
  strategy: StrategyName,
  layers: number,
  gpus: number,
  options: { tp?: number; parallelBlock?: boolean; collective?: CollectiveChoice; channels?: number; ep?: number; chunks?: number } = {},
): { ops: number; engineOps: number; edges: number; bytes: number } {
  const { stored, engine } = planOpCounts(strategy, layers, gpus, options);
  const edges = planEdgeCount(strategy, layers, gpus, options);
  return { ops: stored, engineOps: engine, edges, bytes: stored * BYTES_PER_PLAN_OP + engine * BYTES_PER_ENGINE_OP + edges * BYTES_PER_PLAN_EDGE };
}

/** "7.6 GB" */
export function formatBytes(bytes: number): string {
  return `${(bytes / 1e9).toFixed(bytes < 1e10 ? 1 : 0)} GB`;
}

/**
 * Rejects strategy, GPU count and context combinations that mean nothing, before any work; and,
 * unless `size` is false (simulate, when it may simulate a sample of the layers only), plans too
 * big to hold in memory (checkPlanSize).
 */
export function checkPlanRequest(request: Omit<PlanRequest, 'partition'>, options: { size?: boolean } = {}): void {
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
  if (request.collective !== undefined) {
    if (!(COLLECTIVE_CHOICES as readonly string[]).includes(request.collective)) {
      throw new KvrInputError('collective', `expected one of ${COLLECTIVE_CHOICES.join(', ')} (got "${request.collective}")`);
    }
    if (!COLLECTIVE_STRATEGIES.includes(strategy)) {
      throw new KvrInputError('collective', `only applies to strategies with collectives (${COLLECTIVE_STRATEGIES.join(', ')}); strategy is ${strategy}`);
    }
  }
  if (request.tp !== undefined && !TP_STRATEGIES.includes(strategy)) {
    throw new KvrInputError('tp', `only applies to strategies ${TP_STRATEGIES.join(', ')} (tp and tp-sp split every layer over all --gpus; strategy is ${strategy})`);
  }
  if ((strategy === 'ring-kv' || strategy === 'ring-q' || strategy === 'pp-chunked') && request.tp !== undefined) {
    const t = request.tp;
    if (!Number.isInteger(t) || t < 1 || gpus % t !== 0) throw new KvrInputError('tp', `must be a whole divisor of the ${gpus} GPUs (got ${t})`);
    if (t > 1) checkTensorParallel(model, t, 'tp');
  }
  const positions = gpus / (request.tp ?? 1);
  if ((strategy === 'ring-kv' || strategy === 'ring-q') && context < 2 * positions) {
    throw new KvrInputError('context', `${strategy} cuts the context into 2 x ${positions} = ${2 * positions} zig-zag chunks: needs at least ${2 * positions} tokens (got ${context})`);
  }
  if (request.pp !== undefined && strategy !== 'pp-chunked') {
    throw new KvrInputError('pp', `only applies to strategy pp-chunked (strategy is ${strategy})`);
  }
  if (request.chunk !== undefined && strategy !== 'pp-chunked') {
    throw new KvrInputError('chunk', `only applies to strategy pp-chunked (strategy is ${strategy})`);
  }
  if (strategy === 'pp-chunked') {
    const pp = request.pp ?? positions;
    if (request.pp === undefined && pp > model.layers) {
      // The stages come from --gpus / --tp, not from a --pp the user gave: say which to change.
      throw new KvrInputError(
        'tp',
        `pp-chunked runs --gpus / --tp = ${gpus} / ${request.tp ?? 1} = ${pp} pipeline stages, more than the model's ${model.layers} layer${model.layers === 1 ? '' : 's'} (a stage holds at least one): give --tp N with ${gpus} / N <= ${model.layers}`,
      );
    }
    if (!Number.isInteger(pp) || pp < 1 || pp > model.layers) {
      throw new KvrInputError('pp', `expected an integer in 1..${model.layers} (the model's layers; got ${pp})`);
    }
    if (pp * (request.tp ?? 1) !== gpus) {
      throw new KvrInputError('pp', `stages x tp must equal the ${gpus} GPUs (got ${pp} x ${request.tp ?? 1} = ${pp * (request.tp ?? 1)})`);
    }
    const chunk = request.chunk;
    if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1 || chunk > context)) {
      throw new KvrInputError('chunk', `expected an integer in 1..${context} (the context; got ${chunk})`);
    }
  }
  if (strategy === 'tp' || strategy === 'tp-sp') checkTensorParallel(model, gpus, 'gpus');
  checkExpertParallel(request);
  if (strategy === 'kvr-tp') {
    const t = request.tp;
    if (t === undefined) throw new KvrInputError('tp', 'is required by strategy kvr-tp: GPUs per tensor-parallel group, e.g. 8');
    if (!Number.isInteger(t) || t < 1 || gpus % t !== 0) {
      throw new KvrInputError('tp', `must be a whole divisor of the ${gpus} GPUs (got ${t})`);
    }
    checkTensorParallel(model, t, 'tp');
  }
  if (request.channels !== undefined && !(Number.isInteger(request.channels) && request.channels >= 1 && request.channels <= 64)) {
    throw new KvrInputError('channels', `expected an integer in 1..64 (got ${request.channels})`);
  }
  if (request.protocol !== undefined && !(COLLECTIVE_PROTOCOLS as readonly string[]).includes(request.protocol)) {
    throw new KvrInputError('protocol', `expected one of ${COLLECTIVE_PROTOCOLS.join(', ')} (got "${request.protocol}")`);
  }
  if (options.size !== false) checkPlanSize(request);
}

/**
 * The memory guard: a plan whose engine ops (collectives counted as the transfers they run as)
 * exceed MAX_PLAN_OPS, or whose simulation is estimated above MAX_SIMULATION_BYTES, is refused
 * with both figures. Plans that simulate fold from a sample of their layers count that sample
 * (sim/simulate.ts builds it through buildPlan).
 */
export function checkPlanSize(request: Omit<PlanRequest, 'partition'>, sampleOf?: number): void {
  const { strategy, model, gpus } = request;
  // A sample of the layers (simulate's fold) says so: "a sample of 6 of its 80 layers".
  const layers = sampleOf === undefined ? `${model.layers} ${model.layers === 1 ? 'layer' : 'layers'}` : `a sample of ${model.layers} of its ${sampleOf} layers`;
  const size = planSize(request);
  const opCount = size.ops;
  // "N plan ops (M run, its collectives expanded)" where the two differ.
  const run = size.engineOps === size.ops ? '' : ` (${size.engineOps} run, its collectives expanded)`;
  // pp-chunked's ops grow with its chunks, not its GPUs: name the least --chunk that fits.
  const chunk = strategy === 'pp-chunked' ? ppChunkThatFits(request) : undefined;
  const field = chunk === undefined ? 'gpus' : 'chunk';
  const larger = chunk === undefined ? undefined : `use --chunk ${chunk.chunk} or larger (${chunk.chunks} chunks: ${chunk.ops} ops)`;
  if (opCount > MAX_PLAN_OPS) {
    const tp = strategy === 'ring-q' ? ringQTpThatFits(request) : undefined;
    const instead = tp === undefined ? '' : `, --tp ${tp.tp} (${gpus / tp.tp} ring positions: ${tp.ops} ops) or strategy ring-kv`;
    throw new PlanSizeError(
      field,
      `${strategy} on ${gpus} GPUs with ${layers} needs ${opCount} plan ops${run}, about ${formatBytes(size.bytes)} of memory to simulate (limit ${MAX_PLAN_OPS} ops); ${larger ?? `use fewer GPUs${instead}`}`,
    );
  }
  if (size.bytes > MAX_SIMULATION_BYTES) {
    const direct = request.collective === 'direct';
    throw new PlanSizeError(
      field,
      `${strategy}${direct ? ' with the direct collective' : ''} on ${gpus} GPUs with ${layers} needs about ${formatBytes(size.bytes)} of memory to simulate ` +
        `(${size.ops} ops${run}, ${size.edges} dependency edges; limit ${formatBytes(MAX_SIMULATION_BYTES)}); ${larger ?? `use fewer GPUs${direct ? ' or --collective ring' : ''}`}`,
    );
  }
}

/** estimateSimulationBytes of a request. */
function planSize(request: Omit<PlanRequest, 'partition'>): { ops: number; engineOps: number; edges: number; bytes: number } {
  const { strategy, model, gpus, context } = request;
  return estimateSimulationBytes(strategy, model.layers, gpus, {
    ...(request.tp === undefined ? {} : { tp: request.tp }),
    ...(request.ep === undefined ? {} : { ep: request.ep }),
    ...(strategy === 'pp-chunked' ? { chunks: promptChunks(context, ppChunk(request)).length } : {}),
    ...(request.collective === 'direct' ? { collective: 'direct' as const } : {}),
    channels: ringChannels(request),
    parallelBlock: model.block === 'parallel',
  });
}

/** Whether a plan of this size is within both limits. */
function withinLimits(size: { ops: number; bytes: number }): boolean {
  return size.ops <= MAX_PLAN_OPS && size.bytes <= MAX_SIMULATION_BYTES;
}

/**
 * pp-chunked: the least chunk, doubling the request's (up to the whole context), whose plan is
 * within both limits, if any.
 */
function ppChunkThatFits(request: Omit<PlanRequest, 'partition'>): { chunk: number; chunks: number; ops: number } | undefined {
  const context = request.context;
  for (let chunk = 2 * ppChunk(request); ; chunk *= 2) {
    const size = planSize({ ...request, chunk: Math.min(chunk, context) });
    if (withinLimits(size)) return { chunk: Math.min(chunk, context), chunks: Math.ceil(context / Math.min(chunk, context)), ops: size.ops };
    if (chunk >= context) return undefined;
  }
}

/**
 * ring-q's ops grow with the square of its ring positions (--gpus / --tp): the least --tp above
 * the request's that the model allows and that brings the plan within both limits, if any.
 */
function ringQTpThatFits(request: Omit<PlanRequest, 'partition'>): { tp: number; ops: number } | undefined {
  const { model, gpus } = request;
  for (let t = (request.tp ?? 1) + 1; t <= gpus && t <= model.heads && t <= model.ffn; t++) {
    if (gpus % t !== 0) continue;
    const size = planSize({ ...request, tp: t });
    if (withinLimits(size)) return { tp: t, ops: size.ops };
  }
  return undefined;
}

/**
 * How many times a single ring's transfers a collective of the request can have: 2 where a ring
 * of several channels spans nodes (sim/plan/collectives.ts merges the channels' pieces into two
 * transfers per member and step), 2 for the hierarchical all-reduce (its 4 pipelined chunks of
 * 2p(g-1+N-1) transfers stay under 2 rings' 4p(p-1)), else 1.
 */
export function ringChannels(request: Pick<PlanRequest, 'strategy' | 'gpus' | 'tp' | 'fabric' | 'channels' | 'collective'>): number {
  const fabric = request.fabric;
  if (request.collective === 'direct' || fabric === undefined) return 1;
  const members = TP_STRATEGIES.includes(request.strategy) ? (request.tp ?? 1) : request.gpus;
  if (members < 2) return 1;
  if (members <= fabric.node_size) return 1;
  return request.collective === 'hierarchical' || Math.min(request.channels ?? fabric.nics_per_node, fabric.node_size) > 1 ? 2 : 1;
}

/** Strategies that take --ep: those whose every rank computes all tokens' layers (sim/plan/strategies/tp.ts). */
export const EXPERT_PARALLEL_STRATEGIES: readonly StrategyName[] = ['tp', 'tp-sp'];

/**
 * --ep and --expert-imbalance: a MoE model, a strategy that takes them, ep 1 or all GPUs, dividing
 * the routed experts; the imbalance a load factor in [1, ep], and only with ep > 1.
 */
function checkExpertParallel(request: Omit<PlanRequest, 'partition'>): void {
  const { strategy, model, gpus } = request;
  const ep = request.ep;
  if (ep !== undefined && ep !== 1) {
    if (!EXPERT_PARALLEL_STRATEGIES.includes(strategy)) {
      throw new KvrInputError('ep', `only applies to strategies ${EXPERT_PARALLEL_STRATEGIES.join(', ')} (allowed elsewhere: 1); strategy is ${strategy}`);
    }
    if (model.moe === undefined) throw new KvrInputError('ep', `${model.name} has no experts (a mixture-of-experts model needs a moe field; allowed: 1)`);
    if (ep !== gpus) throw new KvrInputError('ep', `expert parallelism spans the tensor-parallel group: allowed 1 or --gpus ${gpus} (got ${ep})`);
    if (model.moe.experts % ep !== 0) throw new KvrInputError('ep', `must divide the ${model.moe.experts} routed experts of ${model.name} (got ${ep})`);
    if (model.block !== 'sequential') throw new KvrInputError('ep', `needs a sequential block (${model.name} is parallel)`);
  }
  if (request.expertImbalance !== undefined && request.expertImbalance !== 1) {
    if (ep === undefined || ep === 1) throw new KvrInputError('expert_imbalance', 'only applies with expert parallelism (--ep > 1): without it every rank computes a slice of every expert');
    checkExpertImbalance(request.expertImbalance, ep);
  }
}

/** pp-chunked's chunk: as given, else 8192 tokens or the whole context when shorter. */
export function ppChunk(request: Pick<PlanRequest, 'chunk' | 'context'>): number {
  return request.chunk ?? Math.min(DEFAULT_PP_CHUNK, request.context);
}

/** Tensor parallelism over t ranks needs at least one head and one FFN column per rank. */
function checkTensorParallel(model: ModelSpec, t: number, field: string): void {
  if (model.heads < t || model.ffn < t) {
    throw new KvrInputError(field, `tensor parallelism over ${t} GPUs needs at least one attention head and FFN column per GPU (${model.name} has ${model.heads} heads)`);
  }
}

/** How a request's collectives are chosen: the fabric the tuner sees, forced channels and protocol. */
export function builderSetup(request: Pick<PlanRequest, 'fabric' | 'channels' | 'protocol'>): BuilderSetup {
  return {
    ...(request.fabric === undefined ? {} : { fabric: request.fabric }),
    options: { ...(request.channels === undefined ? {} : { channels: request.channels }), ...(request.protocol === undefined ? {} : { protocol: request.protocol }) },
  };
}

/** Turns a strategy and a scenario into a plan. */
export function buildPlan(request: PlanRequest): Plan {
  checkPlanRequest(request);
  const { strategy, model, context, gpus, partition } = request;
  const collective = request.collective ?? (request.fabric === undefined ? 'ring' : 'auto');
  // Room for the ops the plan stores, counted as the size check counts them.
  const setup = { ...builderSetup(request), expectedOps: planSize(request).ops };
  const takesPartition = strategy === 'kvr' || strategy === 'kvr-s' || strategy === 'kvr-p' || strategy === 'kvr-tp';
  if (takesPartition) {
    if (partition === undefined) throw new KvrInputError('partition', `is required by strategy ${strategy} (e.g. 6000,5000,5384)`);
    if (strategy === 'kvr-tp') checkPartition(partition, context, gpus / request.tp!, 'partition', 'tensor-parallel group');
    else checkPartition(partition, context, gpus);
  } else if (partition !== undefined) {
    throw new KvrInputError('partition', `only strategy kvr takes a partition, and kvr-tp one per group (strategy is ${strategy})`);
  }
  switch (strategy) {
    case 'single':
      return kvrPlan(model, [context], 'single', setup);
    case 'kvr':
    case 'kvr-s':
    case 'kvr-p':
      return kvrPlan(model, [...partition!], strategy, setup);
    case 'kvr-e':
      return kvrPlan(model, evenPartition(context, gpus), 'kvr-e', setup);
    case 'tsp':
    case 'tsp-causal':
      return tspPlan(model, evenPartition(context, gpus), strategy, collective, setup);
    case 'ring-kv':
      return ringKvPlan(model, context, gpus, request.tp === undefined || request.tp === 1 ? { setup } : { tp: request.tp, collective, setup });
    case 'ring-q':
      return ringQPlan(model, context, gpus, request.tp ?? 1, collective, setup);
    case 'pp-chunked': {
      const t = request.tp ?? 1;
      return ppChunkedPlan(model, context, request.pp ?? gpus / t, ppChunk(request), t, collective, setup);
    }
    case 'tp':
    case 'tp-sp':
      return tpPlan(model, context, gpus, strategy, collective, setup, { ep: request.ep ?? 1, imbalance: request.expertImbalance ?? 1 });
    case 'kvr-tp':
      return kvrTpPlan(model, [...partition!], request.tp!, collective, setup);
  }
}
