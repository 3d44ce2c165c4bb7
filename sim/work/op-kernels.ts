import type { KernelClass } from '../hardware/gpu-spec.js';
import type { ModelSpec } from '../model/model-spec.js';
import { computeOpFlops, shardModel, type ComputeShape } from './compute-op.js';
import { ffnDtypeBytes, isFfnFp8, isFp8, kvDtypeBytes } from '../model/precision.js';

/** One GPU kernel inside a canonical op: its matmul FLOPs and the HBM bytes it moves. */
export interface Kernel {
  name: string;
  kind: KernelClass;
  flops: number;
  bytes: number;
  /** Runs at the GPU's fp8 peak (--dtype fp8; --ffn-dtype fp8 for the MLP GEMMs). */
  fp8?: boolean;
}

/**
 * How attention is implemented: `flash` fuses it into one kernel that never writes the scores
 * (FlashAttention-style, causal tiles skipped); `eager` is PyTorch-2.0-style eager attention, as
 * the KV-Runahead paper ran it: a scores GEMM over every key (the causal mask is applied, not
 * skipped), the c x K scores written to and read back from HBM by the softmax, then a values GEMM.
 */
export const ATTENTION_IMPLEMENTATIONS = ['flash', 'eager'] as const;
export type AttentionImplementation = (typeof ATTENTION_IMPLEMENTATIONS)[number];

/**
 * Splits a canonical op into the kernels a fused fp16 implementation launches, so the cost model
 * can charge each its roofline time and launch overhead. The matmul FLOPs add up to
 * computeOpFlops; memory-bound kernels (norms, RoPE, activations, residual adds) carry bytes only.
 * Byte counts are reads plus writes of each kernel's operands (weights once per kernel).
 * A tensor-parallel op (`shard`) runs its GEMMs and attention on its heads and FFN columns only;
 * its norms and residual adds cover all tokens, or `shard.seq_tokens` rows under sequence
 * parallelism. A partial attention that is merged (`merge`, ring-kv) adds a memory-bound
 * online-softmax merge kernel.
 */
export function opKernels(model: ModelSpec, op: ComputeShape, attention: AttentionImplementation = 'flash'): Kernel[] {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f, dtype_bytes: b } = op.shard === undefined ? model : shardModel(model, op.shard);
  const c = op.tokens;
  const rows = op.shard?.seq_tokens ?? c;
  const normWeights = model.norm === 'layernorm' ? 2 * d : d;
  const norm = (n: number): Kernel => memory('norm', b * (2 * n * d + normWeights));
  const residual = (operands: number): Kernel => memory('residual', b * operands * rows * d);
  const qkvWidth = (h + 2 * hkv) * hd;
  // Precision: weights of qkv/o/lm_head and activations in b (the activation dtype), MLP weights
  // in the FFN dtype, K and V in the KV-cache dtype; fp8 kernels run at the fp8 peak.
  const wf = ffnDtypeBytes(model);
  const kvb = kvDtypeBytes(model);
  const fp8 = isFp8(model);
  const ffnFp8 = isFfnFp8(model);
  const gemm = (name: string, flops: number, bytes: number, onFp8 = fp8): Kernel => (onFp8 ? { name, kind: 'gemm', flops, bytes, fp8: true } : { name, kind: 'gemm', flops, bytes });
  switch (op.name) {
    case 'qkv':
      return [
        norm(rows),
        gemm('qkv_proj', 2 * c * d * qkvWidth, b * (d * qkvWidth + c * d + c * qkvWidth)),
        memory('rope', b * 2 * c * (h + hkv) * hd),
      ];
    case 'attn': {
      // Online-softmax merge of a partial output into the running one: read both outputs, write
      // the merged one (b bytes per element), and the three per-head log-sum-exps (fp32).
      const merge = op.merge === true ? [memory('softmax_merge', c * h * (3 * hd * b + 3 * 4))] : [];
      if (attention === 'eager') {
        const scores = h * c * op.keys;
        return [
          gemm('attn_scores', 2 * h * hd * c * op.keys, b * (c * h * hd + scores) + kvb * op.keys * hkv * hd),
          memory('softmax', b * 2 * scores),
          gemm('attn_values', 2 * h * hd * c * op.keys, b * (scores + c * h * hd) + kvb * op.keys * hkv * hd),
          ...merge,
        ];
      }
      // Q in, O out, every attended key's K and V read once.
      const bytes = b * 2 * c * h * hd + kvb * 2 * op.keys * hkv * hd;
      const kernel: Kernel = { name: 'attention', kind: 'attention', flops: computeOpFlops(model, op), bytes };
      if (fp8) kernel.fp8 = true;
      return [kernel, ...merge];
    }
    case 'o': {
      const kernels = [gemm('o_proj', 2 * c * h * hd * d, b * (h * hd * d + c * h * hd + c * d))];
      // x + attn(x); a parallel block adds attention and MLP outputs together in the mlp op.
      if (model.block === 'sequential') kernels.push(residual(3));
      return kernels;
    }
    case 'mlp': {
      const kernels: Kernel[] = [];
      if (model.block === 'sequential') kernels.push(norm(rows));
      if (model.mlp === 'swiglu') {
        kernels.push(gemm('gate_up_proj', 4 * c * d * f, wf * 2 * d * f + b * (c * d + 2 * c * f), ffnFp8));
        kernels.push(memory('silu_mul', b * 3 * c * f));
      } else {
        kernels.push(gemm('up_proj', 2 * c * d * f, wf * d * f + b * (c * d + c * f), ffnFp8));
        kernels.push(memory('gelu', b * 2 * c * f));
      }
      kernels.push(gemm('down_proj', 2 * c * f * d, wf * f * d + b * (c * f + c * d), ffnFp8));
      kernels.push(residual(model.block === 'sequential' ? 3 : 4));
      return kernels;
    }
    case 'lm_head':
      return [
        norm(1),
        gemm('lm_head', 2 * d * model.vocab, b * (d * model.vocab + d + model.vocab)),
      ];
  }
}

function memory(name: string, bytes: number): Kernel {
  return { name, kind: 'memory', flops: 0, bytes };
}
