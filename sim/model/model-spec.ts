import { KvrInputError } from '../errors.js';
import type { Precision } from './precision.js';
import {
  checkBoolean,
  checkEnum,
  checkInteger,
  checkString,
  expectObject,
  rejectUnknownKeys,
  requireKey,
} from '../input/fields.js';

export const MLP_KINDS = ['swiglu', 'gelu'] as const;
export const BLOCK_KINDS = ['sequential', 'parallel'] as const;
export const NORM_KINDS = ['rmsnorm', 'layernorm'] as const;

export type MlpKind = (typeof MLP_KINDS)[number];
export type BlockKind = (typeof BLOCK_KINDS)[number];
export type NormKind = (typeof NORM_KINDS)[number];

/** The shape of a decoder-only transformer (DESIGN §2). Field names are also the JSON file's keys. */
export interface ModelSpec {
  name: string;
  /** L: decoder layers. */
  layers: number;
  /** d: hidden size. */
  hidden: number;
  /** h: query heads. */
  heads: number;
  /** h_kv: key/value heads (h for MHA, 1 for MQA, in between for GQA). */
  kv_heads: number;
  /** hd: head dimension. */
  head_dim: number;
  /** f: FFN inner size. */
  ffn: number;
  /** V: vocabulary size. */
  vocab: number;
  /** b: bytes per element of weights, activations and KV-cache (2 for fp16/bf16). */
  dtype_bytes: number;
  /** swiglu: gate, up, down matrices; gelu: up, down. */
  mlp: MlpKind;
  /** sequential: attn then MLP; parallel: attn and MLP read the same normed input (Falcon). */
  block: BlockKind;
  norm: NormKind;
  /** Input embedding and LM head share one matrix (Falcon). */
  tied_embeddings: boolean;
  /**
   * The formats it is served in (--dtype, --ffn-dtype, --kv-dtype; sim/model/precision.ts);
   * absent: every tensor in dtype_bytes at the fp16 peak.
   */
  precision?: Precision;
  /** Mixture-of-experts FFN (sim/model/moe.ts); absent: every layer's FFN is dense, of size `ffn`. */
  moe?: MoeSpec;
  /** Multi-head latent attention (DeepSeek-V2/V3; sim/model/mla.ts); absent: standard MHA/GQA/MQA. */
  mla?: MlaSpec;
}

/**
 * A mixture-of-experts FFN (Shazeer et al. 2017; Mixtral, Qwen3-MoE, DeepSeek-V3): a router (a d x E
 * GEMM) picks k of E routed experts per token; shared experts see every token. Each expert is an
 * FFN of the model's `mlp` kind with inner size `expert_ffn`. The first `dense_layers` layers keep
 * a dense FFN of size `ffn` (DeepSeek-V3's first_k_dense_replace).
 */
export interface MoeSpec {
  /** E: routed experts of each MoE layer. */
  experts: number;
  /** k: routed experts each token is sent to (top-k). */
  experts_per_token: number;
  /** Experts every token goes through besides its k routed ones (DeepSeek); 0: none. */
  shared_experts: number;
  /** f_e: FFN inner size of one expert (routed or shared). */
  expert_ffn: number;
  /** Leading layers with a dense FFN of size `ffn`; 0: every layer is MoE. */
  dense_layers: number;
}

/**
 * Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, §2.1): K and V are rebuilt per head
 * from a compressed latent of kv_lora_rank plus one shared RoPE key of qk_rope_head_dim, and only
 * that latent is cached and sent. Queries go through a q_lora_rank bottleneck (0: a plain d x h*hd
 * projection). head_dim must be qk_nope_head_dim + qk_rope_head_dim (the query/key head size).
 */
export interface MlaSpec {
  q_lora_rank: number;
  kv_lora_rank: number;
  qk_nope_head_dim: number;
  qk_rope_head_dim: number;
  v_head_dim: number;
}

const REQUIRED = ['name', 'layers', 'hidden', 'heads', 'kv_heads', 'head_dim', 'ffn', 'vocab', 'mlp', 'block'] as const;
const OPTIONAL = ['dtype_bytes', 'norm', 'tied_embeddings', 'description', 'moe', 'mla'] as const;
const MOE_KEYS = ['experts', 'experts_per_token', 'shared_experts', 'expert_ffn', 'dense_layers'] as const;
const MLA_KEYS = ['q_lora_rank', 'kv_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'v_head_dim'] as const;
const MAX_DIMENSION = 1 << 24;

/**
 * Reads a model from a parsed JSON object. Optional fields have documented defaults:
 * dtype_bytes 2 (fp16, as in the paper), norm "rmsnorm", tied_embeddings false.
 */
export function modelFromJson(value: unknown, field = 'model'): ModelSpec {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, [...REQUIRED, ...OPTIONAL], field);
  const dim = (key: string, max = MAX_DIMENSION): number =>
    checkInteger(requireKey(object, key, field), `${field}.${key}`, { min: 1, max });
  const model: ModelSpec = {
    name: checkString(requireKey(object, 'name', field), `${field}.name`),
    layers: dim('layers', 4096),
    hidden: dim('hidden'),
    heads: dim('heads', 65536),
    kv_heads: dim('kv_heads', 65536),
    head_dim: dim('head_dim', 65536),
    ffn: dim('ffn'),
    vocab: dim('vocab'),
    dtype_bytes:
      object.dtype_bytes === undefined
        ? 2
        : checkInteger(object.dtype_bytes, `${field}.dtype_bytes`, { min: 1, max: 8 }),
    mlp: checkEnum(requireKey(object, 'mlp', field), MLP_KINDS, `${field}.mlp`),
    block: checkEnum(requireKey(object, 'block', field), BLOCK_KINDS, `${field}.block`),
    norm: object.norm === undefined ? 'rmsnorm' : checkEnum(object.norm, NORM_KINDS, `${field}.norm`),
    tied_embeddings:
      object.tied_embeddings === undefined
        ? false
        : checkBoolean(object.tied_embeddings, `${field}.tied_embeddings`),
  };
  if (object.description !== undefined) checkString(object.description, `${field}.description`);
  if (model.heads % model.kv_heads !== 0) {
    throw new KvrInputError(
      `${field}.kv_heads`,
      `must divide heads (${model.heads}); got ${model.kv_heads}`,
    );
  }
  if (object.moe !== undefined) model.moe = moeFromJson(object.moe, model, `${field}.moe`);
  if (object.mla !== undefined) model.mla = mlaFromJson(object.mla, model, `${field}.mla`);
  return model;
}

/** experts, experts_per_token and expert_ffn are required; shared_experts and dense_layers default to 0. */
function moeFromJson(value: unknown, model: ModelSpec, field: string): MoeSpec {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, MOE_KEYS, field);
  const experts = checkInteger(requireKey(object, 'experts', field), `${field}.experts`, { min: 1, max: 65536 });
  const moe: MoeSpec = {
    experts,
    experts_per_token: checkInteger(requireKey(object, 'experts_per_token', field), `${field}.experts_per_token`, { min: 1, max: experts }),
    shared_experts: object.shared_experts === undefined ? 0 : checkInteger(object.shared_experts, `${field}.shared_experts`, { min: 0, max: 65536 }),
    expert_ffn: checkInteger(requireKey(object, 'expert_ffn', field), `${field}.expert_ffn`, { min: 1, max: MAX_DIMENSION }),
    dense_layers: object.dense_layers === undefined ? 0 : checkInteger(object.dense_layers, `${field}.dense_layers`, { min: 0, max: model.layers - 1 }),
  };
  return moe;
}

/** Every MLA field is required; q_lora_rank 0 means no query compression. */
function mlaFromJson(value: unknown, model: ModelSpec, field: string): MlaSpec {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, MLA_KEYS, field);
  const dim = (key: (typeof MLA_KEYS)[number], min = 1): number => checkInteger(requireKey(object, key, field), `${field}.${key}`, { min, max: MAX_DIMENSION });
  const mla: MlaSpec = {
    q_lora_rank: dim('q_lora_rank', 0),
    kv_lora_rank: dim('kv_lora_rank'),
    qk_nope_head_dim: dim('qk_nope_head_dim', 0),
    qk_rope_head_dim: dim('qk_rope_head_dim'),
    v_head_dim: dim('v_head_dim'),
  };
  if (mla.qk_nope_head_dim + mla.qk_rope_head_dim !== model.head_dim) {
    throw new KvrInputError(`${field.slice(0, -'.mla'.length)}.head_dim`, `must be mla.qk_nope_head_dim + mla.qk_rope_head_dim = ${mla.qk_nope_head_dim + mla.qk_rope_head_dim} for an MLA model; got ${model.head_dim}`);
  }
  return mla;
}
