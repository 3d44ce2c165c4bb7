import type { RingChoice } from '../plan/ring-choice.js';
import type { EngineRun } from '../engine/engine.js';
import { isUncalibrated, type GpuProfileKind, type GpuSpec } from '../hardware/gpu-spec.js';
import { opSchedule, scheduleTokens } from '../plan/collectives.js';
import type { CollectiveChoice, Plan as PlanOfUses } from '../plan/plan.js';

/** One kind of collective a plan ran: e.g. allreduce, hierarchical, simple, 1 channel, 160 times. */
export interface CollectiveUse {
  name: string;
  algorithm: string;
  protocol: string;
  channels: number;
  count: number;
}

/**
 * The collectives of a plan grouped by name, algorithm, protocol and channels, in order of first
 * use; of its ops [from, to) only, when given.
 */
export function collectiveUses(plan: PlanOfUses, from = 0, to = planOpTotal(plan)): CollectiveUse[] {
  const table = planTable(plan);
  const uses = new Map<string, CollectiveUse>();
  for (const [id, op] of table.collectives) {
    if (id >= from && id < to) {
      const use = { name: op.name, algorithm: op.algorithm, protocol: op.protocol ?? 'none', channels: op.channels ?? 1, count: 0 };
      const key = `${use.name}/${use.algorithm}/${use.protocol}/${use.channels}`;
      if (!uses.has(key)) uses.set(key, use);
      uses.get(key)!.count += 1;
    }
  }
  // Explicit collective transfers (tsp's all-gather, one per layer).
  const layers = new Set<number>();
  let protocol = 'none';
  for (let id = from; id < to; id++) {
    if (table.kind[id] === OP_TRANSFER && table.transferName(id) === 'allgather') {
      layers.add(table.layer[id]!);
      protocol = table.protocolOf(id) ?? 'none';
    }
  }
  const channels = plan.channels ?? 1;
  if (layers.size > 0) uses.set('explicit', { name: 'allgather', algorithm: plan.collective === 'direct' ? 'direct' : 'ring', protocol, channels, count: layers.size });
  return [...uses.values()];
}
import { logitsOpId, type Plan, type StrategyName } from '../plan/plan.js';
import { planOpTotal, planTable } from '../plan/table-plan.js';
import { OP_COMPUTE, OP_TRANSFER, type OpTable } from '../plan/op-table.js';
import { Router } from '../topology/routing.js';
import type { Topology } from '../topology/topology.js';
import { decodeReadiness, type DecodeReadiness } from './decode.js';
import { planMemory } from './memory.js';
import type { Precision } from '../model/precision.js';
import type { AttentionImplementation } from '../work/op-kernels.js';

export const RESULT_SCHEMA = 'kvr-sim/result@1';

/** Per-rank figures (DESIGN §4); bytes are exact integers, times in seconds. */
export interface RankResult {
  rank: number;
  tokens: number;
  flops: number;
  /** Sum of this rank's compute-op durations. */
  compute_s: number;
  /** Idle time of the compute stream before it finished (waiting for K,V). */
  wait_s: number;
  /** End of this rank's last compute op. */
  finish_s: number;
  sent_bytes: number;
  recv_bytes: number;
  /** Tokens of K,V held after prefill x kvb x L. */
  kv_cache_bytes: number;
  weights_bytes: number;
  activation_bytes: number;
  /** weights + KV-cache + peak activations. */
  peak_mem_bytes: number;
  fits: boolean;
}

/** Where the partition came from: given, even, searched (kvr-s) or predicted (kvr-p). */
export type PartitionOrigin =
  | { kind: 'single' | 'even' | 'given' }
  | { kind: 'searched'; method: string; granularity: number; simulations: number }
  | { kind: 'predicted'; predictor: string; granularity: number };

export interface MemoryOverflow {
  /** The rank that exceeds its GPU's memory by the most. */
  rank: number;
  over_by_bytes: number;
  capacity_bytes: number;
}

export interface SimResult {
  schema: typeof RESULT_SCHEMA;
  strategy: StrategyName;
  model: string;
  gpu: string;
  gpus: number;
  context: number;
  partition: number[];
  partition_origin: PartitionOrigin;
  /**
   * Time to first token: from the common start to the end of the op that produces the first
   * token's logits (lm_head on the last rank). Other ranks may still be busy then.
   */
  ttft_s: number;
  /** From the common start until every rank is idle (the last op's end, compute or transfer). */
  makespan_s: number;
  flops_total: number;
  comm_bytes_total: number;
  topology: string;
  /** flash (fused, scores never stored) or eager (scores materialised, as the paper ran). */
  attention: AttentionImplementation;
  gpu_profile: GpuProfileKind;
  /** True for datasheet presets and uncalibrated files: efficiencies are not measured. */
  uncalibrated: boolean;
  /** Whether every rank's peak memory fits its GPU; not fitting is a finding, not an error. */
  fits: boolean;
  memory_overflow: MemoryOverflow | null;
  events: number;
  ranks: RankResult[];
  /** Tensor-parallel group size (tp, tp-sp: all GPUs; kvr-tp, ring-kv, ring-q, pp-chunked: --tp; else 1). */
  tensor_parallel: number;
  /**
   * pp-chunked: pipeline stages and the prompt chunk's tokens (given, default, or searched); with
   * `--chunk search`, `chunks_too_big`: candidate chunk sizes left out as past the size limits.
   */
  pipeline?: { stages: number; chunk_tokens: number; chunks: number; chunks_too_big?: number[] };
  /** ring-kv, ring-q: which of the two Yang et al.'s rule recommends here (sim/plan/ring-choice.ts). */
  ring_choice?: RingChoice;
  /** --collective of the plan (auto: the tuner chose per collective, see `collectives`). */
  collective: CollectiveChoice;
  /** What ran for each kind of collective: name, algorithm, protocol, channels, how many. */
  collectives: CollectiveUse[];
  /** What decoding needs after this prefill: re-sharding or replicating the KV-cache (result/decode.ts). */
  decode: DecodeReadiness;
  /**
   * Shape profiles only (kvr calibrate --from): the TTFT band from the fit's cross-validated
   * error, [ttft x (1 - e), ttft x (1 + e)], e = the error-weighted share of compute time
   * (sim/hardware/shape-durations.ts); and the costs' stack.
   */
  ttft_band_s?: [number, number];
  ttft_band?: number;
  stack?: string;
  /** The formats the model is served in (--dtype, --ffn-dtype, --kv-dtype); absent: the model's dtype_bytes throughout. */
  precision?: Precision;
  /** Shapes costed outside the profile's measured range (extrapolated) or not measured. */
  warnings?: string[];
  /** Whether any op shape was extrapolated or not measured (then `warnings` says which). */
  extrapolated?: boolean;
}

export function buildResult(
  plan: Plan,
  run: EngineRun,
  durations: Float64Array,
  gpu: GpuSpec,
  topology: Topology,
  origin: PartitionOrigin,
  attention: AttentionImplementation = 'flash',
  router: Router = new Router(topology),
): SimResult {
  const totals = emptyTotals(plan.gpus);
  const table = planTable(plan);
  for (let id = 0; id < table.count; id++) {
    addOpTotals(totals, table, id, durations[id]!, 1);
    if (table.kind[id] === OP_COMPUTE) totals.finish[table.rank[id]!] = Math.max(totals.finish[table.rank[id]!]!, run.end[run.indexOf[id]!]!);
  }
  const timing = { ttft_s: firstTokenTime(plan, run), makespan_s: run.makespan, events: run.events };
  return assembleResult(plan, totals, timing, collectiveUses(plan), gpu, topology, origin, attention, router);
}

/** Sums over a plan's ops, per rank and in all; finish: each rank's last compute end. */
export interface RankTotals {
  flops: number[];
  compute: number[];
  finish: number[];
  sent: number[];
  received: number[];
  flopsTotal: number;
  commTotal: number;
}

export function emptyTotals(p: number): RankTotals {
  const zeros = (): number[] => new Array<number>(p).fill(0);
  return { flops: zeros(), compute: zeros(), finish: zeros(), sent: zeros(), received: zeros(), flopsTotal: 0, commTotal: 0 };
}

/** Adds `times` copies of op `id`'s FLOPs, compute time and bytes (not its end: see finish). */
export function addOpTotals(totals: RankTotals, table: OpTable, id: number, duration: number, times: number): void {
  const { flops, compute, sent, received } = totals;
  const kind = table.kind[id]!;
  const amount = table.amount[id]!;
  if (kind === OP_COMPUTE) {
    const rank = table.rank[id]!;
    flops[rank]! += times * amount;
    compute[rank]! += times * duration;
    totals.flopsTotal += times * amount;
  } else if (kind === OP_TRANSFER) {
    sent[table.rank[id]!]! += times * amount;
    received[table.dst[id]!]! += times * amount;
    totals.commTotal += times * amount;
  } else {
    const op = table.collective(id);
    const schedule = opSchedule(op);
    const tokens = scheduleTokens(schedule, op.blocks);
    for (let k = 0; k < schedule.count; k++) {
      const bytes = times * tokens[k]! * op.bytes_per_token;
      sent[op.ranks[schedule.src[k]!]!]! += bytes;
      received[op.ranks[schedule.dst[k]!]!]! += bytes;
      totals.commTotal += bytes;
    }
  }
}

/** The result from a plan's totals and timing (the plan's ops are not read: its model, partition and tensor-parallel fields are). */
export function assembleResult(
  plan: Plan,
  totals: RankTotals,
  timing: { ttft_s: number; makespan_s: number; events: number },
  collectives: CollectiveUse[],
  gpu: GpuSpec,
  topology: Topology,
  origin: PartitionOrigin,
  attention: AttentionImplementation,
  router: Router,
): SimResult {
  const p = plan.gpus;
  const { flops, compute, finish, sent, received, flopsTotal, commTotal } = totals;
  let overflow: MemoryOverflow | null = null;
  const memories = planMemory(plan, attention);
  const ranks = plan.partition.map((tokens, rank): RankResult => {
    const memory = memories[rank]!;
    const fits = gpu.memory_bytes === null || memory.total <= gpu.memory_bytes;
    if (!fits) {
      const over = memory.total - gpu.memory_bytes!;
      if (overflow === null || over > overflow.over_by_bytes) {
        overflow = { rank, over_by_bytes: over, capacity_bytes: gpu.memory_bytes! };
      }
    }
    return {
      rank,
      tokens,
      flops: flops[rank]!,
      compute_s: compute[rank]!,
      wait_s: Math.max(0, finish[rank]! - compute[rank]!),
      finish_s: finish[rank]!,
      sent_bytes: sent[rank]!,
      recv_bytes: received[rank]!,
      kv_cache_bytes: memory.kv_cache,
      weights_bytes: memory.weights,
      activation_bytes: memory.activations,
      peak_mem_bytes: memory.total,
      fits,
    };
  });
  return {
    schema: RESULT_SCHEMA,
    strategy: plan.strategy,
    model: plan.model.name,
    gpu: gpu.name,
    gpus: p,
    context: plan.context,
    partition: plan.partition,
    partition_origin: origin,
    ttft_s: timing.ttft_s,
    makespan_s: timing.makespan_s,
    flops_total: flopsTotal,
    comm_bytes_total: commTotal,
    topology: topology.name,
    attention,
    gpu_profile: gpu.profile,
    uncalibrated: isUncalibrated(gpu),
    fits: overflow === null,
    memory_overflow: overflow,
    events: timing.events,
    ranks,
    tensor_parallel: plan.tp ?? 1,
    ...(plan.pp === undefined ? {} : { pipeline: { stages: plan.pp, chunk_tokens: plan.chunk!, chunks: Math.ceil(plan.context / plan.chunk!) } }),
    collective: plan.collective ?? 'ring',
    collectives,
    decode: decodeReadiness(
      plan,
      gpu,
      router,
      ranks.map((r) => r.kv_cache_bytes),
    ),
    ...(plan.model.precision === undefined ? {} : { precision: { ...plan.model.precision } }),
  };
}

/** End of the op that produces the first token's logits (plan.ts logitsOpId): the TTFT. */
export function firstTokenTime(plan: Plan, run: EngineRun, logitsOp: number = logitsOpId(plan)): number {
  return run.end[run.indexOf[logitsOp]!]!;
}
