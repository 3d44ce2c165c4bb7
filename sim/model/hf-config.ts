import { KvrInputError, describeValue } from '../errors.js';
import { checkBoolean, checkInteger, expectObject, type JsonObject } from '../input/fields.js';
import { modelFromJson, type BlockKind, type MlpKind, type ModelSpec } from './model-spec.js';

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
 */
export const HF_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'gemma2', 'falcon', 'RefinedWeb', 'RefinedWebModel', 'gpt_neox'] as const;

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
    const hint = typeof modelType === 'string' && /moe|mixtral|deepseek/i.test(modelType) ? ' (mixture-of-experts models are not modelled yet)' : '';
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
  if (has('head_dim')) headDim = int('head_dim', 65536);
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
  const spec = {
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

  function missing(key: string): never {
    throw new KvrInputError(`${field}.${key}`, 'is required');
  }
}
