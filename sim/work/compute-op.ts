import type { ModelSpec } from '../model/model-spec.js';

/** The canonical compute ops of DESIGN §2; a layer is qkv, attn, o, mlp; lm_head runs once. */
export const COMPUTE_OP_NAMES = ['qkv', 'attn', 'o', 'mlp', 'lm_head'] as const;
export type ComputeOpName = (typeof COMPUTE_OP_NAMES)[number];

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
}

/** Matmul FLOPs (2*m*n*k) of one op, exactly as DESIGN §2 defines them. */
export function computeOpFlops(model: ModelSpec, op: ComputeShape): number {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f } = model;
  const c = op.tokens;
  switch (op.name) {
    case 'qkv':
      return 2 * c * d * (h + 2 * hkv) * hd;
    case 'attn':
      // Causal-aware: 4*h*hd*c*(P + (c+1)/2), written so every term stays an integer.
      return op.causal ? 4 * h * hd * c * op.prefix + 2 * h * hd * c * (c + 1) : 4 * h * hd * c * op.keys;
    case 'o':
      return 2 * c * (h * hd) * d;
    case 'mlp':
      return (model.mlp === 'swiglu' ? 6 : 4) * c * d * f;
    case 'lm_head':
      return 2 * d * model.vocab;
  }
}
