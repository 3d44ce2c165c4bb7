import type { ModelSpec } from './model-spec.js';
import { ffnDtypeBytes, kvDtypeBytes } from './precision.js';
import { kvElementsPerToken, mlaProjectionParams } from './mla.js';
import { expertParams, moeLayerCount, routerParams } from './moe.js';

/**
 * KV bytes per token per layer: kvb = 2 * h_kv * hd * b (K and V; b of the KV-cache dtype); under
 * MLA the compressed latent, (kv_lora_rank + qk_rope_head_dim) * b (sim/model/mla.ts).
 */
export function kvBytesPerToken(model: ModelSpec): number {
  return kvElementsPerToken(model) * kvDtypeBytes(model);
}

/** KV bytes per token per layer of a tensor-parallel shard of `kvHeads` KV heads (MLA: the whole latent). */
export function kvBytesPerTokenOfHeads(model: ModelSpec, kvHeads: number): number {
  return kvElementsPerToken(model, kvHeads) * kvDtypeBytes(model);
}

/** MLP parameters of one dense layer (held in the FFN dtype). */
function mlpParams(model: ModelSpec): number {
  return (model.mlp === 'swiglu' ? 3 : 2) * model.hidden * model.ffn;
}

/** Bytes of `params` parameters of which `mlp` are MLP weights (in the FFN dtype). */
function paramBytes(model: ModelSpec, params: number, mlp: number): number {
  return (params - mlp) * model.dtype_bytes + mlp * ffnDtypeBytes(model);
}

/** Parameters of one norm: RMSNorm has a scale; LayerNorm a scale and a bias. */
function normParams(model: ModelSpec): number {
  return model.norm === 'layernorm' ? 2 * model.hidden : model.hidden;
}

/** Query, key, value and output projections of one layer (MLA: sim/model/mla.ts, with its two norms). */
function attentionParams(model: ModelSpec): number {
  const d = model.hidden;
  if (model.mla !== undefined) {
    const { replicated, sharded } = mlaProjectionParams(model, model.heads);
    return replicated + sharded + model.heads * model.mla.v_head_dim * d;
  }
  return d * (model.heads + 2 * model.kv_heads) * model.head_dim + model.heads * model.head_dim * d;
}

/**
 * Parameters of one decoder layer with a dense FFN. No biases in the linear layers (true of every
 * preset). A parallel block (Falcon) has one input norm shared by attention and MLP.
 */
export function layerParams(model: ModelSpec): number {
  const norms = (model.block === 'parallel' ? 1 : 2) * normParams(model);
  return attentionParams(model) + mlpParams(model) + norms;
}

/** FFN parameters of one MoE layer: router, E routed and the shared experts (sim/model/moe.ts). */
function moeFfnParams(model: ModelSpec): number {
  const moe = model.moe!;
  return routerParams(model) + (moe.experts + moe.shared_experts) * expertParams(model);
}

/** All parameters: layers, embedding, final norm and LM head (shared with the embedding if tied). */
export function modelParams(model: ModelSpec): number {
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings ? 0 : embedding;
  const moeLayers = moeLayerCount(model);
  const moe = moeLayers === 0 ? 0 : moeLayers * (layerParams(model) - mlpParams(model) + moeFfnParams(model));
  return (model.layers - moeLayers) * layerParams(model) + moe + embedding + normParams(model) + lmHead;
}

/** FFN parameters of all layers (dense and MoE; held in the FFN dtype). */
function allFfnParams(model: ModelSpec): number {
  const moeLayers = moeLayerCount(model);
  return (model.layers - moeLayers) * mlpParams(model) + (moeLayers === 0 ? 0 : moeLayers * moeFfnParams(model));
}

/** Weight bytes held by each rank: every strategy here replicates the weights. */
export function weightBytes(model: ModelSpec): number {
  return paramBytes(model, modelParams(model), allFfnParams(model));
}

/**
 * Weight bytes of one tensor-parallel rank that computes `heads` query heads, `kv_heads` KV heads
 * and `ffn` FFN columns of every layer: its slices of the layer matrices, the norms (replicated),
 * and the embedding, final norm and LM head (replicated: see sim/plan/strategies/tp.ts). A MoE
 * model's experts are sliced likewise (`expert_ffn` columns of every expert) or, under expert
 * parallelism over `ep` ranks, split whole (E/ep routed experts per rank, as many as it computes);
 * router and shared experts are then replicated. MLA's down-projections are replicated.
 */
export function shardedWeightBytes(model: ModelSpec, shard: { heads: number; kv_heads: number; ffn: number; expert_ffn?: number }, ep = 1): number {
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings ? 0 : embedding;
  const d = model.hidden;
  const norms = (model.block === 'parallel' ? 1 : 2) * normParams(model);
  let attention: number;
  if (model.mla !== undefined) {
    const { replicated, sharded } = mlaProjectionParams(model, shard.heads);
    attention = replicated + sharded + shard.heads * model.mla.v_head_dim * d;
  } else {
    attention = d * (shard.heads + 2 * shard.kv_heads) * model.head_dim + shard.heads * model.head_dim * d;
  }
  const denseFfn = (model.mlp === 'swiglu' ? 3 : 2) * d * shard.ffn;
  const moeLayers = moeLayerCount(model);
  let expertFfn = 0;
  if (model.moe !== undefined) {
    const moe = model.moe;
    const perExpert = (model.mlp === 'swiglu' ? 3 : 2) * d;
    expertFfn =
      ep > 1
        ? routerParams(model) + (Math.ceil(moe.experts / ep) + moe.shared_experts) * expertParams(model)
        : routerParams(model) + (moe.experts + moe.shared_experts) * perExpert * (shard.expert_ffn ?? moe.expert_ffn);
  }
  const ffn = (model.layers - moeLayers) * denseFfn + moeLayers * expertFfn;
  const params = model.layers * (attention + norms) + ffn + embedding + normParams(model) + lmHead;
  return paramBytes(model, params, ffn);
}

/**
 * Weight bytes of one pipeline stage (pp-chunked) holding `layers` decoder layers from layer
 * `firstLayer` on, of a tensor shard (absent: whole layers), the embedding when it is the first
 * stage, and the final norm and LM head when it is the last (a tied LM head is a copy of the
 * embedding there unless one stage is both). A MoE model's layers from `dense_layers` on hold the
 * router and every routed and shared expert (sliced to the shard's `expert_ffn` columns under TP).
 */
export function stageWeightBytes(
  model: ModelSpec,
  shard: { heads: number; kv_heads: number; ffn: number; expert_ffn?: number } | undefined,
  layers: number,
  first: boolean,
  last: boolean,
  firstLayer = 0,
): number {
  const sharded = shard === undefined ? model : { ...model, heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings && first ? 0 : embedding;
  const moe = model.moe;
  const moeLayers = moe === undefined ? 0 : Math.max(0, firstLayer + layers - Math.max(firstLayer, moe.dense_layers));
  const moeFfn = moe === undefined ? 0 : routerParams(model) + (moe.experts + moe.shared_experts) * (model.mlp === 'swiglu' ? 3 : 2) * model.hidden * (shard?.expert_ffn ?? moe.expert_ffn);
  const ffn = (layers - moeLayers) * mlpParams(sharded) + moeLayers * moeFfn;
  const params = layers * (layerParams(sharded) - mlpParams(sharded)) + ffn + (first ? embedding : 0) + (last ? normParams(model) + lmHead : 0);
  return paramBytes(sharded, params, ffn);
}
