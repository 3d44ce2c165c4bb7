import type { ModelSpec } from './model-spec.js';
import { ffnDtypeBytes, kvDtypeBytes } from './precision.js';

/** KV bytes per token per layer: kvb = 2 * h_kv * hd * b (K and V; b of the KV-cache dtype). */
export function kvBytesPerToken(model: ModelSpec): number {
  return 2 * model.kv_heads * model.head_dim * kvDtypeBytes(model);
}

/** MLP parameters of one layer (held in the FFN dtype). */
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

/**
 * Parameters of one decoder layer. No biases in the linear layers (true of every preset).
 * A parallel block (Falcon) has one input norm shared by attention and MLP.
 */
export function layerParams(model: ModelSpec): number {
  const d = model.hidden;
  const qkv = d * (model.heads + 2 * model.kv_heads) * model.head_dim;
  const out = model.heads * model.head_dim * d;
  const mlp = (model.mlp === 'swiglu' ? 3 : 2) * d * model.ffn;
  const norms = (model.block === 'parallel' ? 1 : 2) * normParams(model);
  return qkv + out + mlp + norms;
}

/** All parameters: layers, embedding, final norm and LM head (shared with the embedding if tied). */
export function modelParams(model: ModelSpec): number {
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings ? 0 : embedding;
  return model.layers * layerParams(model) + embedding + normParams(model) + lmHead;
}

/** Weight bytes held by each rank: every strategy here replicates the weights. */
export function weightBytes(model: ModelSpec): number {
  return paramBytes(model, modelParams(model), model.layers * mlpParams(model));
}

/**
 * Weight bytes of one tensor-parallel rank that computes `heads` query heads, `kv_heads` KV heads
 * and `ffn` FFN columns of every layer: its slices of the layer matrices, the norms (replicated),
 * and the embedding, final norm and LM head (replicated: see sim/plan/strategies/tp.ts).
 */
export function shardedWeightBytes(model: ModelSpec, shard: { heads: number; kv_heads: number; ffn: number }): number {
  const sharded = { ...model, heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings ? 0 : embedding;
  return paramBytes(sharded, model.layers * layerParams(sharded) + embedding + normParams(model) + lmHead, model.layers * mlpParams(sharded));
}

/**
 * Weight bytes of one pipeline stage (pp-chunked) holding `layers` decoder layers of a tensor
 * shard (absent: whole layers), the embedding when it is the first stage, and the final norm and
 * LM head when it is the last (a tied LM head is a copy of the embedding there unless one stage
 * is both).
 */
export function stageWeightBytes(model: ModelSpec, shard: { heads: number; kv_heads: number; ffn: number } | undefined, layers: number, first: boolean, last: boolean): number {
  const sharded = shard === undefined ? model : { ...model, heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
  const embedding = model.vocab * model.hidden;
  const lmHead = model.tied_embeddings && first ? 0 : embedding;
  const params = layers * layerParams(sharded) + (first ? embedding : 0) + (last ? normParams(model) + lmHead : 0);
  return paramBytes(sharded, params, layers * mlpParams(sharded));
}
