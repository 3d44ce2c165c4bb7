import type { ModelSpec } from '../model/model-spec.js';
import type { ComputeOpName, OpShard } from '../work/compute-op.js';
import type { MoeWork } from '../model/moe.js';
import type { CollectiveProtocol } from './collective-tuner.js';
import { OP_COMPUTE } from './op-table.js';
import { hasOpTable, planTable } from './table-plan.js';

export const PLAN_SCHEMA = 'kvr-plan@1';

export const STRATEGY_NAMES = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p', 'ring-kv', 'tp', 'tp-sp', 'kvr-tp', 'ring-q', 'pp-chunked'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/**
 * Strategies whose plans only the simulator runs (the native executor lacks their op semantics):
 * none now; ring-kv and ring-q (with or without --tp), tp, tp-sp, kvr-tp and pp-chunked (one GPU
 * a stage) run on the executor's cpu backend (native/MODEL.md).
 */
export const SIMULATOR_ONLY_STRATEGIES: readonly StrategyName[] = [];

/** Strategies built on collectives (all-gather, reduce-scatter, all-reduce): they take --collective. */
export const COLLECTIVE_STRATEGIES: readonly StrategyName[] = ['tsp', 'tsp-causal', 'tp', 'tp-sp', 'kvr-tp', 'ring-kv', 'ring-q', 'pp-chunked'];

/** Strategies that take --tp: GPUs per tensor-parallel group (ring-kv, ring-q, pp-chunked: default 1). */
export const TP_STRATEGIES: readonly StrategyName[] = ['kvr-tp', 'ring-kv', 'ring-q', 'pp-chunked'];

/**
 * How a collective is scheduled as point-to-point transfers: `ring` (p-1 steps, each rank sends one
 * block to its successor per step; over n channels, n rings each carrying 1/n), `tree` (all-reduce
 * across nodes: NCCL's double binary tree, a chain inside each node), `hierarchical`
 * (all-reduce: reduce-scatter inside each node, all-reduce across nodes, all-gather inside; other
 * collectives run as rings) or `direct` (every rank sends its block to every other rank at once).
 * Contention between the transfers comes from the link model either way.
 */
export const COLLECTIVE_ALGORITHMS = ['ring', 'tree', 'hierarchical', 'direct'] as const;
export type CollectiveAlgorithm = (typeof COLLECTIVE_ALGORITHMS)[number];
/** What --collective takes: an algorithm, or `auto` (the default): the tuner's pick per collective (sim/plan/collective-tuner.ts). */
export const COLLECTIVE_CHOICES = ['auto', ...COLLECTIVE_ALGORITHMS] as const;
export type CollectiveChoice = (typeof COLLECTIVE_CHOICES)[number];
export type { CollectiveProtocol } from './collective-tuner.js';

/**
 * A compute op on a rank's compute stream. Ops of one rank run in plan order, each once its
 * dependencies are done.
 */
export interface ComputeOp {
  id: number;
  kind: 'compute';
  name: ComputeOpName;
  rank: number;
  /** Decoder layer, or null for lm_head (after the last layer). */
  layer: number | null;
  /** c: query tokens. */
  tokens: number;
  /** P: tokens before this rank's chunk. */
  prefix: number;
  /** K: keys attended per query (attn), else P + c. */
  keys: number;
  causal: boolean;
  /** Matmul FLOPs (DESIGN §2). */
  flops: number;
  deps: number[];
  /** Tensor-parallel share of the model this op computes (tp, tp-sp, kvr-tp); absent: all of it. */
  shard?: OpShard;
  /** attn of ring-kv: a partial attention over one K,V block, merged into the running output. */
  merge?: boolean;
  /** mlp of a MoE layer: router, shared-expert and routed-expert work (sim/model/moe.ts). */
  moe?: MoeWork;
}

/**
 * A point-to-point transfer of the K,V of tokens [token_start, token_end) of one layer from rank
 * `src` to rank `dst`. Transfers on one (src, dst) channel leave in plan order, one at a time,
 * and never block either rank's compute stream. Collective steps carry the collective's name
 * (a reduce-scatter's receiver adds what it gets to its own partial sums; the sum is assumed to
 * run inside the copy, at HBM speed, and costs no compute time).
 */
export interface TransferOp {
  id: number;
  kind: 'transfer';
  name: 'send' | 'allgather' | 'reducescatter';
  src: number;
  dst: number;
  layer: number;
  token_start: number;
  token_end: number;
  bytes: number;
  /** Ring step of a collective (0-based), absent for plain sends. */
  step?: number;
  deps: number[];
  /**
   * `hidden`: rows [token_start, token_end) of the hidden state (d x b bytes per token; the
   * all-reduces of tensor parallelism, pp-chunked's stage-to-stage sends). `query`: the queries of
   * those tokens (heads x head_dim x b per token; ring-q). `attn-out`: partial attention outputs and
   * their fp32 log-sum-exps (heads x (head_dim x b + 4) per token; ring-q's all-to-all). Absent: K,V.
   */
  payload?: 'hidden' | 'query' | 'attn-out';
  /** Query heads carried by a `query` or `attn-out` transfer (a tensor-parallel shard); absent: all heads. */
  heads?: number;
  /** K,V of this many KV heads only (a tensor-parallel shard, kvr-tp); absent: all KV heads. */
  kv_heads?: number;
  /**
   * The token ranges carried when they are not one contiguous range (ring-kv: a rank's two zig-zag
   * chunks); token_start and token_end then span them.
   */
  ranges?: [number, number][];
  /**
   * A collective's step under an NCCL protocol (sim/plan/collective-tuner.ts): wire bytes = bytes x
   * PROTOCOL_WIRE; latency = the route's x `protocol_hop_scale`, plus `protocol_base_s` (the
   * protocol's extra base latency, on a member's first step).
   */
  protocol?: CollectiveProtocol;
  protocol_hop_scale?: number;
  protocol_base_s?: number;
}

export type CollectiveName = 'allgather' | 'reducescatter' | 'allreduce';

/**
 * How a collective starts: `together` (every member waits until every member's deps are done, as
 * NCCL collectives start) or `per-member` (member m waits only for the deps on its own rank, and
 * for its own share of a collective it depends on).
 */
export type CollectiveStart = 'together' | 'per-member';

/**
 * A whole collective as one op (tp, tp-sp, kvr-tp): the engine runs it as the point-to-point
 * transfers of its schedule (sim/plan/collectives.ts: ring or direct), exactly as if they were
 * listed one by one (sim/plan/expand.ts writes them out), so contention stays the link model's.
 * An op of rank r that depends on a collective waits for r's share of it (its incoming transfers).
 */
export interface CollectiveOp {
  id: number;
  kind: 'collective';
  name: CollectiveName;
  algorithm: CollectiveAlgorithm;
  layer: number;
  /** Member ranks in ring order. */
  ranks: number[];
  /** Token range [start, end) of each member's block. */
  blocks: [number, number][];
  /** Bytes per token of a block (d x b: rows of the hidden state). */
  bytes_per_token: number;
  /** Bytes of all its transfers. */
  bytes: number;
  start: CollectiveStart;
  deps: number[];
  /** Rings (ring algorithm); absent: 1. */
  channels?: number;
  /** Members per node (consecutive members); absent: all in one node. */
  node_size?: number;
  /** NCCL protocol (sim/plan/collective-tuner.ts): wire bytes and per-step latency; absent: neither. */
  protocol?: CollectiveProtocol;
}

export type PlanOp = ComputeOp | TransferOp | CollectiveOp;

/** Everything a simulator or an executor needs to run one prefill; plain and serialisable. */
export interface Plan {
  schema: typeof PLAN_SCHEMA;
  strategy: StrategyName;
  model: ModelSpec;
  context: number;
  gpus: number;
  /**
   * Query tokens of each rank, in rank order. They sum to the context when the sequence is split
   * (single, tsp, kvr, ring-kv); under tensor parallelism every rank of a group computes its
   * group's tokens for its share of the heads (tp: all C on every rank; kvr-tp: the group's chunk;
   * ring-kv and ring-q with tp: the position's two zig-zag chunks). pp-chunked: every stage computes
   * all C tokens (for its layers, a chunk at a time).
   */
  partition: number[];
  /** Tokens of K,V each rank holds after prefill. */
  kv_tokens: number[];
  /** The rank that computes the first token's logits. */
  last_rank: number;
  /**
   * The ops in id order. A plan built by buildPlan keeps them as columns (planTable) and writes
   * these objects out, frozen, only when something reads them (planOfTable).
   */
  ops: PlanOp[];
  /** Tensor-parallel group size (tp, tp-sp: all GPUs; kvr-tp: GPUs per group; ring-kv, ring-q: per ring position; pp-chunked: per stage); absent: 1. */
  tp?: number;
  /** Expert-parallel ranks of a MoE model (tp, tp-sp with --ep; sim/plan/expert-routing.ts); absent: 1. */
  ep?: number;
  /** The busiest expert-parallel rank's routed pairs over the mean (--expert-imbalance); absent: 1. */
  expert_imbalance?: number;
  /** Collective algorithm of the plan's all-gathers, reduce-scatters and all-reduces, when not ring (auto: chosen per collective, on each op). */
  collective?: CollectiveChoice;
  /** Ring channels of tsp's explicit all-gather transfers, when more than one. */
  channels?: number;
  /** pp-chunked: pipeline stages (each a tensor-parallel group of `tp` GPUs holding a slice of the layers). */
  pp?: number;
  /** pp-chunked: tokens of each prompt chunk that flows through the stages (the last may be shorter). */
  chunk?: number;
}

/**
 * Id of the op that produces the first token's logits (lm_head on plan.last_rank): time to first
 * token is its end, not the makespan, as other ranks may still be finishing their last layers.
 */
export function logitsOpId(plan: Plan): number {
  if (hasOpTable(plan)) {
    const table = planTable(plan);
    for (let i = table.count - 1; i >= 0; i--) {
      if (table.kind[i] === OP_COMPUTE && table.computeName(i) === 'lm_head' && table.rank[i] === plan.last_rank) return i;
    }
  } else {
    const ops = plan.ops;
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]!;
      if (op.kind === 'compute' && op.name === 'lm_head' && op.rank === plan.last_rank) return op.id;
    }
  }
  throw new Error(`plan ${plan.strategy} has no lm_head op on its last rank ${plan.last_rank}`);
}
