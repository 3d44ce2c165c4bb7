import type { KernelClass } from '../hardware/gpu-spec.js';
import type { ModelSpec } from '../model/model-spec.js';
import { computeOpFlops, shardModel, type ComputeShape } from './compute-op.js';
import { attentionHeadDims } from '../model/mla.js';
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
      if (model.mla !== undefined) return mlaQkvKernels(model, c, h, norm(rows), gemm);
      return [
        norm(rows),
        gemm('qkv_proj', 2 * c * d * qkvWidth, b * (d * qkvWidth + c * d + c * qkvWidth)),
        memory('rope', b * 2 * c * (h + hkv) * hd),
      ];
    case 'attn': {
      // Online-softmax merge of a partial output into the running one: read both outputs, write
      // the merged one (b bytes per element), and the three per-head log-sum-exps (fp32).
      // MLA: scores over qk dims, values of v dims, K and V rebuilt per head (h of each) from the latent.
      const { qk, v } = attentionHeadDims(model);
      const kPerKey = model.mla === undefined ? hkv * hd : h * qk;
      const vPerKey = model.mla === undefined ? hkv * hd : h * v;
      const merge = op.merge === true ? [memory('softmax_merge', c * h * (3 * v * b + 3 * 4))] : [];
      if (attention === 'eager') {
        const scores = h * c * op.keys;
        return [
          gemm('attn_scores', 2 * h * qk * c * op.keys, b * (c * h * qk + scores) + kvb * op.keys * kPerKey),
          memory('softmax', b * 2 * scores),
          gemm('attn_values', 2 * h * v * c * op.keys, b * (scores + c * h * v) + kvb * op.keys * vPerKey),
          ...merge,
        ];
      }
      // Q in, O out, every attended key's K and V read once.
      const bytes = b * c * h * (qk + v) + kvb * op.keys * (kPerKey + vPerKey);
      const kernel: Kernel = { name: 'attention', kind: 'attention', flops: computeOpFlops(model, op), bytes };
      if (fp8) kernel.fp8 = true;
      return [kernel, ...merge];
    }
    case 'o': {
      const hv = h * attentionHeadDims(model).v;
      const kernels = [gemm('o_proj', 2 * c * hv * d, b * (hv * d + c * hv + c * d))];
      // x + attn(x); a parallel block adds attention and MLP outputs together in the mlp op.
      if (model.block === 'sequential') kernels.push(residual(3));
      return kernels;
    }
    case 'mlp': {
      // An FFN of `width` inner columns over n rows, its weights (`copies` of d x width) read once.
      const ffnKernels = (prefix: string, n: number, width: number, copies = 1): Kernel[] =>
        model.mlp === 'swiglu'
          ? [
              gemm(`${prefix}gate_up_proj`, 4 * n * d * width, wf * copies * 2 * d * width + b * (n * d + 2 * n * width), ffnFp8),
              memory(`${prefix}silu_mul`, b * 3 * n * width),
              gemm(`${prefix}down_proj`, 2 * n * width * d, wf * copies * width * d + b * (n * width + n * d), ffnFp8),
            ]
          : [
              gemm(`${prefix}up_proj`, 2 * n * d * width, wf * copies * d * width + b * (n * d + n * width), ffnFp8),
              memory(`${prefix}gelu`, b * 2 * n * width),
              gemm(`${prefix}down_proj`, 2 * n * width * d, wf * copies * width * d + b * (n * width + n * d), ffnFp8),
            ];
      const work = op.moe;
      if (work === undefined) {
        const kernels: Kernel[] = [];
        if (model.block === 'sequential') kernels.push(norm(rows));
        kernels.push(...ffnKernels('', c, f));
        kernels.push(residual(model.block === 'sequential' ? 3 : 4));
        return kernels;
      }
      // MoE (sim/model/moe.ts): the norm before the block goes with the routing, the residual add
      // after it with the combine (one op does both without expert parallelism); under sequence
      // parallelism both cover the rank's own rows only.
      const moe = model.moe!;
      const fe = op.shard?.expert_ffn ?? moe.expert_ffn;
      const kernels: Kernel[] = [];
      if (work.router > 0) {
        if (model.block === 'sequential') kernels.push(norm(Math.min(rows, work.router)));
        const E = moe.experts;
        kernels.push(gemm('router', 2 * work.router * d * E, b * (d * E + work.router * d + work.router * E), false));
        // Softmax and top-k over the scores; then each routed row is copied to its expert's batch.
        kernels.push(memory('route_topk', b * 2 * work.router * E), memory('permute', b * 2 * work.router * moe.experts_per_token * d));
      }
      if (work.shared > 0 && moe.shared_experts > 0) kernels.push(...ffnKernels('shared_', work.shared, moe.shared_experts * fe));
      // Grouped GEMMs over the experts held; each touched expert's weights are read once.
      if (work.routed > 0) kernels.push(...ffnKernels('expert_', work.routed, fe, Math.min(work.experts, work.routed)));
      if (work.combine > 0) {
        // Each token's k expert outputs (and the shared one) weighted and summed, then x + moe(x).
        kernels.push(memory('unpermute', b * (moe.experts_per_token + 1) * work.combine * d));
        kernels.push(memory('residual', b * (model.block === 'sequential' ? 3 : 4) * Math.min(rows, work.combine) * d));
      }
      return kernels;
    }
    case 'lm_head':
      return [
        norm(1),
        gemm('lm_head', 2 * d * model.vocab, b * (d * model.vocab + d + model.vocab)),
      ];
  }
}

/**
 * The qkv op of an MLA model (sim/model/mla.ts) for `h` query heads: the query down- and
 * up-projections (or one projection without q_lora), the joint KV down-projection, their norms,
 * the per-head KV up-projection and RoPE on the rope dims of q and of the shared key.
 */
function mlaQkvKernels(model: ModelSpec, c: number, h: number, inputNorm: Kernel, gemm: (name: string, flops: number, bytes: number) => Kernel): Kernel[] {
  const mla = model.mla!;
  const d = model.hidden;
  const b = model.dtype_bytes;
  const qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  const latent = mla.kv_lora_rank + mla.qk_rope_head_dim;
  const proj = (name: string, n: number, k: number): Kernel => gemm(name, 2 * c * n * k, b * (n * k + c * k + c * n));
  const kernels: Kernel[] = [inputNorm];
  if (mla.q_lora_rank > 0) {
    kernels.push(proj('q_a_proj', mla.q_lora_rank, d), memory('q_a_norm', b * (2 * c * mla.q_lora_rank + mla.q_lora_rank)), proj('q_b_proj', h * qk, mla.q_lora_rank));
  } else {
    kernels.push(proj('q_proj', h * qk, d));
  }
  kernels.push(proj('kv_a_proj', latent, d), memory('kv_a_norm', b * (2 * c * mla.kv_lora_rank + mla.kv_lora_rank)));
  kernels.push(proj('kv_b_proj', h * (mla.qk_nope_head_dim + mla.v_head_dim), mla.kv_lora_rank));
  kernels.push(memory('rope', b * 2 * c * (h + 1) * mla.qk_rope_head_dim));
  return kernels;
}

function memory(name: string, bytes: number): Kernel {
  return { name, kind: 'memory', flops: 0, bytes };
}
