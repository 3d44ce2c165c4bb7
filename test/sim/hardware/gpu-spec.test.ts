import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { gpuFromJson, isUncalibrated } from '../../../sim/hardware/gpu-spec.js';

const file = {
  name: 'my-a100',
  peak_flops: '312 TFLOP/s',
  hbm_bandwidth: '2039 GB/s',
  memory: '80 GiB',
  launch_overhead: '4 us',
  efficiency: { gemm: 0.8, attention: 0.6, memory: 0.85 },
  link_bandwidth: '300 GB/s',
};

describe('gpuFromJson', () => {
  test('reads unit strings into base units', () => {
    const gpu = gpuFromJson(file);
    expect(gpu.peak_flops).toBe(312e12);
    expect(gpu.hbm_bandwidth).toBe(2039e9);
    expect(gpu.memory_bytes).toBe(80 * 2 ** 30);
    expect(gpu.launch_overhead_s).toBeCloseTo(4e-6, 15);
    expect(gpu.link_bandwidth).toBe(300e9);
    expect(gpu.pcie_bandwidth).toBeNull();
    expect(gpu.profile).toBe('user');
    expect(isUncalibrated(gpu)).toBe(true);
  });

  test('null HBM bandwidth and memory mean free traffic and unlimited capacity', () => {
    const gpu = gpuFromJson({ ...file, hbm_bandwidth: null, memory: null, calibrated: true });
    expect(gpu.hbm_bandwidth).toBeNull();
    expect(gpu.memory_bytes).toBeNull();
    expect(isUncalibrated(gpu)).toBe(false);
  });

  test.each([
    [{ ...file, peak_flops: '312 TB/s' }, /^g.peak_flops: expected a flop-rate/],
    [{ ...file, peak_flops: 0 }, /^g.peak_flops: must be > 0/],
    [{ ...file, efficiency: { gemm: 1.2, attention: 0.6, memory: 0.85 } }, /^g.efficiency.gemm: expected a number in \(0, 1\]/],
    [{ ...file, efficiency: { gemm: 0.8, attention: 0.6 } }, /^g.efficiency.memory: is required/],
    [{ ...file, clock: '1.4 GHz' }, /^g.clock: unknown field/],
    [{ ...file, launch_overhead: 'soon' }, /^g.launch_overhead: expected a time/],
  ])('rejects %j', (input, message) => {
    expect(() => gpuFromJson(input, 'g')).toThrow(message);
  });

  test('datasheet presets are uncalibrated; the ideal GPU is exact', () => {
    for (const name of ['a100-40g', 'a100-80g', 'h100-sxm', 'h200', 'h100-pcie', 'gh200', 'h20', 'b200', 'l40s', 'mi300x']) expect(isUncalibrated(GPU_PRESETS[name]!)).toBe(true);
    expect(isUncalibrated(GPU_PRESETS.ideal!)).toBe(false);
  });
});

describe('a GPU file extending a preset', () => {
  test('{"base": "h100-sxm", ...}: the preset numbers, the given keys replacing them', () => {
    const gpu = gpuFromJson({ base: 'h100-sxm', name: 'h100-96g', peak_flops: 8e14, memory: '96 GB' });
    expect(gpu).toMatchObject({ name: 'h100-96g', peak_flops: 8e14, memory_bytes: 96e9, hbm_bandwidth: 3350e9, launch_overhead_s: 4e-6, link_bandwidth: 450e9, profile: 'user' });
    expect(gpu.efficiency).toEqual({ gemm: 0.8, attention: 0.6, memory: 0.85 });
    expect(gpu.source).toMatch(/NVIDIA H100 SXM datasheet.*extended by a GPU file \(base h100-sxm\)/);
  });

  test('an unknown base is one line naming the presets', () => {
    expect(() => gpuFromJson({ base: 'tpu-v5', name: 'x' })).toThrow('gpu.base: expected a GPU preset: one of a100-40g, a100-80g, h100-sxm, h200, h100-pcie, gh200, h20, b200, l40s, mi300x (got "tpu-v5")');
  });
});
