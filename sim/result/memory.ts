import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken, weightBytes } from '../model/model-size.js';
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
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f } = model;
  // Eager attention materialises the scores and the softmax output, c x keys per head each.
  const scores = implementation === 'eager' ? 2 * h * keys : 0;
  const attention = 2 * d + (h + 2 * hkv) * hd + h * hd + scores;
  const mlp = 2 * d + (model.mlp === 'swiglu' ? 3 : 2) * f + (model.block === 'parallel' ? h * hd : 0);
  return model.dtype_bytes * tokens * Math.max(attention, mlp) + LOGIT_BYTES * model.vocab;
}

/** Weights (replicated) + K,V of `kvTokens` tokens over all layers + peak activations of the chunk. */
export function rankMemory(model: ModelSpec, tokens: number, kvTokens: number, attention: AttentionImplementation = 'flash'): RankMemory {
  const weights = weightBytes(model);
  const kvCache = kvTokens * kvBytesPerToken(model) * model.layers;
  const activations = activationPeakBytes(model, tokens, kvTokens, attention);
  return { weights, kv_cache: kvCache, activations, total: weights + kvCache + activations };
}
