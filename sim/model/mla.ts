import type { ModelSpec } from './model-spec.js';

/**
 * Multi-head latent attention arithmetic (ModelSpec.mla; DeepSeek-V2 arXiv 2405.04434 §2.1, as
 * transformers' DeepseekV3Attention computes prefill, without absorbing the up-projections):
 *   q  = (x W_qa -> norm) W_qb          d x q_lora, q_lora x h*(nope+rope)   (q_lora 0: x W_q, d x h*(nope+rope))
 *   kv = x W_kva                        d x (kv_lora + rope): the latent and the shared RoPE key (cached)
 *   k_nope, v = norm(latent) W_kvb      kv_lora x h*(nope + v)
 *   attention: scores over nope+rope dims, values of v dims; o: h*v x d.
 * The cache holds kv_lora + rope elements per token and layer, shared by every head, so a
 * tensor-parallel rank holds (and receives) the whole latent whatever its heads.
 */

/** Head sizes of the scores (query/key) and of the values; both head_dim without MLA. */
export function attentionHeadDims(model: ModelSpec): { qk: number; v: number } {
  const mla = model.mla;
  return mla === undefined ? { qk: model.head_dim, v: model.head_dim } : { qk: mla.qk_nope_head_dim + mla.qk_rope_head_dim, v: mla.v_head_dim };
}

/** Elements cached per token and layer: the latent plus the RoPE key (MLA), else K and V of `kvHeads` heads. */
export function kvElementsPerToken(model: ModelSpec, kvHeads = model.kv_heads): number {
  const mla = model.mla;
  return mla === undefined ? 2 * kvHeads * model.head_dim : mla.kv_lora_rank + mla.qk_rope_head_dim;
}

/**
 * Parameters of the query, key and value projections of one MLA layer for `heads` query heads
 * (a tensor-parallel shard; the down-projections W_qa, W_kva and their norms are replicated).
 */
export function mlaProjectionParams(model: ModelSpec, heads: number): { replicated: number; sharded: number } {
  const mla = model.mla!;
  const d = model.hidden;
  const qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  const q = mla.q_lora_rank > 0 ? { down: d * mla.q_lora_rank + mla.q_lora_rank, up: mla.q_lora_rank * heads * qk } : { down: 0, up: d * heads * qk };
  const kvDown = d * (mla.kv_lora_rank + mla.qk_rope_head_dim) + mla.kv_lora_rank;
  const kvUp = mla.kv_lora_rank * heads * (mla.qk_nope_head_dim + mla.v_head_dim);
  return { replicated: q.down + kvDown, sharded: q.up + kvUp };
}

/** Matmul FLOPs of the MLA projections (qkv op) of c tokens for `heads` query heads. */
export function mlaProjectionFlops(model: ModelSpec, tokens: number, heads: number): number {
  const mla = model.mla!;
  const d = model.hidden;
  const qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  const q = mla.q_lora_rank > 0 ? d * mla.q_lora_rank + mla.q_lora_rank * heads * qk : d * heads * qk;
  const kv = d * (mla.kv_lora_rank + mla.qk_rope_head_dim) + mla.kv_lora_rank * heads * (mla.qk_nope_head_dim + mla.v_head_dim);
  return 2 * tokens * (q + kv);
}
