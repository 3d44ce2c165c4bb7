import { describe, expect, test } from 'vitest';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { layerKernels } from '../../../sim/work/layer-kernels.js';
import { precisionOf, withPrecision } from '../../../sim/model/precision.js';
import { computeOpFlops, type ComputeOpName } from '../../../sim/work/compute-op.js';

const llama = MODEL_PRESETS['llama2-7b']!;
const op = (name: ComputeOpName, tokens: number, prefix: number) => ({ name, tokens, prefix, keys: prefix + tokens, causal: true });
const names = (stack: 'eager' | 'fused', c: number, P: number) =>
  (['qkv', 'attn', 'o', 'mlp'] as const).flatMap((name) => layerKernels(llama, op(name, c, P), stack).map((k) => k.name));

describe('the kernels a decoder layer launches', () => {
  test('eager: the reference layer of the H200 measurements, kernel by kernel (K,V cat only with a prefix)', () => {
    const rope = (t: string) => ['mul_cos', 'mul_sin', 'sub', 'mul_sin2', 'mul_cos2', 'add', 'stack'].map((s) => `rope_${t}_${s}`);
    const expected = [
      'norm', 'qkv_proj',
      'rope_arange', 'rope_inv_freq', 'rope_outer', 'rope_cos', 'rope_sin', 'rope_cast_cos', 'rope_cast_sin', ...rope('q'), ...rope('k'),
      'cat_k', 'cat_v', 'attention', 'transpose_copy',
      'o_proj', 'residual_add',
      'norm', 'gate_up_proj', 'silu', 'mul', 'down_proj', 'residual_add',
    ];
    expect(names('eager', 1024, 2048)).toEqual(expected);
    expect(names('eager', 1024, 0)).toEqual(expected.filter((n) => n !== 'cat_k' && n !== 'cat_v'));
  });

  test('fused: add+norm, fused RoPE, paged KV write, attention, fused silu*mul', () => {
    expect(names('fused', 1024, 2048)).toEqual(['add_norm', 'qkv_proj', 'rope', 'kv_cache_write', 'attention', 'o_proj', 'add_norm', 'gate_up_proj', 'silu_mul', 'down_proj']);
  });

  test('GEMM shapes: m = tokens; a tensor-parallel shard splits n (qkv, gate_up) or k (o, down); FLOPs add up to DESIGN §2', () => {
    const shard = { heads: 8, kv_heads: 8, ffn: 2752 };
    const gemms = (['qkv', 'o', 'mlp'] as const).flatMap((name) => layerKernels(llama, { ...op(name, 3000, 0), shard }, 'eager').filter((k) => k.kind === 'gemm'));
    expect(gemms.map((k) => (k.kind === 'gemm' ? [k.name, k.m, k.n, k.k] : []))).toEqual([
      ['qkv_proj', 3000, 3 * 8 * 128, 4096],
      ['o_proj', 3000, 4096, 8 * 128],
      ['gate_up_proj', 3000, 2 * 2752, 4096],
      ['down_proj', 3000, 4096, 2752],
    ]);
    for (const name of ['qkv', 'o', 'mlp'] as const) {
      const flops = layerKernels(llama, op(name, 3000, 0), 'eager').reduce((sum, k) => sum + (k.kind === 'gemm' ? 2 * k.m * k.n * k.k * k.batch : 0), 0);
      expect(flops).toBe(computeOpFlops(llama, op(name, 3000, 0)));
    }
  });
});

describe('precision in the layer kernels', () => {
  test('--ffn-dtype fp8: only the MLP GEMMs are fp8, with 1-byte weights and inputs; the rest keep 2 bytes', () => {
    const served = withPrecision(llama, precisionOf({ ffn_dtype: 'fp8' }));
    const gemms = (['qkv', 'attn', 'o', 'mlp'] as const).flatMap((name) => layerKernels(served, op(name, 1024, 2048), 'fused')).filter((k) => k.kind === 'gemm' || k.kind === 'attention');
    const dtypes = Object.fromEntries(gemms.map((k) => [k.name, k.dtype]));
    expect(dtypes).toEqual({
      qkv_proj: { fp8: false, weight_bytes: 2, act_bytes: 2 },
      attention: { fp8: false, weight_bytes: 2, act_bytes: 2 },
      o_proj: { fp8: false, weight_bytes: 2, act_bytes: 2 },
      gate_up_proj: { fp8: true, weight_bytes: 1, act_bytes: 1 },
      down_proj: { fp8: true, weight_bytes: 1, act_bytes: 1 },
    });
  });

  test('--kv-dtype fp8: attention reads 1-byte K,V; the eager K,V cat moves half the bytes', () => {
    const plain = layerKernels(llama, op('attn', 1024, 2048), 'eager');
    const kv8 = layerKernels(withPrecision(llama, precisionOf({ kv_dtype: 'fp8' })), op('attn', 1024, 2048), 'eager');
    const bytes = (ks: typeof plain, name: string) => (ks.find((k) => k.name === name) as { bytes: number }).bytes;
    expect(bytes(kv8, 'cat_k')).toBe(bytes(plain, 'cat_k') / 2);
    expect(kv8.find((k) => k.kind === 'attention')!.dtype).toEqual({ fp8: false, weight_bytes: 1, act_bytes: 2 });
    // No precision: no dtype on any kernel (the paper's setting, costed exactly as before).
    expect(plain.every((k) => !('dtype' in k))).toBe(true);
  });
});
