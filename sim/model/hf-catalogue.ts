/**
 * A small catalogue of public Hugging Face configs (`--model hf:<repo id>`), so a model can be named
 * as on the Hub with no network at run time. Each entry is the repository's config.json as
 * published (architecture fields verbatim; token ids and initialisation fields kept too, so the
 * "ignored" note is the one a downloaded copy gives). The repo id matches case-insensitively.
 */
const LLAMA31_COMMON = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: 'silu',
  initializer_range: 0.02,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

const QWEN25_COMMON = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  initializer_range: 0.02,
  max_position_embeddings: 131072,
  model_type: 'qwen2',
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 152064,
};

export const HF_CATALOGUE: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  'meta-llama/Llama-3.1-8B': { ...LLAMA31_COMMON, hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 8 },
  'meta-llama/Llama-3.1-70B': { ...LLAMA31_COMMON, hidden_size: 8192, intermediate_size: 28672, num_attention_heads: 64, num_hidden_layers: 80, num_key_value_heads: 8 },
  'meta-llama/Llama-3.1-405B': { ...LLAMA31_COMMON, hidden_size: 16384, intermediate_size: 53248, num_attention_heads: 128, num_hidden_layers: 126, num_key_value_heads: 8 },
  'meta-llama/Llama-2-7b-hf': {
    architectures: ['LlamaForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02,
    intermediate_size: 11008, max_position_embeddings: 4096, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32,
    num_key_value_heads: 32, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: null, tie_word_embeddings: false, torch_dtype: 'float16',
    transformers_version: '4.31.0.dev0', use_cache: true, vocab_size: 32000,
  },
  'mistralai/Mistral-7B-v0.1': {
    architectures: ['MistralForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02,
    intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mistral', num_attention_heads: 32, num_hidden_layers: 32,
    num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 4096, tie_word_embeddings: false, torch_dtype: 'bfloat16',
    transformers_version: '4.34.0.dev0', use_cache: true, vocab_size: 32000,
  },
  'Qwen/Qwen2.5-7B': { ...QWEN25_COMMON, hidden_size: 3584, intermediate_size: 18944, max_window_layers: 28, num_attention_heads: 28, num_hidden_layers: 28, num_key_value_heads: 4 },
  'Qwen/Qwen2.5-72B': { ...QWEN25_COMMON, hidden_size: 8192, intermediate_size: 29568, max_window_layers: 80, num_attention_heads: 64, num_hidden_layers: 80, num_key_value_heads: 8 },
  'Qwen/Qwen3-8B': {
    architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, head_dim: 128,
    hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 12288, max_position_embeddings: 40960, max_window_layers: 36,
    model_type: 'qwen3', num_attention_heads: 32, num_hidden_layers: 36, num_key_value_heads: 8, rms_norm_eps: 1e-6, rope_scaling: null,
    rope_theta: 1000000, sliding_window: null, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.51.0', use_cache: true,
    use_sliding_window: false, vocab_size: 151936,
  },
  'google/gemma-7b': {
    architectures: ['GemmaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 2, eos_token_id: 1, head_dim: 256,
    hidden_act: 'gelu', hidden_size: 3072, initializer_range: 0.02, intermediate_size: 24576, max_position_embeddings: 8192, model_type: 'gemma',
    num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 16, pad_token_id: 0, rms_norm_eps: 1e-6, rope_scaling: null,
    rope_theta: 10000.0, torch_dtype: 'bfloat16', transformers_version: '4.38.0.dev0', use_cache: true, vocab_size: 256000,
  },
  'tiiuae/falcon-7b': {
    alibi: false, apply_residual_connection_post_layernorm: false, architectures: ['FalconForCausalLM'], attention_dropout: 0.0, bias: false,
    bos_token_id: 11, eos_token_id: 11, hidden_dropout: 0.0, hidden_size: 4544, initializer_range: 0.02, layer_norm_epsilon: 1e-5,
    model_type: 'falcon', multi_query: true, new_decoder_architecture: false, num_attention_heads: 71, num_hidden_layers: 32, parallel_attn: true,
    torch_dtype: 'bfloat16', transformers_version: '4.27.4', use_cache: true, vocab_size: 65024,
  },
  'EleutherAI/gpt-neox-20b': {
    architectures: ['GPTNeoXForCausalLM'], attention_probs_dropout_prob: 0, bos_token_id: 0, eos_token_id: 0, hidden_act: 'gelu_fast',
    hidden_dropout_prob: 0, hidden_size: 6144, initializer_range: 0.02, intermediate_size: 24576, layer_norm_eps: 1e-5, max_position_embeddings: 2048,
    model_type: 'gpt_neox', num_attention_heads: 64, num_hidden_layers: 44, rotary_emb_base: 10000, rotary_pct: 0.25, tie_word_embeddings: false,
    torch_dtype: 'float16', transformers_version: '4.20.0.dev0', use_cache: true, use_parallel_residual: true, vocab_size: 50432,
  },
  // Mixture-of-experts models (sim/model/moe.ts); architecture fields as in each repository's config.json.
  'mistralai/Mixtral-8x7B-v0.1': {
    architectures: ['MixtralForCausalLM'], attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096,
    initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mixtral', num_attention_heads: 32,
    num_experts_per_tok: 2, num_hidden_layers: 32, num_key_value_heads: 8, num_local_experts: 8, output_router_logits: false, rms_norm_eps: 1e-5,
    rope_theta: 1000000.0, router_aux_loss_coef: 0.02, sliding_window: null, tie_word_embeddings: false, torch_dtype: 'bfloat16',
    transformers_version: '4.36.0.dev0', use_cache: true, vocab_size: 32000,
  },
  'Qwen/Qwen3-30B-A3B': {
    architectures: ['Qwen3MoeForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, decoder_sparse_step: 1,
    eos_token_id: 151645, head_dim: 128, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 6144,
    max_position_embeddings: 40960, max_window_layers: 48, mlp_only_layers: [], model_type: 'qwen3_moe', moe_intermediate_size: 768,
    norm_topk_prob: true, num_attention_heads: 32, num_experts: 128, num_experts_per_tok: 8, num_hidden_layers: 48, num_key_value_heads: 4,
    output_router_logits: false, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 1000000.0, router_aux_loss_coef: 0.001, sliding_window: null,
    tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
  },
  'deepseek-ai/DeepSeek-V3': {
    architectures: ['DeepseekV3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 0, eos_token_id: 1, ep_size: 1,
    first_k_dense_replace: 3, hidden_act: 'silu', hidden_size: 7168, initializer_range: 0.02, intermediate_size: 18432, kv_lora_rank: 512,
    max_position_embeddings: 163840, model_type: 'deepseek_v3', moe_intermediate_size: 2048, moe_layer_freq: 1, n_group: 8, n_routed_experts: 256,
    n_shared_experts: 1, norm_topk_prob: true, num_attention_heads: 128, num_experts_per_tok: 8, num_hidden_layers: 61, num_key_value_heads: 128,
    num_nextn_predict_layers: 1, q_lora_rank: 1536, qk_nope_head_dim: 128, qk_rope_head_dim: 64, rms_norm_eps: 1e-6,
    rope_scaling: { beta_fast: 32, beta_slow: 1, factor: 40, mscale: 1.0, mscale_all_dim: 1.0, original_max_position_embeddings: 4096, type: 'yarn' },
    rope_theta: 10000, routed_scaling_factor: 2.5, scoring_func: 'sigmoid', tie_word_embeddings: false, topk_group: 4, topk_method: 'noaux_tc',
    torch_dtype: 'bfloat16', transformers_version: '4.33.1', use_cache: true, v_head_dim: 128, vocab_size: 129280,
  },
};

/** The catalogue's config for a repo id (case-insensitive), and its canonical id; undefined if absent. */
export function hfCatalogueConfig(repoId: string): { id: string; config: Readonly<Record<string, unknown>> } | undefined {
  const id = Object.keys(HF_CATALOGUE).find((key) => key.toLowerCase() === repoId.toLowerCase());
  return id === undefined ? undefined : { id, config: HF_CATALOGUE[id]! };
}
