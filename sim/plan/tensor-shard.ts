import type { ModelSpec } from '../model/model-spec.js';
import type { OpShard } from '../work/compute-op.js';
import { evenPartition, prefixes } from './partition.js';

/**
 * How tensor parallelism over t ranks splits a model (Megatron-LM): query heads and FFN columns
 * evenly, the first (h mod t) ranks taking one head more (and likewise for the FFN). A rank keeps
 * the KV heads its query heads read: with GQA/MQA and more ranks than KV heads, a KV head is
 * replicated on every rank whose query heads use it (as Megatron and vLLM do).
 */
export interface TensorShard extends OpShard {
  /** Query heads [first, first + heads) of this rank. */
  first_head: number;
  /** KV heads [first_kv_head, first_kv_head + kv_heads) of this rank. */
  first_kv_head: number;
}

export function tensorShards(model: ModelSpec, t: number): TensorShard[] {
  const heads = evenPartition(model.heads, t);
  const ffn = evenPartition(model.ffn, t);
  // A MoE model's experts are sliced by columns like the dense FFN (vLLM's default for TP).
  const expertFfn = model.moe === undefined ? undefined : evenPartition(model.moe.expert_ffn, t);
  const starts = prefixes(heads);
  const group = model.heads / model.kv_heads;
  return heads.map((count, j) => {
    const first = starts[j]!;
    const firstKv = Math.floor(first / group);
    const lastKv = count === 0 ? firstKv - 1 : Math.floor((first + count - 1) / group);
    const shard: TensorShard = { heads: count, kv_heads: lastKv - firstKv + 1, ffn: ffn[j]!, first_head: first, first_kv_head: firstKv };
    if (expertFfn !== undefined) shard.expert_ffn = expertFfn[j]!;
    return shard;
  });
}

/** The OpShard of a TensorShard (what plans carry: counts only). */
export function opShard(shard: TensorShard, seqTokens?: number): OpShard {
  const op: OpShard = { heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
  if (shard.expert_ffn !== undefined) op.expert_ffn = shard.expert_ffn;
  if (seqTokens !== undefined) op.seq_tokens = seqTokens;
  return op;
}
