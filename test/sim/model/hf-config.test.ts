import { describe, expect, test } from 'vitest';
import { HF_CATALOGUE } from '../../../sim/model/hf-catalogue.js';
import { isHfConfig, modelFromHfConfig } from '../../../sim/model/hf-config.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';

const hub = (id: string) => HF_CATALOGUE[id]!;

describe('Hugging Face config.json -> model shape', () => {
  test('Llama-3.1-8B: GQA 32/8 heads, head_dim = hidden / heads, SwiGLU, bf16; unmodelled fields listed', () => {
    const { model, ignored } = modelFromHfConfig(hub('meta-llama/Llama-3.1-8B'), 'llama');
    expect(model).toEqual({ name: 'llama', layers: 32, hidden: 4096, heads: 32, kv_heads: 8, head_dim: 128, ffn: 14336, vocab: 128256, dtype_bytes: 2, mlp: 'swiglu', block: 'sequential', norm: 'rmsnorm', tied_embeddings: false });
    expect(ignored).toContain('rope_scaling');
    expect(ignored).toContain('max_position_embeddings');
    expect(ignored).not.toContain('num_key_value_heads');
    expect(ignored).not.toContain('torch_dtype');
  });
  test('the published configs of Llama-2-7b, Mistral-7B and Falcon-7B give the DESIGN §7 presets', () => {
    expect({ ...modelFromHfConfig(hub('meta-llama/Llama-2-7b-hf'), 'llama2-7b').model }).toEqual(MODEL_PRESETS['llama2-7b']);
    expect(modelFromHfConfig(hub('mistralai/Mistral-7B-v0.1'), 'mistral-7b').model).toEqual(MODEL_PRESETS['mistral-7b']);
    expect(modelFromHfConfig(hub('tiiuae/falcon-7b'), 'falcon-7b').model).toEqual(MODEL_PRESETS['falcon-7b']);
  });
  test('falcon: multi_query gives one KV head; new_decoder_architecture reads num_kv_heads; parallel_attn false is sequential', () => {
    const base = hub('tiiuae/falcon-7b');
    expect(modelFromHfConfig({ ...base, multi_query: false }, 'f').model.kv_heads).toBe(71);
    const falcon40 = { ...base, new_decoder_architecture: true, num_kv_heads: 8, num_attention_heads: 128, hidden_size: 8192 };
    const m = modelFromHfConfig(falcon40, 'f40').model;
    expect([m.kv_heads, m.head_dim, m.ffn, m.block]).toEqual([8, 64, 32768, 'parallel']);
    expect(modelFromHfConfig({ ...base, parallel_attn: false }, 'f').model.block).toBe('sequential');
  });
  test('gpt-neox: use_parallel_residual is the parallel block, GELU with 2 matrices, LayerNorm', () => {
    const m = modelFromHfConfig(hub('EleutherAI/gpt-neox-20b'), 'neox').model;
    expect([m.block, m.mlp, m.norm, m.kv_heads, m.head_dim]).toEqual(['parallel', 'gelu', 'layernorm', 64, 96]);
    expect(modelFromHfConfig({ ...hub('EleutherAI/gpt-neox-20b'), use_parallel_residual: false }, 'n').model.block).toBe('sequential');
  });
  test('gemma: explicit head_dim 256 (16 x 256 != 3072), gated GELU counts 3 matrices, tied by default', () => {
    const m = modelFromHfConfig(hub('google/gemma-7b'), 'gemma').model;
    expect([m.head_dim, m.mlp, m.tied_embeddings]).toEqual([256, 'swiglu', true]);
  });
  test('qwen2.5 / qwen3 and the new presets', () => {
    expect(MODEL_PRESETS['qwen2.5-7b']).toMatchObject({ layers: 28, hidden: 3584, heads: 28, kv_heads: 4, head_dim: 128, ffn: 18944, vocab: 152064 });
    expect(MODEL_PRESETS['llama3.1-405b']).toMatchObject({ layers: 126, hidden: 16384, heads: 128, kv_heads: 8, ffn: 53248 });
    expect(modelFromHfConfig(hub('Qwen/Qwen3-8B'), 'q3').model).toMatchObject({ layers: 36, head_dim: 128, ffn: 12288 });
  });
  test('torch_dtype float32 is 4 bytes; an unknown dtype or model_type is one line naming the field', () => {
    expect(modelFromHfConfig({ ...hub('meta-llama/Llama-3.1-8B'), torch_dtype: 'float32' }, 'x').model.dtype_bytes).toBe(4);
    expect(() => modelFromHfConfig({ ...hub('meta-llama/Llama-3.1-8B'), torch_dtype: 'int3' }, 'x', 'c.json')).toThrow(/^c\.json\.torch_dtype: unknown dtype "int3"/);
    expect(() => modelFromHfConfig({ ...hub('meta-llama/Llama-3.1-8B'), model_type: 'qwen2_moe' }, 'x', 'c.json')).toThrow(/^c\.json\.model_type: unsupported model type "qwen2_moe" \(mixture-of-experts families read: mixtral, qwen3_moe, deepseek_v3\) \(allowed: llama,/);
    expect(() => modelFromHfConfig({ ...hub('meta-llama/Llama-3.1-8B'), hidden_size: undefined }, 'x', 'c.json')).toThrow(/^c\.json\.hidden_size: is required/);
  });
  test('a kvr model file is not taken for a config', () => {
    expect(isHfConfig(MODEL_PRESETS['llama2-7b'])).toBe(false);
    expect(isHfConfig(hub('tiiuae/falcon-7b'))).toBe(true);
  });
});
