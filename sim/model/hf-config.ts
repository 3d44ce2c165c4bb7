import { KvrInputError, describeValue } from '../errors.js';
import { checkBoolean, checkInteger, expectObject, type JsonObject } from '../input/fields.js';
import { modelFromJson, type BlockKind, type MlaSpec, type MlpKind, type ModelSpec, type MoeSpec } from './model-spec.js';

/**
 * Reads a Hugging Face `config.json` (already parsed) into a ModelSpec. Families and their
 * fields (transformers' configuration_<family>.py):
 *
 *   llama, mistral, qwen2, qwen3, gemma, gemma2   gated MLP (SiLU or GELU: gate, up, down = 3
 *       matrices, kvr's "swiglu"), RMSNorm, sequential block, num_key_value_heads (GQA; absent =
 *       heads), head_dim (absent = hidden_size / num_attention_heads).
 *   falcon (also RefinedWeb, RefinedWebModel)     GELU MLP of ffn_hidden_size (absent = 4 d),
 *       LayerNorm; parallel_attn / new_decoder_architecture: parallel block; KV heads:
 *       num_kv_heads under new_decoder_architecture, else 1 if multi_query, else heads.
 *   gpt_neox                                       GELU MLP, LayerNorm, use_parallel_residual
 *       (default true): parallel block.
 *
 * torch_dtype (or dtype) gives the bytes per element: float16/bfloat16 2, float32 4, float8 1.
 * Every other field is returned in `ignored`, so the caller can say it was not modelled.
 *
 * Mixture-of-experts families (sim/model/moe.ts), llama-like otherwise:
 *   mixtral      num_local_experts, num_experts_per_tok; each expert intermediate_size wide; every layer MoE.
 *   qwen3_moe    num_experts, num_experts_per_tok, moe_intermediate_size; MoE layers per
 *       decoder_sparse_step (1 only) less mlp_only_layers (only a leading run 0..k-1: dense, of intermediate_size).
 *   deepseek_v3  n_routed_experts, n_shared_experts, num_experts_per_tok, moe_intermediate_size,
 *       first_k_dense_replace (dense layers of intermediate_size), moe_layer_freq (1 only); and MLA
 *       (sim/model/mla.ts): q_lora_rank (null: none), kv_lora_rank, qk_nope_head_dim,
 *       qk_rope_head_dim, v_head_dim; head_dim = qk_nope_head_dim + qk_rope_head_dim.
 */
export const HF_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'gemma2', 'falcon', 'RefinedWeb', 'RefinedWebModel', 'gpt_neox', 'mixtral', 'qwen3_moe', 'deepseek_v3'] as const;

export interface HfModel {
  model: ModelSpec;
  /** Config fields kvr read nothing from, sorted. */
  ignored: string[];
}

type Family = 'llama' | 'gemma' | 'falcon' | 'gpt_neox';

const FAMILY: Record<(typeof HF_MODEL_TYPES)[number], Family> = {
  llama: 'llama',
  mistral: 'llama',
  qwen2: 'llama',
  qwen3: 'llama',
  gemma: 'gemma',
  gemma2: 'gemma',
  falcon: 'falcon',
  RefinedWeb: 'falcon',
  RefinedWebModel: 'falcon',
  gpt_neox: 'gpt_neox',
  mixtral: 'llama',
  qwen3_moe: 'llama',
  deepseek_v3: 'llama',
};

/** transformers' defaults of tie_word_embeddings per family. */
const TIED_BY_DEFAULT: Record<Family, boolean> = { llama: false, gemma: true, falcon: true, gpt_neox: false };

const DTYPE_BYTES: Record<string, number> = { float16: 2, bfloat16: 2, half: 2, fp16: 2, bf16: 2, float32: 4, float: 4, fp32: 4, float8_e4m3fn: 1, float8_e5m2: 1 };

/** Whether a parsed JSON document looks like a Hugging Face config rather than a kvr model file. */
export function isHfConfig(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const object = value as JsonObject;
  return 'model_type' in object || 'architectures' in object || 'hidden_size' in object || 'num_hidden_layers' in object;
}

export function modelFromHfConfig(value: unknown, name: string, field = 'config'): HfModel {
  const config = expectObject(value, field);
  const used = new Set<string>(['architectures', 'model_type']);
  const get = (key: string): unknown => {
    used.add(key);
    return config[key];
  };
  const has = (key: string): boolean => config[key] !== undefined && config[key] !== null;
  const modelType = config.model_type;
  if (typeof modelType !== 'string' || !(modelType in FAMILY)) {
    const hint = typeof modelType === 'string' && /moe|deepseek/i.test(modelType) ? ' (mixture-of-experts families read: mixtral, qwen3_moe, deepseek_v3)' : '';
    throw new KvrInputError(`${field}.model_type`, `unsupported model type ${describeValue(modelType)}${hint} (allowed: ${HF_MODEL_TYPES.join(', ')})`);
  }
  const family = FAMILY[modelType as keyof typeof FAMILY];
  const int = (key: string, max = 1 << 24): number => checkInteger(get(key), `${field}.${key}`, { min: 1, max });
  const intOr = (keys: string[], fallback: () => number, max = 1 << 24): number => {
    for (const key of keys) if (has(key)) return int(key, max);
    for (const key of keys) used.add(key);
    return fallback();
  };
  const bool = (key: string, fallback: boolean): boolean => (has(key) ? checkBoolean(get(key), `${field}.${key}`) : (used.add(key), fallback));

  const hidden = intOr(['hidden_size', 'n_embd'], () => missing('hidden_size'));
  const layers = intOr(['num_hidden_layers', 'n_layer'], () => missing('num_hidden_layers'), 4096);
  const heads = intOr(['num_attention_heads', 'n_head'], () => missing('num_attention_heads'), 65536);
  const vocab = int('vocab_size');
  let kvHeads: number;
  let ffn: number;
  let mlp: MlpKind;
  let block: BlockKind;
  if (family === 'falcon') {
    const newArch = bool('new_decoder_architecture', false);
    const multiQuery = bool('multi_query', true);
    kvHeads = newArch ? intOr(['num_kv_heads', 'n_head_kv'], () => heads, 65536) : multiQuery ? 1 : heads;
    if (!newArch) used.add('num_kv_heads');
    ffn = intOr(['ffn_hidden_size'], () => 4 * hidden);
    mlp = 'gelu';
    block = newArch || bool('parallel_attn', true) ? 'parallel' : 'sequential';
    if (newArch) used.add('parallel_attn');
  } else if (family === 'gpt_neox') {
    kvHeads = heads;
    ffn = intOr(['intermediate_size'], () => 4 * hidden);
    mlp = 'gelu';
    block = bool('use_parallel_residual', true) ? 'parallel' : 'sequential';
  } else {
    kvHeads = intOr(['num_key_value_heads'], () => heads, 65536);
    ffn = int('intermediate_size');
    mlp = 'swiglu';
    block = 'sequential';
  }
  // The activation decides nothing the cost model sees beyond the matrix count, but is checked.
  const act = config.hidden_act ?? config.hidden_activation ?? config.activation;
  for (const key of ['hidden_act', 'hidden_activation', 'activation']) if (key in config) used.add(key);
  if (act !== undefined && act !== null && (typeof act !== 'string' || !/^(silu|swish|gelu.*)$/.test(act))) {
    throw new KvrInputError(`${field}.hidden_act`, `unsupported activation ${describeValue(act)} (allowed: silu, swish, gelu*)`);
  }
  let headDim: number;
  const mla = modelType === 'deepseek_v3' ? readMla() : undefined;
  // transformers' DeepseekV3Config sets head_dim to qk_rope_head_dim; the query/key head is nope + rope.
  if (mla !== undefined) {
    used.add('head_dim');
    headDim = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  } else if (has('head_dim')) headDim = int('head_dim', 65536);
  else {
    used.add('head_dim');
    if (hidden % heads !== 0) throw new KvrInputError(`${field}.head_dim`, `is required: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
    headDim = hidden / heads;
  }
  const dtypeKey = has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const dtype = get(dtypeKey);
  used.add('torch_dtype');
  let dtypeBytes = 2;
  if (dtype !== undefined && dtype !== null) {
    const bytes = typeof dtype === 'string' ? DTYPE_BYTES[dtype] : undefined;
    if (bytes === undefined) throw new KvrInputError(`${field}.${dtypeKey}`, `unknown dtype ${describeValue(dtype)} (allowed: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    dtypeBytes = bytes;
  }
  const tied = bool('tie_word_embeddings', TIED_BY_DEFAULT[family]);
  const moe = modelType === 'mixtral' || modelType === 'qwen3_moe' || modelType === 'deepseek_v3' ? readMoe(modelType, ffn) : undefined;
  const spec = {
    ...(moe === undefined ? {} : { moe }),
    ...(mla === undefined ? {} : { mla }),
    name,
    layers,
    hidden,
    heads,
    kv_heads: kvHeads,
    head_dim: headDim,
    ffn,
    vocab,
    dtype_bytes: dtypeBytes,
    mlp,
    block,
    norm: family === 'falcon' || family === 'gpt_neox' ? 'layernorm' : 'rmsnorm',
    tied_embeddings: tied,
  };
  const model = modelFromJson(spec, field);
  const ignored = Object.keys(config).filter((key) => !used.has(key)).sort();
  return { model, ignored };

  function readMoe(type: 'mixtral' | 'qwen3_moe' | 'deepseek_v3', denseFfn: number): MoeSpec {
    if (type === 'mixtral') {
      return { experts: int('num_local_experts', 65536), experts_per_token: int('num_experts_per_tok', 65536), shared_experts: 0, expert_ffn: denseFfn, dense_layers: 0 };
    }
    const expertFfn = int('moe_intermediate_size');
    const perToken = int('num_experts_per_tok', 65536);
    if (type === 'qwen3_moe') {
      if (has('decoder_sparse_step') && get('decoder_sparse_step') !== 1) throw new KvrInputError(`${field}.decoder_sparse_step`, `only 1 (every layer after the dense ones is MoE) is modelled; got ${describeValue(get('decoder_sparse_step'))}`);
      used.add('decoder_sparse_step');
      const dense = has('mlp_only_layers') ? get('mlp_only_layers') : (used.add('mlp_only_layers'), []);
      if (!Array.isArray(dense) || dense.some((layer, i) => layer !== i)) {
        throw new KvrInputError(`${field}.mlp_only_layers`, `only a leading run of dense layers [0, 1, ..., k-1] is modelled; got ${describeValue(dense)}`);
      }
      return { experts: int('num_experts', 65536), experts_per_token: perToken, shared_experts: 0, expert_ffn: expertFfn, dense_layers: dense.length };
    }
    if (has('moe_layer_freq') && get('moe_layer_freq') !== 1) throw new KvrInputError(`${field}.moe_layer_freq`, `only 1 (every layer after first_k_dense_replace is MoE) is modelled; got ${describeValue(get('moe_layer_freq'))}`);
    used.add('moe_layer_freq');
    const shared = has('n_shared_experts') ? checkInteger(get('n_shared_experts'), `${field}.n_shared_experts`, { min: 0, max: 65536 }) : (used.add('n_shared_experts'), 0);
    const dense = has('first_k_dense_replace') ? checkInteger(get('first_k_dense_replace'), `${field}.first_k_dense_replace`, { min: 0, max: 4096 }) : (used.add('first_k_dense_replace'), 0);
    return { experts: int('n_routed_experts', 65536), experts_per_token: perToken, shared_experts: shared, expert_ffn: expertFfn, dense_layers: dense };
  }

  function readMla(): MlaSpec {
    const qLora = has('q_lora_rank') ? checkInteger(get('q_lora_rank'), `${field}.q_lora_rank`, { min: 1, max: 1 << 24 }) : (used.add('q_lora_rank'), 0);
    return { q_lora_rank: qLora, kv_lora_rank: int('kv_lora_rank'), qk_nope_head_dim: int('qk_nope_head_dim', 65536), qk_rope_head_dim: int('qk_rope_head_dim', 65536), v_head_dim: int('v_head_dim', 65536) };
  }

  function missing(key: string): never {
    throw new KvrInputError(`${field}.${key}`, 'is required');
  }
}
