import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { precisionOf, withPrecision, checkPrecisionOnGpu, type Precision } from '../../../sim/model/precision.js';
import { kvBytesPerToken, weightBytes } from '../../../sim/model/model-size.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { ideal, tinyModel, topology } from '../../support/scenarios.js';

const served = (p: Partial<Precision>) => withPrecision(tinyModel, precisionOf(p));

function single(model = tinyModel, gpu = ideal): Scenario {
  return { model, gpu, topology: topology('switch', 1, 1e9), gpus: 1, context: 100, strategy: 'single' };
}

describe('precision on the ideal GPU (fp16 peak 1e14, fp8 peak 2e14)', () => {
  test('--dtype fp8: every GEMM and attention at the fp8 peak, so TTFT halves exactly', () => {
    const fp16 = simulate(single(served({ dtype: 'fp16' }))).result;
    const fp8 = simulate(single(served({ dtype: 'fp8' }))).result;
    expect(fp16.flops_total).toBe(fp8.flops_total);
    expect(fp16.ttft_s).toBeCloseTo(fp16.flops_total / 1e14, 18);
    expect(fp8.ttft_s).toBe(fp16.ttft_s / 2);
    expect(fp8.precision).toEqual({ dtype: 'fp8', ffn_dtype: 'fp8', kv_dtype: 'fp8' });
  });

  test('an explicit fp16 costs exactly what the model without a precision costs', () => {
    const plain = simulate(single()).result;
    const fp16 = simulate(single(served({ dtype: 'fp16' }))).result;
    expect(fp16.ttft_s).toBe(plain.ttft_s);
    expect(fp16.ranks).toEqual(plain.ranks);
    expect(plain.precision).toBeUndefined();
    expect(fp16.precision).toEqual({ dtype: 'fp16', ffn_dtype: 'fp16', kv_dtype: 'fp16' });
  });

  test('--ffn-dtype fp8: only the MLP GEMMs (6 c d f per layer) run at the fp8 peak', () => {
    const fp16 = simulate(single(served({}))).result;
    const ffn = simulate(single(served({ ffn_dtype: 'fp8' }))).result;
    const mlpFlops = tinyModel.layers * 6 * 100 * tinyModel.hidden * tinyModel.ffn; // 18,432,000
    expect(mlpFlops).toBe(18_432_000);
    expect(ffn.ttft_s).toBeCloseTo(fp16.ttft_s - mlpFlops / 2e14, 18);
    expect(ffn.precision).toEqual({ dtype: 'fp16', ffn_dtype: 'fp8', kv_dtype: 'fp16' });
  });

  test('weights follow the dtypes: 193,472 parameters, 92,160 of them MLP weights', () => {
    expect(weightBytes(served({}))).toBe(386_944);
    expect(weightBytes(served({ dtype: 'fp8' }))).toBe(193_472);
    expect(weightBytes(served({ ffn_dtype: 'fp8' }))).toBe(101_312 * 2 + 92_160);
    expect(simulate(single(served({ dtype: 'fp8' }))).result.ranks[0]!.weights_bytes).toBe(193_472);
  });

  test('--kv-dtype fp8 halves the KV cache and every K,V send (kvr: rank 0 sends 50 tokens x 3 layers)', () => {
    const kvr = (p: Partial<Precision>): Scenario => ({ model: served(p), gpu: ideal, topology: topology('switch', 2, 1e9), gpus: 2, context: 100, strategy: 'kvr-e' });
    expect(kvBytesPerToken(served({}))).toBe(128);
    expect(kvBytesPerToken(served({ kv_dtype: 'fp8' }))).toBe(64);
    const fp16 = simulate(kvr({})).result;
    const fp8kv = simulate(kvr({ kv_dtype: 'fp8' })).result;
    expect(fp16.comm_bytes_total).toBe(50 * 128 * 3);
    expect(fp8kv.comm_bytes_total).toBe(50 * 64 * 3);
    expect(fp8kv.ranks.map((r) => r.kv_cache_bytes)).toEqual(fp16.ranks.map((r) => r.kv_cache_bytes / 2));
    // Storage only: compute runs at the fp16 peak, the 1 GB/s link carries half the bytes.
    expect(fp8kv.ranks[0]!.compute_s).toBe(fp16.ranks[0]!.compute_s);
    expect(fp8kv.ttft_s).toBeLessThan(fp16.ttft_s);
  });
});

describe('GPUs without fp8 tensor cores', () => {
  const a100 = GPU_PRESETS['a100-80g']!;
  test('fp8 compute is refused in one line naming the field and the GPU', () => {
    expect(a100.peak_flops_fp8).toBeNull();
    expect(() => simulate(single(served({ dtype: 'fp8' }), a100))).toThrow('dtype: fp8 needs a GPU with an fp8 tensor-core peak; GPU a100-80g has none (allowed there: fp16, bf16)');
    expect(() => checkPrecisionOnGpu(served({ ffn_dtype: 'fp8' }), a100, { dtype: '--dtype', ffn_dtype: '--ffn-dtype' })).toThrow('--ffn-dtype: fp8 needs a GPU');
  });

  test('an fp8 KV cache needs no fp8 compute: allowed', () => {
    expect(() => simulate(single(served({ kv_dtype: 'fp8' }), a100))).not.toThrow();
  });
});
