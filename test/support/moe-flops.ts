import type { ModelSpec } from '../../sim/model/model-spec.js';

/** FLOPs of a `tp --ep p` plan of a MoE preset at C tokens, by hand: attention per shard summed, experts active only. */
export function tpExpertParallelFlops(m: ModelSpec, C: number, p: number): number {
  const d = m.hidden;
  const moe = m.moe!;
  const causal = C * (C + 1); // sum over queries of 2 * (keys attended) = C(C+1)
  let attention: number;
  if (m.mla === undefined) {
    // Query heads split evenly; with fewer KV heads than ranks (Qwen3: 4 < 8) each rank keeps
    // the one KV head its queries read, so the shards project max(h_kv, p) KV heads in all.
    const kvHeads = Math.max(m.kv_heads, p);
    attention = 2 * C * d * (m.heads + 2 * kvHeads) * m.head_dim + 2 * m.heads * m.head_dim * causal + 2 * C * m.heads * m.head_dim * d;
  } else {
    // MLA: the down-projections W_qa (d x 1536) and W_kva (d x 576) run on every one of the p ranks;
    // the up-projections split by heads; scores over 192 dims, values over 128.
    const a = m.mla;
    const replicated = 2 * C * (d * a.q_lora_rank + d * (a.kv_lora_rank + a.qk_rope_head_dim));
    const up = 2 * C * (a.q_lora_rank * m.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim) + a.kv_lora_rank * m.heads * (a.qk_nope_head_dim + a.v_head_dim));
    attention = p * replicated + up + m.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim) * causal + 2 * C * m.heads * a.v_head_dim * d;
  }
  const dense = 6 * C * d * m.ffn;
  const sparse = 2 * C * d * moe.experts + 6 * C * (moe.experts_per_token + moe.shared_experts) * d * moe.expert_ffn;
  return m.layers * attention + moe.dense_layers * dense + (m.layers - moe.dense_layers) * sparse + 2 * d * m.vocab;
}
