import { KvrInputError } from '../errors.js';
import type { GpuSpec } from '../hardware/gpu-spec.js';
import type { ModelSpec } from './model-spec.js';

/**
 * Numeric formats of a served model (issue 14, item 6):
 *   dtype      every GEMM's weights and inputs, the activations between kernels, and attention
 *              (fp8: FlashAttention-3-style fp8 attention at the GPU's fp8 peak);
 *   ffn_dtype  the MLP GEMMs alone (weights stored and computed in it, as in FP8 row-wise FFN
 *              serving); default: dtype;
 *   kv_dtype   the KV cache: what is stored, sent between ranks and all-gathered; default: dtype.
 * fp16 and bf16 cost the same (same bytes, same tensor-core peak on every preset); fp8 halves the
 * bytes and runs at the GPU's fp8 peak. A model without `precision` is the paper's setting: every
 * tensor in `dtype_bytes` bytes at the fp16 peak.
 */
export const DTYPES = ['fp16', 'bf16', 'fp8'] as const;
export type Dtype = (typeof DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = { fp16: 2, bf16: 2, fp8: 1 };

export interface Precision {
  dtype: Dtype;
  ffn_dtype: Dtype;
  kv_dtype: Dtype;
}

/** The model served in `precision`: dtype_bytes becomes the activation dtype's bytes. */
export function withPrecision(model: ModelSpec, precision: Precision): ModelSpec {
  return { ...model, dtype_bytes: DTYPE_BYTES[precision.dtype], precision: { ...precision } };
}

/** A full precision from the given flags: ffn_dtype and kv_dtype default to dtype, dtype to fp16. */
export function precisionOf(given: { dtype?: Dtype; ffn_dtype?: Dtype; kv_dtype?: Dtype }): Precision {
  const dtype = given.dtype ?? 'fp16';
  return { dtype, ffn_dtype: given.ffn_dtype ?? dtype, kv_dtype: given.kv_dtype ?? dtype };
}

/** Bytes per element of the KV cache (and of every K,V transfer). */
export function kvDtypeBytes(model: ModelSpec): number {
  return model.precision === undefined ? model.dtype_bytes : DTYPE_BYTES[model.precision.kv_dtype];
}

/** Bytes per element of the MLP weights (and of the MLP GEMMs' inputs). */
export function ffnDtypeBytes(model: ModelSpec): number {
  return model.precision === undefined ? model.dtype_bytes : DTYPE_BYTES[model.precision.ffn_dtype];
}

/** Whether the non-MLP GEMMs and attention run at the fp8 peak. */
export function isFp8(model: ModelSpec): boolean {
  return model.precision?.dtype === 'fp8';
}

/** Whether the MLP GEMMs run at the fp8 peak. */
export function isFfnFp8(model: ModelSpec): boolean {
  return model.precision?.ffn_dtype === 'fp8';
}

/**
 * Refuses fp8 compute on a GPU without an fp8 peak (A100: no fp8 tensor cores). `flags` names the
 * fields as the caller's front end spells them. An fp8 KV cache needs no fp8 compute: it is allowed.
 */
export function checkPrecisionOnGpu(model: ModelSpec, gpu: GpuSpec, flags = { dtype: 'dtype', ffn_dtype: 'ffn_dtype' }): void {
  if (gpu.peak_flops_fp8 != null) return;
  if (isFp8(model)) throw new KvrInputError(flags.dtype, `fp8 needs a GPU with an fp8 tensor-core peak; GPU ${gpu.name} has none (allowed there: fp16, bf16)`);
  if (isFfnFp8(model)) throw new KvrInputError(flags.ffn_dtype, `fp8 needs a GPU with an fp8 tensor-core peak; GPU ${gpu.name} has none (allowed there: fp16, bf16)`);
}
