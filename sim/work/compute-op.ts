import type { ModelSpec } from '../model/model-spec.js';
import { attentionHeadDims, mlaProjectionFlops } from '../model/mla.js';
import { moeFlops, type MoeWork } from '../model/moe.js';

/** The canonical compute ops of DESIGN §2; a layer is qkv, attn, o, mlp; lm_head runs once. */
export const COMPUTE_OP_NAMES = ['qkv', 'attn', 'o', 'mlp', 'lm_head'] as const;
export type ComputeOpName = (typeof COMPUTE_OP_NAMES)[number];

/**
 * The tensor-parallel share of an op (Megatron-LM, Shoeybi et al. 2019): the query heads, KV heads
 * and FFN columns this rank computes. qkv and the MLP's first matrices are split by columns, o and
 * the MLP's last matrix by rows, attention by heads; every GEMM still runs over all of the op's
 * tokens. Under sequence parallelism (Korthikanti et al. 2022) the per-token elementwise kernels
 * (norms, residual adds) run only on this rank's `seq_tokens` rows of the sequence.
 */
export interface OpShard {
  heads: number;
  kv_heads: number;
  ffn: number;
  /** Columns of each expert's FFN (a MoE model's f_e sliced like `ffn`); absent: all f_e. */
  expert_ffn?: number;
  /** Rows of the norms and residual adds (sequence parallelism); absent: all `tokens`. */
  seq_tokens?: number;
}

/** What a compute op works on: c query tokens whose earlier tokens number P. */
export interface ComputeShape {
  name: ComputeOpName;
  /** c: tokens of this rank's chunk (1 for lm_head: only the last token's logits are needed). */
  tokens: number;
  /** P: tokens before the chunk. */
  prefix: number;
  /** K: keys each query is scored against: P + c when causal-aware, all keys when dense-masked. */
  keys: number;
  /** Causal-aware attention skips masked scores; dense-masked computes all c x K scores. */
  causal: boolean;
  /** Tensor-parallel share (tp, tp-sp, kvr-tp); absent: the whole model. */
  shard?: OpShard;
  /**
   * attn only (ring-kv): a partial attention over one K,V block whose output is merged into the
   * running output with an online-softmax merge (rescale by the log-sum-exp of both, add).
   */
  merge?: boolean;
  /**
   * mlp of a MoE layer (sim/model/moe.ts): the router, shared-expert and routed-expert work it
   * does; absent on a MoE model's dense layers and on dense models.
   */
  moe?: MoeWork;
}

/** The model as one rank of a tensor-parallel group sees it: its heads, KV heads and FFN columns. */
export function shardModel(model: ModelSpec, shard: OpShard | undefined): ModelSpec {
  if (shard === undefined) return model;
  if (model.moe !== undefined && shard.expert_ffn !== undefined) {
    return { ...model, heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn, moe: { ...model.moe, expert_ffn: shard.expert_ffn } };
  }
  return { ...model, heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
}

/** Matmul FLOPs (2*m*n*k) of one op, exactly as DESIGN §2 defines them (on the op's shard). */
export function computeOpFlops(model: ModelSpec, op: ComputeShape): number {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f } = op.shard === undefined ? model : shardModel(model, op.shard);
  const c = op.tokens;
  switch (op.name) {
    case 'qkv':
      return model.mla === undefined ? 2 * c * d * (h + 2 * hkv) * hd : mlaProjectionFlops(model, c, h);
    case 'attn': {
      // Scores over qk dims, values over v dims (both hd without MLA): 2*h*(qk+v)*c*K, causal-aware
      // 2*h*(qk+v)*c*(P + (c+1)/2) = 4*h*hd*c*(P + (c+1)/2), written so every term stays an integer.
      const { qk, v } = attentionHeadDims(model);
      const w = qk + v;
      return op.causal ? 2 * h * w * c * op.prefix + h * w * c * (c + 1) : 2 * h * w * c * op.keys;
    }
    case 'o':
      return 2 * c * (h * attentionHeadDims(model).v) * d;
    case 'mlp':
      if (op.moe !== undefined) return moeFlops(model, op.moe, op.shard?.expert_ffn ?? model.moe!.expert_ffn);
      return (model.mlp === 'swiglu' ? 6 : 4) * c * d * f;
    case 'lm_head':
      return 2 * d * model.vocab;
  }
}
