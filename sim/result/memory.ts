import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken, shardedWeightBytes, stageWeightBytes, weightBytes } from '../model/model-size.js';
import { evenPartition, prefixes } from '../plan/partition.js';
import { stageLayers } from '../plan/strategies/pp-chunked.js';
import type { Plan } from '../plan/plan.js';
import { tensorShards } from '../plan/tensor-shard.js';
import { shardModel } from '../work/compute-op.js';
import type { AttentionImplementation } from '../work/op-kernels.js';

/** Bytes a rank holds at its peak during prefill. */
export interface RankMemory {
  weights: number;
  kv_cache: number;
  activations: number;
  total: number;
}

/** Logits of the last token are kept in fp32. */
const LOGIT_BYTES = 4;

/**
 * Peak live activations of one chunk of c tokens with a fused (flash-style) attention that never
 * materialises scores. Attention phase: residual stream, normed input, q/k/v and the attention
 * output. MLP phase: residual stream, normed input and the FFN intermediates (gate, up and their
 * product for SwiGLU; up and activation for GELU), plus the attention output that a parallel block
 * still holds. With eager attention the attention phase also holds the scores and probabilities
 * of every query against its `keys`. The KV-cache is counted separately.
 */
export function activationPeakBytes(model: ModelSpec, tokens: number, keys = 0, implementation: AttentionImplementation = 'flash'): number {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd } = model;
  // Eager attention materialises the scores and the softmax output, c x keys per head each.
  const scores = implementation === 'eager' ? 2 * h * keys : 0;
  const attention = 2 * d + (h + 2 * hkv) * hd + h * hd + scores;
  const mlp = 2 * d + ffnActivationsPerToken(model) + (model.block === 'parallel' ? h * hd : 0);
  return model.dtype_bytes * tokens * Math.max(attention, mlp) + LOGIT_BYTES * model.vocab;
}

/**
 * FFN intermediates per token: the dense FFN's (3f SwiGLU, 2f GELU); a MoE layer holds, per token,
 * its k routed copies (d each) and their intermediates, and the shared experts' (sim/model/moe.ts).
 * An expert-parallel rank's expert op may hold more pairs than that under imbalance (not counted).
 */
function ffnActivationsPerToken(model: ModelSpec): number {
  const m = model.mlp === 'swiglu' ? 3 : 2;
  const dense = m * model.ffn;
  const moe = model.moe;
  if (moe === undefined) return dense;
  const sparse = moe.experts_per_token * (model.hidden + m * moe.expert_ffn) + moe.shared_experts * m * moe.expert_ffn;
  return moe.dense_layers > 0 ? Math.max(dense, sparse) : sparse;
}

/** Weights (replicated) + K,V of `kvTokens` tokens over all layers + peak activations of the chunk. */
export function rankMemory(model: ModelSpec, tokens: number, kvTokens: number, attention: AttentionImplementation = 'flash'): RankMemory {
  const weights = weightBytes(model);
  const kvCache = kvTokens * kvBytesPerToken(model) * model.layers;
  const activations = activationPeakBytes(model, tokens, kvTokens, attention);
  return { weights, kv_cache: kvCache, activations, total: weights + kvCache + activations };
}

/**
 * Peak bytes of every rank of a plan: weights + KV-cache + peak activations, by strategy.
 *   single, tsp, kvr*: rankMemory of the rank's chunk and K,V (weights replicated).
 *   ring-kv: as rankMemory, plus two foreign K,V blocks of one layer in flight (the block being
 *     attended and the one arriving; double buffering) and the running output and log-sum-exp of
 *     the online softmax in fp32.
 *   tp, kvr-tp: the rank's weight shard (shardedWeightBytes), the K,V of its KV heads, and the
 *     activations of its heads and FFN columns over all of its group's tokens (residual stream and
 *     normed input are full width on every rank).
 *   ring-kv, ring-q with tp: as ring-kv on the shard (its weight shard, the K,V of its KV heads,
 *     activations of its heads and FFN columns); ring-q's in-flight blocks are queries (and the
 *     partial outputs it returns), heads x head_dim x b a token.
 *   pp-chunked: the stage's layers (of its tensor shard), the embedding on the first stage and the
 *     LM head on the last; the K,V of all C tokens for those layers; activations of one chunk whose
 *     attention reads up to C keys.
 *   tp-sp: as tp, but residual stream and normed input hold only the rank's C/p rows; the gathered
 *     input (C x d) is live while the GEMMs run.
 */
export function planMemory(plan: Plan, attention: AttentionImplementation = 'flash'): RankMemory[] {
  const model = plan.model;
  switch (plan.strategy) {
    case 'ring-kv':
    case 'ring-q': {
      const t = plan.tp ?? 1;
      const shards = tensorShards(model, t);
      const largestBlock = Math.max(...plan.kv_tokens);
      const positions = plan.gpus / t;
      return plan.partition.map((tokens, rank) => {
        const shard = t > 1 ? shards[rank % t]! : undefined;
        const sharded = shardModel(model, shard);
        const weights = shard === undefined ? weightBytes(model) : shardedWeightBytes(model, shard);
        const kvCache = plan.kv_tokens[rank]! * kvBytesPerToken(sharded) * model.layers;
        // Two foreign blocks of one layer in flight (double buffering): K,V, or queries and a partial output.
        const perToken = plan.strategy === 'ring-kv' ? kvBytesPerToken(sharded) : sharded.heads * (2 * sharded.head_dim * model.dtype_bytes + 4);
        const buffers = (positions > 1 ? 2 * largestBlock * perToken : 0) + 4 * tokens * sharded.heads * (model.head_dim + 1);
        const activations = activationPeakBytes(sharded, tokens, plan.kv_tokens[rank]!, attention) + buffers;
        return { weights, kv_cache: kvCache, activations, total: weights + kvCache + activations };
      });
    }
    case 'pp-chunked': {
      const t = plan.tp ?? 1;
      const pp = plan.pp ?? plan.gpus / t;
      const shards = tensorShards(model, t);
      const layers = stageLayers(model.layers, pp);
      const firstLayers = prefixes(layers);
      const chunk = plan.chunk ?? plan.context;
      return plan.partition.map((_, rank) => {
        const s = Math.floor(rank / t);
        const shard = t > 1 ? shards[rank % t]! : undefined;
        const sharded = shardModel(model, shard);
        const weights = stageWeightBytes(model, shard, layers[s]!, s === 0, s === pp - 1, firstLayers[s]!);
        const kvCache = plan.kv_tokens[rank]! * kvBytesPerToken(sharded) * layers[s]!;
        const activations = activationPeakBytes(sharded, Math.min(chunk, plan.context), plan.context, attention);
        return { weights, kv_cache: kvCache, activations, total: weights + kvCache + activations };
      });
    }
    case 'tp':
    case 'tp-sp':
    case 'kvr-tp': {
      const t = plan.tp ?? 1;
      const shards = tensorShards(model, t);
      const rows = evenPartition(plan.context, plan.gpus);
      return plan.partition.map((tokens, rank) => {
        const shard = shards[rank % t]!;
        const sharded = shardModel(model, shard);
        // Expert parallelism (--ep, tp and tp-sp): E/ep whole experts per rank instead of a slice of each.
        const weights = plan.ep !== undefined && plan.ep > 1 ? shardedWeightBytes(model, { ...shard, expert_ffn: model.moe!.expert_ffn }, plan.ep) : shardedWeightBytes(model, shard);
        const kvCache = plan.kv_tokens[rank]! * kvBytesPerToken(sharded) * model.layers;
        const activations =
          plan.strategy === 'tp-sp'
            ? sequenceParallelPeakBytes(sharded, tokens, rows[rank]!, plan.kv_tokens[rank]!, attention)
            : activationPeakBytes(sharded, tokens, plan.kv_tokens[rank]!, attention);
        return { weights, kv_cache: kvCache, activations, total: weights + kvCache + activations };
      });
    }
    default:
      return plan.partition.map((tokens, rank) => rankMemory(model, tokens, plan.kv_tokens[rank]!, attention));
  }
}

/** Activation peak of a tp-sp rank: `rows` of residual and normed input, all `tokens` gathered for the GEMMs. */
function sequenceParallelPeakBytes(model: ModelSpec, tokens: number, rows: number, keys: number, implementation: AttentionImplementation): number {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd } = model;
  const scores = implementation === 'eager' ? 2 * h * keys : 0;
  const attention = tokens * (d + (h + 2 * hkv) * hd + h * hd + scores);
  const mlp = tokens * (d + ffnActivationsPerToken(model) + (model.block === 'parallel' ? h * hd : 0));
  return model.dtype_bytes * (2 * rows * d + Math.max(attention, mlp)) + LOGIT_BYTES * model.vocab;
}
