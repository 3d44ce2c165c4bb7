import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { gpuFromJson } from '../../../sim/hardware/gpu-spec.js';
import { analyticAttentionSeconds, analyticGemmSeconds } from '../../../sim/hardware/shape-model.js';

const SHAPE_AWARE = ['a100-40g', 'a100-80g', 'h100-sxm', 'h200', 'h100-pcie', 'gh200', 'h20', 'b200', 'l40s', 'mi300x'];

describe('GPU presets: datasheet peaks and published efficiencies', () => {
  test.each([
    // name, fp16 dense, fp8 dense, HBM, SMs
    ['a100-40g', 312e12, null, 1555e9, 108],
    ['a100-80g', 312e12, null, 2039e9, 108],
    ['h100-sxm', 989e12, 1979e12, 3350e9, 132],
    ['h200', 989e12, 1979e12, 4800e9, 132],
    ['h100-pcie', 756e12, 1513e12, 2000e9, 114],
    ['gh200', 989e12, 1979e12, 4000e9, 132],
    ['h20', 148e12, 296e12, 4000e9, 78],
    ['b200', 2250e12, 4500e12, 8000e9, 148],
    ['l40s', 362.05e12, 733e12, 864e9, 142],
    ['mi300x', 1307.4e12, 2614.9e12, 5300e9, 304],
  ] as const)('%s: %d fp16, %s fp8, %d B/s', (name, fp16, fp8, hbm, sms) => {
    const gpu = GPU_PRESETS[name]!;
    expect(gpu.peak_flops).toBe(fp16);
    expect(gpu.peak_flops_fp8).toBe(fp8);
    expect(gpu.hbm_bandwidth).toBe(hbm);
    expect(gpu.profile).toBe('datasheet');
    expect(gpu.shape?.gemm.sms).toBe(sms);
  });

  test('every preset keeps the roofline efficiencies 0.8 / 0.6 / 0.85 only as the fallback of GPU files; none is costed by them', () => {
    for (const name of SHAPE_AWARE) {
      expect(GPU_PRESETS[name]!.efficiency).toEqual({ gemm: 0.8, attention: 0.6, memory: 0.85 });
      expect(GPU_PRESETS[name]!.shape).toBeDefined();
    }
  });

  test('a100: GEMM plateau 0.76 = the A100/H100 best-shape matmul ratio (85.9% / 80.1%) x the Hopper plateau 0.71; square attention 0.73 of 312 TFLOP/s (FlashAttention-2)', () => {
    expect(Math.round(((0.859 * 0.71) / 0.801) * 100) / 100).toBe(0.76);
    for (const name of ['a100-40g', 'a100-80g']) {
      const gpu = GPU_PRESETS[name]!;
      expect(gpu.shape!.gemm.efficiency).toBe(0.76);
      expect(gpu.shape!.attention.square.plateau_flops).toBeCloseTo(0.73 * 312e12, 0);
      expect(gpu.shape!.fp8).toBeUndefined();
      expect(gpu.source).toMatch(/FlashAttention-2, arXiv 2307\.08691/);
      expect(gpu.source).toMatch(/Maximum Achievable Matmul FLOPS/);
    }
    // Only the HBM bandwidth tells the two A100s apart.
    expect({ ...GPU_PRESETS['a100-40g']!.shape!, memory: null }).toEqual({ ...GPU_PRESETS['a100-80g']!.shape!, memory: null });
  });

  test('h200 is the h100-sxm kernel model with 4.8 TB/s of HBM: same GEMM, attention and fp8 constants', () => {
    const h100 = GPU_PRESETS['h100-sxm']!.shape!;
    const h200 = GPU_PRESETS.h200!.shape!;
    expect(h200.gemm).toEqual(h100.gemm);
    expect(h200.attention).toEqual(h100.attention);
    expect(h200.fp8).toEqual(h100.fp8);
    expect([h100.memory.hbm_bandwidth, h200.memory.hbm_bandwidth]).toEqual([3350e9, 4800e9]);
    expect(h200.memory.hbm_fraction).toBe(h100.memory.hbm_fraction);
    // A memory-bound kernel (one query token over 16k cached keys) is faster on the h200, by less
    // than the HBM ratio (the latency floor is the same).
    const decodeLike = { c: 1, P: 16384, mask: 'causal' as const, heads: 32, kv_heads: 32, head_dim: 128 };
    const ratio = analyticAttentionSeconds(h100, decodeLike) / analyticAttentionSeconds(h200, decodeLike);
    expect(ratio).toBeGreaterThan(1);
    expect(ratio).toBeLessThanOrEqual(4800 / 3350);
  });

  test('every shape-aware preset cites FlashAttention-3 and the fitted H200 profile; fused stack, no measured points', () => {
    for (const name of SHAPE_AWARE) {
      const gpu = GPU_PRESETS[name]!;
      expect(gpu.source).toMatch(/FlashAttention-3, arXiv 2407\.08608.*calibration\/profiles\/h200-pytorch\.json|calibration\/profiles\/h200-pytorch\.json.*FlashAttention-3, arXiv 2407\.08608/);
      expect(gpu.shape!.stack).toBe('fused');
      expect(gpu.shape!.gemm_points).toEqual([]);
      expect(gpu.shape!.cv_error).toEqual({ gemm: null, attention: null, memory: null });
      // The chunk over a prefix runs at 0.55 of the square causal block (H200 profile plateaus).
      expect(gpu.shape!.attention.prefix.plateau_flops / gpu.shape!.attention.square.plateau_flops).toBeCloseTo(0.55, 12);
    }
  });

  test('gh200: square causal attention plateaus at FlashAttention-3\'s 75% of 989 TFLOP/s, fp8 at 1.2/0.74 of that', () => {
    const shape = GPU_PRESETS.gh200!.shape!;
    expect(shape.attention.square.plateau_flops).toBeCloseTo(741.75e12, 0);
    expect(shape.fp8!.attention_scale).toBeCloseTo(1.2e15 / 740e12, 12);
    // A big square block runs near the plateau; in fp8 it is 1.62x faster.
    const s = { c: 16384, P: 0, mask: 'causal' as const, heads: 32, kv_heads: 32, head_dim: 128 };
    const fp16 = analyticAttentionSeconds(shape, s);
    const fp8 = analyticAttentionSeconds(shape, s, { fp8: true, weight_bytes: 1, act_bytes: 1 });
    expect(fp16 / fp8).toBeGreaterThan(1.55);
    expect(fp16 / fp8).toBeLessThan(1.63);
  });

  test('wave quantisation on h100-pcie (114 SMs), 4096^3: 9 waves of 1024 128x128 tiles (at 0.92) beat 5 waves of 512 128x256 tiles', () => {
    const shape = GPU_PRESETS['h100-pcie']!.shape!;
    const perSm = (756e12 * 0.71) / 114;
    expect([Math.ceil(512 / 114), Math.ceil(1024 / 114)]).toEqual([5, 9]);
    expect((9 * 128 * 128) / 0.92).toBeLessThan(5 * 128 * 256);
    expect(analyticGemmSeconds(shape, 4096, 4096, 4096)).toBe(9.1e-6 + (9 * 2 * 128 * 128 * 4096) / (perSm * 0.92));
  });

  test('the ideal GPU stays exact: 100 TFLOP/s, efficiency 1, free memory traffic; fp8 at 200 TFLOP/s', () => {
    expect(GPU_PRESETS.ideal).toMatchObject({ peak_flops: 100e12, peak_flops_fp8: 200e12, hbm_bandwidth: null, memory_bytes: null, launch_overhead_s: 0, efficiency: { gemm: 1, attention: 1, memory: 1 }, profile: 'abstract' });
    expect(GPU_PRESETS.ideal!.shape).toBeUndefined();
  });
});

describe('a GPU file extending a shape-aware preset', () => {
  test('{"base": "gh200", "memory": "144 GB", "hbm_bandwidth": "4.9 TB/s"}: the shape model follows the new HBM', () => {
    const gpu = gpuFromJson({ base: 'gh200', name: 'gh200-144g', memory: '144 GB', hbm_bandwidth: '4.9 TB/s' });
    expect(gpu).toMatchObject({ name: 'gh200-144g', memory_bytes: 144e9, hbm_bandwidth: 4.9e12, peak_flops: 989e12, peak_flops_fp8: 1979e12, profile: 'user' });
    expect(gpu.shape!.memory.hbm_bandwidth).toBe(4.9e12);
    expect(gpu.shape!.gemm).toEqual(GPU_PRESETS.gh200!.shape!.gemm);
  });

  test('a new peak rescales the attention plateaus and the fp8 peak is replaced', () => {
    const gpu = gpuFromJson({ base: 'h20', name: 'h20-fast', peak_flops: '296 TFLOP/s', peak_flops_fp8: '592 TFLOP/s' });
    expect(gpu.shape!.peak_flops).toBe(296e12);
    expect(gpu.shape!.attention.square.plateau_flops).toBeCloseTo(0.75 * 296e12, 0);
    expect(gpu.shape!.fp8!.peak_flops).toBe(592e12);
  });

  test('a file giving its own efficiency asks for the roofline: no shape model', () => {
    const gpu = gpuFromJson({ base: 'l40s', name: 'l40s-roofline', efficiency: { gemm: 0.7, attention: 0.5, memory: 0.8 } });
    expect(gpu.shape).toBeUndefined();
    expect(gpu.efficiency).toEqual({ gemm: 0.7, attention: 0.5, memory: 0.8 });
  });

  test('peak_flops_fp8 null removes fp8 (then fp8 is refused)', () => {
    const gpu = gpuFromJson({ base: 'mi300x', name: 'no-fp8', peak_flops_fp8: null });
    expect(gpu.peak_flops_fp8).toBeNull();
    expect(gpu.shape!.fp8).toBeUndefined();
  });
});
