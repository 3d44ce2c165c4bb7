import type { ModelSpec } from '../model/model-spec.js';
import type { ComputeOpName } from '../work/compute-op.js';

export const PLAN_SCHEMA = 'kvr-plan@1';

export const STRATEGY_NAMES = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

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
}

/**
 * A point-to-point transfer of the K,V of tokens [token_start, token_end) of one layer from rank
 * `src` to rank `dst`. Transfers on one (src, dst) channel leave in plan order, one at a time,
 * and never block either rank's compute stream. Collective steps carry the collective's name.
 */
export interface TransferOp {
  id: number;
  kind: 'transfer';
  name: 'send' | 'allgather';
  src: number;
  dst: number;
  layer: number;
  token_start: number;
  token_end: number;
  bytes: number;
  /** Ring step of a collective (0-based), absent for plain sends. */
  step?: number;
  deps: number[];
}

export type PlanOp = ComputeOp | TransferOp;

/** Everything a simulator or an executor needs to run one prefill; plain and serialisable. */
export interface Plan {
  schema: typeof PLAN_SCHEMA;
  strategy: StrategyName;
  model: ModelSpec;
  context: number;
  gpus: number;
  /** Query tokens of each rank, in rank order; they sum to the context. */
  partition: number[];
  /** Tokens of K,V each rank holds after prefill. */
  kv_tokens: number[];
  /** The rank that computes the first token's logits. */
  last_rank: number;
  ops: PlanOp[];
}
