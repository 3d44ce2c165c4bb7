import type { ModelSpec } from '../model/model-spec.js';
import type { AttentionShape, KernelDtype, SoftwareStack } from '../hardware/shape-model.js';
import { DTYPE_BYTES, ffnDtypeBytes, isFfnFp8, isFp8, kvDtypeBytes } from '../model/precision.js';
import type { AttentionImplementation } from './op-kernels.js';
import { shardModel, type ComputeShape } from './compute-op.js';
import { attentionHeadDims } from '../model/mla.js';

/**
 * The kernels one canonical op really launches under a software stack, by shape: GEMMs as
 * (m, n, k, batch), attention as its shape, memory-bound kernels as bytes moved (reads + writes).
 *
 * `eager` is the PyTorch eager decoder layer of the H200 measurements (their `reference_layer`):
 *   qkv:  rms_norm; x @ Wqkv; RoPE in eager ops on q and k (per tensor: two muls and a sub, two
 *         muls and an add on the even/odd halves, a stack), after the cos/sin tables (arange,
 *         outer, cos, sin, two casts)
 *   attn: (P > 0) cat of the K and V prefix with the chunk's K,V; SDPA; the transpose copy of
 *         its output to [c, h hd]
 *   o:    a @ Wo; residual add
 *   mlp:  rms_norm; h @ Wgu; silu; mul; @ Wd; residual add
 * `fused` is a serving engine (vLLM / TensorRT-LLM style): fused add+norm, fused RoPE, the paged
 * KV-cache write, attention reading the cache and writing [c, h hd] directly, fused silu*mul.
 * Tensor-parallel shards run their GEMMs with m = tokens and n or k sharded; norms and residual
 * adds cover `shard.seq_tokens` rows under sequence parallelism.
 */
export type LayerKernel =
  | { kind: 'gemm'; name: string; m: number; n: number; k: number; batch: number; dtype?: KernelDtype }
  | { kind: 'attention'; name: string; shape: AttentionShape; dtype?: KernelDtype }
  | { kind: 'memory'; name: string; bytes: number };

export function layerKernels(model: ModelSpec, op: ComputeShape, stack: SoftwareStack, attention: AttentionImplementation = 'flash'): LayerKernel[] {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f, dtype_bytes: b } = op.shard === undefined ? model : shardModel(model, op.shard);
  const c = op.tokens;
  const rows = op.shard?.seq_tokens ?? c;
  const eager = stack === 'eager';
  const mem = (name: string, bytes: number): LayerKernel => ({ kind: 'memory', name, bytes });
  // Precision (sim/model/precision.ts): only a model served in an explicit precision carries dtypes,
  // so the paper's setting costs exactly as before. Attention scores stay in the activation dtype.
  const p = model.precision;
  const main: KernelDtype | undefined = p === undefined ? undefined : { fp8: isFp8(model), weight_bytes: DTYPE_BYTES[p.dtype], act_bytes: b };
  const ffn: KernelDtype | undefined = p === undefined ? undefined : { fp8: isFfnFp8(model), weight_bytes: ffnDtypeBytes(model), act_bytes: isFfnFp8(model) ? 1 : b };
  const scores: KernelDtype | undefined = p === undefined ? undefined : { fp8: isFp8(model), weight_bytes: b, act_bytes: b };
  const attnDtype: KernelDtype | undefined = p === undefined ? undefined : { fp8: isFp8(model), weight_bytes: kvDtypeBytes(model), act_bytes: b };
  const gemm = (name: string, m: number, n: number, k: number, batch = 1, dtype = main): LayerKernel => ({ kind: 'gemm', name, m, n, k, batch, ...(dtype === undefined ? {} : { dtype }) });
  const normWeights = model.norm === 'layernorm' ? 2 * d : d;
  // rms_norm / layer_norm: one kernel reading x and writing h (fused stacks also add the residual).
  const norm = (n: number): LayerKernel => (eager ? mem('norm', b * (2 * n * d + normWeights)) : mem('add_norm', b * (4 * n * d + normWeights)));
  const residual = (operands: number): LayerKernel[] => (eager ? [mem('residual_add', b * operands * rows * d)] : []);
  switch (op.name) {
    case 'qkv': {
      if (model.mla !== undefined) {
        // MLA (sim/model/mla.ts); RoPE and the cache write as the fused stack's, on the rope dims.
        const mla = model.mla;
        const qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
        const latent = mla.kv_lora_rank + mla.qk_rope_head_dim;
        const q = mla.q_lora_rank > 0
          ? [gemm('q_a_proj', c, mla.q_lora_rank, d), mem('q_a_norm', b * (2 * c * mla.q_lora_rank + mla.q_lora_rank)), gemm('q_b_proj', c, h * qk, mla.q_lora_rank)]
          : [gemm('q_proj', c, h * qk, d)];
        return [
          norm(rows), ...q, gemm('kv_a_proj', c, latent, d), mem('kv_a_norm', b * (2 * c * mla.kv_lora_rank + mla.kv_lora_rank)),
          gemm('kv_b_proj', c, h * (mla.qk_nope_head_dim + mla.v_head_dim), mla.kv_lora_rank),
          mem('rope', 2 * b * c * (h + 1) * mla.qk_rope_head_dim), mem('kv_cache_write', (b + kvDtypeBytes(model)) * c * latent),
        ];
      }
      const kernels: LayerKernel[] = [norm(rows), gemm('qkv_proj', c, (h + 2 * hkv) * hd, d)];
      if (eager) {
        // cos/sin tables: arange x2, outer, cos, sin (fp32), two casts to fp16.
        const table = (c * hd) / 2;
        kernels.push(mem('rope_arange', 4 * c), mem('rope_inv_freq', 4 * hd), mem('rope_outer', 4 * table), mem('rope_cos', 8 * table), mem('rope_sin', 8 * table));
        kernels.push(mem('rope_cast_cos', 6 * table), mem('rope_cast_sin', 6 * table));
        for (const [tensor, heads] of [['q', h], ['k', hkv]] as const) {
          const half = (c * heads * hd) / 2;
          // x_even*cos, x_odd*sin, sub, x_even*sin, x_odd*cos, add, stack (cos/sin broadcast over heads).
          for (const step of ['mul_cos', 'mul_sin', 'sub', 'mul_sin2', 'mul_cos2', 'add']) {
            kernels.push(mem(`rope_${tensor}_${step}`, step === 'sub' || step === 'add' ? 3 * b * half : b * (2 * half + table)));
          }
          kernels.push(mem(`rope_${tensor}_stack`, 4 * b * half));
        }
      } else {
        kernels.push(mem('rope', 2 * b * c * (h + hkv) * hd), mem('kv_cache_write', 2 * (b + kvDtypeBytes(model)) * c * hkv * hd));
      }
      return kernels;
    }
    case 'attn': {
      const kernels: LayerKernel[] = [];
      if (eager && op.prefix > 0 && op.causal) kernels.push(mem('cat_k', 2 * kvDtypeBytes(model) * (op.prefix + c) * hkv * hd), mem('cat_v', 2 * kvDtypeBytes(model) * (op.prefix + c) * hkv * hd));
      if (attention === 'eager') {
        // Scores GEMM per head over every key, softmax over the c x K scores, values GEMM.
        const { qk, v } = attentionHeadDims(model);
        kernels.push(gemm('attn_scores', c, op.keys, qk, h, scores), mem('softmax', 2 * b * h * c * op.keys), gemm('attn_values', c, v, op.keys, h, scores));
      } else {
        // MLA: K and V rebuilt per head, scores over qk dims and values over v dims; a head size of
        // (qk + v) / 2 on h KV heads gives the shape model exactly their FLOPs and bytes.
        const dims = attentionHeadDims(model);
        const headDim = model.mla === undefined ? hd : (dims.qk + dims.v) / 2;
        const kvHeads = model.mla === undefined ? hkv : h;
        const shape: AttentionShape = op.causal
          ? { c, P: op.prefix, mask: 'causal', heads: h, kv_heads: kvHeads, head_dim: headDim }
          : { c, P: op.keys - c, mask: 'dense', heads: h, kv_heads: kvHeads, head_dim: headDim };
        kernels.push({ kind: 'attention', name: 'attention', shape, ...(attnDtype === undefined ? {} : { dtype: attnDtype }) });
      }
      // Online-softmax merge of a partial output (ring-kv): both outputs and three fp32 LSEs.
      if (op.merge === true) kernels.push(mem('softmax_merge', c * h * (3 * hd * b + 3 * 4)));
      if (eager) kernels.push(mem('transpose_copy', 2 * b * c * h * hd));
      return kernels;
    }
    case 'o':
      return [gemm('o_proj', c, d, h * attentionHeadDims(model).v), ...(model.block === 'sequential' ? residual(3) : [])];
    case 'mlp': {
      // An FFN of `width` columns over n rows; `experts` > 1: a grouped GEMM, n/experts rows each.
      const ffnKernels = (prefix: string, n: number, width: number, experts = 1): LayerKernel[] => {
        const m = Math.max(1, Math.ceil(n / experts));
        return model.mlp === 'swiglu'
          ? [gemm(`${prefix}gate_up_proj`, m, 2 * width, d, experts, ffn), ...(eager ? [mem('silu', 2 * b * n * width), mem('mul', 3 * b * n * width)] : [mem('silu_mul', 3 * b * n * width)]), gemm(`${prefix}down_proj`, m, d, width, experts, ffn)]
          : [gemm(`${prefix}up_proj`, m, width, d, experts, ffn), mem('gelu', 2 * b * n * width), gemm(`${prefix}down_proj`, m, d, width, experts, ffn)];
      };
      const kernels: LayerKernel[] = [];
      const work = op.moe;
      if (work !== undefined) {
        // MoE (sim/model/moe.ts): norm, router, top-k and the copy of each routed row to its
        // expert's batch; shared experts; grouped GEMMs over the experts held, the rows split
        // evenly; the weighted sum of each token's expert outputs and the residual add.
        const moe = model.moe!;
        const fe = op.shard?.expert_ffn ?? moe.expert_ffn;
        if (work.router > 0) {
          if (model.block === 'sequential') kernels.push(norm(Math.min(rows, work.router)));
          kernels.push(gemm('router', work.router, moe.experts, d), mem('route_topk', 2 * b * work.router * moe.experts), mem('permute', 2 * b * work.router * moe.experts_per_token * d));
        }
        if (work.shared > 0 && moe.shared_experts > 0) kernels.push(...ffnKernels('shared_', work.shared, moe.shared_experts * fe));
        if (work.routed > 0) kernels.push(...ffnKernels('expert_', work.routed, fe, Math.min(work.experts, work.routed)));
        if (work.combine === 0) return kernels;
        kernels.push(mem('unpermute', (moe.experts_per_token + 1) * b * work.combine * d));
      } else {
        if (model.block === 'sequential') kernels.push(norm(rows));
        kernels.push(...ffnKernels('', c, f));
      }
      // Sequential: x + mlp(h); parallel (Falcon): x + attn + mlp, two adds when eager.
      if (model.block === 'sequential') kernels.push(...residual(3));
      else kernels.push(...(eager ? [mem('residual_add', 3 * b * rows * d), mem('residual_add', 3 * b * rows * d)] : [mem('residual_add', 4 * b * rows * d)]));
      return kernels;
    }
    case 'lm_head':
      return [norm(1), gemm('lm_head', 1, model.vocab, d)];
  }
}
