import { hfCatalogueConfig } from './hf-catalogue.js';
import { modelFromHfConfig } from './hf-config.js';
import type { ModelSpec } from './model-spec.js';

/**
 * Public configurations (DESIGN §7), as published in each model's Hugging Face config.json.
 * Falcon-7B: multi-query attention (one KV head), parallel attention+MLP block, LayerNorm, GELU,
 * input embedding tied to the LM head.
 */
export const MODEL_PRESETS: Readonly<Record<string, ModelSpec>> = {
  'llama2-7b': llama('llama2-7b', 32, 4096, 32, 32, 11008, 32000),
  'llama2-13b': llama('llama2-13b', 40, 5120, 40, 40, 13824, 32000),
  'llama2-70b': llama('llama2-70b', 80, 8192, 64, 8, 28672, 32000),
  'llama3-8b': llama('llama3-8b', 32, 4096, 32, 8, 14336, 128256),
  'mistral-7b': llama('mistral-7b', 32, 4096, 32, 8, 14336, 32000),
  'falcon-7b': {
    name: 'falcon-7b',
    layers: 32,
    hidden: 4544,
    heads: 71,
    kv_heads: 1,
    head_dim: 64,
    ffn: 18176,
    vocab: 65024,
    dtype_bytes: 2,
    mlp: 'gelu',
    block: 'parallel',
    norm: 'layernorm',
    tied_embeddings: true,
  },
  // Read from the built-in Hugging Face configs (sim/model/hf-catalogue.ts), as --model hf:<id> is.
  'llama3.1-8b': fromHub('llama3.1-8b', 'meta-llama/Llama-3.1-8B'),
  'llama3.1-70b': fromHub('llama3.1-70b', 'meta-llama/Llama-3.1-70B'),
  'llama3.1-405b': fromHub('llama3.1-405b', 'meta-llama/Llama-3.1-405B'),
  'qwen2.5-7b': fromHub('qwen2.5-7b', 'Qwen/Qwen2.5-7B'),
  'qwen2.5-72b': fromHub('qwen2.5-72b', 'Qwen/Qwen2.5-72B'),
  // Mixture-of-experts models (sim/model/moe.ts), from their Hugging Face config.json:
  // huggingface.co/mistralai/Mixtral-8x7B-v0.1 (8 experts, top-2; Jiang et al., arXiv 2401.04088),
  // huggingface.co/Qwen/Qwen3-30B-A3B (128 experts, top-8, expert FFN 768),
  // huggingface.co/deepseek-ai/DeepSeek-V3 (256 routed + 1 shared, top-8, expert FFN 2048, the first
  // 3 layers dense, MLA; arXiv 2412.19437). DeepSeek-V3 is published in fp8: these presets are bf16
  // as their configs' torch_dtype says; serve it in fp8 with --dtype fp8.
  'mixtral-8x7b': fromHub('mixtral-8x7b', 'mistralai/Mixtral-8x7B-v0.1'),
  'qwen3-30b-a3b': fromHub('qwen3-30b-a3b', 'Qwen/Qwen3-30B-A3B'),
  'deepseek-v3': fromHub('deepseek-v3', 'deepseek-ai/DeepSeek-V3'),
};

function fromHub(name: string, repoId: string): ModelSpec {
  return modelFromHfConfig(hfCatalogueConfig(repoId)!.config, name).model;
}

function llama(
  name: string,
  layers: number,
  hidden: number,
  heads: number,
  kvHeads: number,
  ffn: number,
  vocab: number,
): ModelSpec {
  return {
    name,
    layers,
    hidden,
    heads,
    kv_heads: kvHeads,
    head_dim: 128,
    ffn,
    vocab,
    dtype_bytes: 2,
    mlp: 'swiglu',
    block: 'sequential',
    norm: 'rmsnorm',
    tied_embeddings: false,
  };
}

export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS);
