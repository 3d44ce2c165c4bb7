import { describe, expect, test } from 'vitest';
import { modelFromJson } from '../../../sim/model/model-spec.js';
import { wholeMoeWork } from '../../../sim/model/moe.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { computeOpFlops } from '../../../sim/work/compute-op.js';
import { layerKernels } from '../../../sim/work/layer-kernels.js';
import { opKernels } from '../../../sim/work/op-kernels.js';

const tiny = modelFromJson({
  name: 'tiny-moe', layers: 3, hidden: 8, heads: 2, kv_heads: 2, head_dim: 6, ffn: 16, vocab: 10, mlp: 'swiglu', block: 'sequential',
  moe: { experts: 4, experts_per_token: 2, shared_experts: 1, expert_ffn: 4, dense_layers: 1 },
  mla: { q_lora_rank: 3, kv_lora_rank: 5, qk_nope_head_dim: 4, qk_rope_head_dim: 2, v_head_dim: 3 },
});

describe('MoE and MLA op FLOPs', () => {
  const c = 10;
  const base = { tokens: c, prefix: 0, keys: c, causal: true };

  test('a MoE mlp counts the router and only the active experts: 2*c*d*E + 6*(c*S + c*k)*d*f_e', () => {
    const op = { name: 'mlp' as const, ...base, moe: wholeMoeWork(tiny, c) };
    expect(op.moe).toEqual({ router: 10, shared: 10, routed: 20, experts: 4, combine: 10 });
    // router 2*10*8*4 = 640; shared 6*10*8*4 = 1920; routed (top-2) 6*20*8*4 = 3840.
    expect(computeOpFlops(tiny, op)).toBe(640 + 1920 + 3840);
    // A dense layer of the same model: 6*c*d*f = 6*10*8*16.
    expect(computeOpFlops(tiny, { name: 'mlp', ...base })).toBe(7680);
    // A tensor-parallel slice of 2 of the 4 expert columns halves the experts, not the router.
    expect(computeOpFlops(tiny, { ...op, shard: { heads: 1, kv_heads: 1, ffn: 8, expert_ffn: 2 } })).toBe(640 + 960 + 1920);
  });

  test('MLA: projections through the ranks, scores over qk = 6 and values over v = 3 head dims, o of h*v rows', () => {
    // q: 8*3 + 3*2*6 = 60; kv: 8*(5+2) + 5*2*(4+3) = 126; 2*c*(60+126).
    expect(computeOpFlops(tiny, { name: 'qkv', ...base })).toBe(2 * c * (60 + 126));
    // Causal over c tokens after P = 4: 2*h*(qk+v)*c*P + h*(qk+v)*c*(c+1).
    expect(computeOpFlops(tiny, { name: 'attn', tokens: c, prefix: 4, keys: 14, causal: true })).toBe(2 * 2 * 9 * c * 4 + 2 * 9 * c * 11);
    expect(computeOpFlops(tiny, { name: 'attn', tokens: c, prefix: 4, keys: 14, causal: false })).toBe(2 * 2 * 9 * c * 14);
    expect(computeOpFlops(tiny, { name: 'o', ...base })).toBe(2 * c * 2 * 3 * 8);
  });

  const models = [tiny, MODEL_PRESETS['mixtral-8x7b']!, MODEL_PRESETS['qwen3-30b-a3b']!, MODEL_PRESETS['deepseek-v3']!];
  for (const model of models) {
    test(`${model.name}: the kernels' FLOPs add up to the op's for whole, routing, expert and combining MoE ops`, () => {
      const E = model.moe!.experts;
      const works = [
        wholeMoeWork(model, 1000),
        { router: 125, shared: 125, routed: 0, experts: E / 2, combine: 0 },
        { router: 0, shared: 0, routed: 2000, experts: E / 2, combine: 0 },
        { router: 0, shared: 0, routed: 0, experts: E / 2, combine: 125 },
      ];
      for (const moe of works) {
        const op = { name: 'mlp' as const, tokens: 1000, prefix: 0, keys: 1000, causal: true, moe };
        const kernels = opKernels(model, op);
        expect(kernels.reduce((sum, k) => sum + k.flops, 0)).toBe(computeOpFlops(model, op));
        // The shape path's GEMMs cover the same FLOPs, each expert's rows rounded up (at most one row more each).
        const gemmFlops = layerKernels(model, op, 'fused')
          .filter((k) => k.kind === 'gemm')
          .reduce((sum, k) => sum + (k.kind === 'gemm' ? 2 * k.m * k.n * k.k * k.batch : 0), 0);
        expect(gemmFlops).toBeGreaterThanOrEqual(computeOpFlops(model, op));
        expect(gemmFlops).toBeLessThanOrEqual(computeOpFlops(model, { ...op, moe: { ...moe, routed: moe.routed + (moe.routed > 0 ? moe.experts : 0) } }));
        // The norm before the block goes with the routing, the residual add with the combine.
        const names = kernels.map((k) => k.name);
        expect(names.includes('norm')).toBe(moe.router > 0);
        expect(names.includes('residual')).toBe(moe.combine > 0);
      }
    });
  }
});
