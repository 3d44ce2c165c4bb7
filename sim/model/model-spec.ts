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
}

const REQUIRED = ['name', 'layers', 'hidden', 'heads', 'kv_heads', 'head_dim', 'ffn', 'vocab', 'mlp', 'block'] as const;
const OPTIONAL = ['dtype_bytes', 'norm', 'tied_embeddings', 'description'] as const;
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
  return model;
}
