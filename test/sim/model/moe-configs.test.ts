import { describe, expect, test } from 'vitest';
import { HF_CATALOGUE } from '../../../sim/model/hf-catalogue.js';
import { modelFromHfConfig } from '../../../sim/model/hf-config.js';
import { kvBytesPerToken, kvBytesPerTokenOfHeads, modelParams, shardedWeightBytes, weightBytes } from '../../../sim/model/model-size.js';
import { modelFromJson } from '../../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { expandCollectives } from '../../../sim/plan/expand.js';

const hub = (id: string) => HF_CATALOGUE[id]!;

describe('mixture-of-experts and MLA Hugging Face configs', () => {
  test('Mixtral-8x7B: num_local_experts 8, top-2, each expert intermediate_size wide, every layer MoE', () => {
    const { model, ignored } = modelFromHfConfig(hub('mistralai/Mixtral-8x7B-v0.1'), 'm');
    expect(model).toMatchObject({ layers: 32, hidden: 4096, heads: 32, kv_heads: 8, head_dim: 128, vocab: 32000 });
    expect(model.moe).toEqual({ experts: 8, experts_per_token: 2, shared_experts: 0, expert_ffn: 14336, dense_layers: 0 });
    expect(model.mla).toBeUndefined();
    expect(ignored).not.toContain('num_local_experts');
    expect(ignored).not.toContain('num_experts_per_tok');
  });

  test('Qwen3-30B-A3B: 128 experts, top-8, moe_intermediate_size 768; decoder_sparse_step 1 and no mlp_only_layers: all MoE', () => {
    const { model, ignored } = modelFromHfConfig(hub('Qwen/Qwen3-30B-A3B'), 'q');
    expect(model).toMatchObject({ layers: 48, hidden: 2048, heads: 32, kv_heads: 4, head_dim: 128, vocab: 151936 });
    expect(model.moe).toEqual({ experts: 128, experts_per_token: 8, shared_experts: 0, expert_ffn: 768, dense_layers: 0 });
    expect(ignored).not.toContain('mlp_only_layers');
    // A leading run of mlp_only_layers is dense layers; any other pattern is refused in one line.
    expect(modelFromHfConfig({ ...hub('Qwen/Qwen3-30B-A3B'), mlp_only_layers: [0, 1] }, 'q').model.moe!.dense_layers).toBe(2);
    expect(() => modelFromHfConfig({ ...hub('Qwen/Qwen3-30B-A3B'), mlp_only_layers: [3] }, 'q', 'c.json')).toThrow(/^c\.json\.mlp_only_layers: only a leading run of dense layers/);
    expect(() => modelFromHfConfig({ ...hub('Qwen/Qwen3-30B-A3B'), decoder_sparse_step: 2 }, 'q', 'c.json')).toThrow(/^c\.json\.decoder_sparse_step: only 1/);
  });

  test('DeepSeek-V3: 256 routed + 1 shared expert, top-8, f_e 2048, first 3 layers dense (18432); MLA ranks and head dims', () => {
    const { model, ignored } = modelFromHfConfig(hub('deepseek-ai/DeepSeek-V3'), 'd');
    expect(model).toMatchObject({ layers: 61, hidden: 7168, heads: 128, kv_heads: 128, ffn: 18432, vocab: 129280, head_dim: 128 + 64 });
    expect(model.moe).toEqual({ experts: 256, experts_per_token: 8, shared_experts: 1, expert_ffn: 2048, dense_layers: 3 });
    expect(model.mla).toEqual({ q_lora_rank: 1536, kv_lora_rank: 512, qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128 });
    for (const key of ['n_routed_experts', 'n_shared_experts', 'first_k_dense_replace', 'kv_lora_rank', 'q_lora_rank', 'v_head_dim']) expect(ignored).not.toContain(key);
    // Routing details that change no FLOP count are listed as not modelled.
    expect(ignored).toEqual(expect.arrayContaining(['n_group', 'topk_group', 'scoring_func', 'routed_scaling_factor', 'num_nextn_predict_layers']));
    expect(() => modelFromHfConfig({ ...hub('deepseek-ai/DeepSeek-V3'), moe_layer_freq: 2 }, 'd', 'c.json')).toThrow(/^c\.json\.moe_layer_freq: only 1/);
    // q_lora_rank null (DeepSeek-V2-Lite): a plain query projection.
    expect(modelFromHfConfig({ ...hub('deepseek-ai/DeepSeek-V3'), q_lora_rank: null }, 'd').model.mla!.q_lora_rank).toBe(0);
  });

  test('presets are the catalogue configs; total parameters match the published 46.7B, 30.5B and 671B', () => {
    expect(MODEL_PRESETS['mixtral-8x7b']).toEqual(modelFromHfConfig(hub('mistralai/Mixtral-8x7B-v0.1'), 'mixtral-8x7b').model);
    expect(modelParams(MODEL_PRESETS['mixtral-8x7b']!) / 1e9).toBeCloseTo(46.7, 1);
    expect(modelParams(MODEL_PRESETS['qwen3-30b-a3b']!) / 1e9).toBeCloseTo(30.5, 1);
    expect(Math.round(modelParams(MODEL_PRESETS['deepseek-v3']!) / 1e9)).toBe(671);
  });
});

/** A tiny MoE model with MLA whose parameters can be counted by hand. */
const tiny = {
  name: 'tiny-moe', layers: 3, hidden: 8, heads: 2, kv_heads: 2, head_dim: 6, ffn: 16, vocab: 10, mlp: 'swiglu', block: 'sequential',
  moe: { experts: 4, experts_per_token: 2, shared_experts: 1, expert_ffn: 4, dense_layers: 1 },
  mla: { q_lora_rank: 3, kv_lora_rank: 5, qk_nope_head_dim: 4, qk_rope_head_dim: 2, v_head_dim: 3 },
};

describe('model fields moe and mla', () => {
  test('read from a kvr model file, with shared_experts and dense_layers defaulting to 0', () => {
    const model = modelFromJson(tiny, 'm');
    expect(model.moe).toEqual(tiny.moe);
    expect(model.mla).toEqual(tiny.mla);
    const { shared_experts: _s, dense_layers: _d, ...required } = tiny.moe;
    expect(modelFromJson({ ...tiny, moe: required }, 'm').moe).toEqual({ ...required, shared_experts: 0, dense_layers: 0 });
  });

  test.each([
    [{ ...tiny, moe: { ...tiny.moe, experts_per_token: 5 } }, /^m\.moe\.experts_per_token: expected an integer in 1\.\.4 /],
    [{ ...tiny, moe: { ...tiny.moe, dense_layers: 3 } }, /^m\.moe\.dense_layers: expected an integer in 0\.\.2 /],
    [{ ...tiny, moe: { ...tiny.moe, experts: 0 } }, /^m\.moe\.experts: expected an integer in 1\.\./],
    [{ ...tiny, moe: { ...tiny.moe, top_k: 2 } }, /^m\.moe\.top_k: unknown field \(allowed: experts, experts_per_token, shared_experts, expert_ffn, dense_layers\)/],
    [{ ...tiny, mla: { ...tiny.mla, v_head_dim: undefined } }, /^m\.mla\.v_head_dim: is required/],
    [{ ...tiny, head_dim: 7 }, /^m\.head_dim: must be mla\.qk_nope_head_dim \+ mla\.qk_rope_head_dim = 6 for an MLA model; got 7/],
  ])('rejects %j in one line naming the field', (input, message) => {
    expect(() => modelFromJson(input, 'm')).toThrow(message);
  });

  test('parameters by hand: dense layer 0, MoE layers 1-2 with router, 4 routed + 1 shared expert; MLA projections', () => {
    const model = modelFromJson(tiny, 'm');
    const d = 8;
    // MLA: W_qa 8x3 + norm 3, W_qb 3 x 2*(4+2), W_kva 8 x (5+2) + norm 5, W_kvb 5 x 2*(4+3), W_o 2*3 x 8.
    const attention = d * 3 + 3 + 3 * 2 * 6 + d * 7 + 5 + 5 * 2 * 7 + 2 * 3 * d;
    const norms = 2 * d;
    const dense = attention + 3 * d * 16 + norms;
    const moe = attention + d * 4 + (4 + 1) * 3 * d * 4 + norms;
    const embeddings = 2 * 10 * d + d;
    expect(modelParams(model)).toBe(dense + 2 * moe + embeddings);
    expect(weightBytes(model)).toBe(2 * (dense + 2 * moe + embeddings));
  });

  test('MLA caches the latent: (kv_lora_rank + qk_rope_head_dim) x b per token and layer, whatever a shard`s heads', () => {
    const model = modelFromJson(tiny, 'm');
    expect(kvBytesPerToken(model)).toBe((5 + 2) * 2);
    expect(kvBytesPerTokenOfHeads(model, 1)).toBe((5 + 2) * 2);
    const deepseek = MODEL_PRESETS['deepseek-v3']!;
    expect(kvBytesPerToken(deepseek)).toBe((512 + 64) * 2);
  });

  test('expert parallelism keeps E/ep routed experts per rank; tensor parallelism a column slice of every expert', () => {
    const model = modelFromJson(tiny, 'm');
    const full = { heads: 2, kv_heads: 2, ffn: 16 };
    expect(shardedWeightBytes(model, full)).toBe(weightBytes(model));
    // ep 2: each rank drops 2 of the 4 routed experts of both MoE layers (3*d*f_e parameters each).
    expect(shardedWeightBytes(model, full, 2)).toBe(weightBytes(model) - 2 * (2 * 2 * 3 * 8 * 4));
    // A tensor slice of 2 of 4 expert columns halves every expert (routed and shared), not the router.
    expect(shardedWeightBytes(model, { ...full, expert_ffn: 2 })).toBe(weightBytes(model) - 2 * 2 * (5 * 3 * 8 * 2));
  });
});

describe('MLA changes the size of every K,V transfer', () => {
  test('kvr-e and ring-kv on deepseek-v3 send (512 + 64) x 2 bytes per token and layer; tsp all-gathers the same', () => {
    const model = MODEL_PRESETS['deepseek-v3']!;
    const latent = (512 + 64) * 2;
    for (const strategy of ['kvr-e', 'ring-kv', 'tsp'] as const) {
      const plan = expandCollectives(buildPlan({ strategy, model, context: 4096, gpus: 4 }));
      const transfers = plan.ops.filter((op) => op.kind === 'transfer');
      expect(transfers.length).toBeGreaterThan(0);
      for (const t of transfers) {
        if (t.kind !== 'transfer') continue;
        const tokens = t.ranges === undefined ? t.token_end - t.token_start : t.ranges.reduce((n, [a, b]) => n + b - a, 0);
        expect(t.bytes).toBe(tokens * latent);
      }
    }
  });
});
