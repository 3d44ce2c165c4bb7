import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { kernelSeconds } from '../../../sim/hardware/kernel-cost.js';

const a100 = GPU_PRESETS['a100-80g']!;

describe('kernelSeconds', () => {
  test('compute-bound: FLOPs / (peak x efficiency) + launch overhead', () => {
    const kernel = { name: 'g', kind: 'gemm' as const, flops: 2 * 4096 * 4096 * 4096, bytes: 3 * 4096 * 4096 * 2 };
    expect(kernelSeconds(kernel, a100)).toBeCloseTo(kernel.flops / (312e12 * 0.8) + 4e-6, 12);
  });

  test('memory-bound: bytes / (HBM x efficiency) + launch overhead', () => {
    const kernel = { name: 'g', kind: 'gemm' as const, flops: 2 * 1 * 4096 * 32000, bytes: 2 * 4096 * 32000 };
    expect(kernelSeconds(kernel, a100)).toBeCloseTo(kernel.bytes / (2039e9 * 0.85) + 4e-6, 12);
  });

  test('attention uses its own efficiency', () => {
    const kernel = { name: 'a', kind: 'attention' as const, flops: 1e12, bytes: 1e6 };
    expect(kernelSeconds(kernel, a100)).toBeCloseTo(1e12 / (312e12 * 0.6) + 4e-6, 12);
  });

  test('on the ideal GPU memory traffic and launches are free', () => {
    const ideal = GPU_PRESETS.ideal!;
    expect(kernelSeconds({ name: 'norm', kind: 'memory', flops: 0, bytes: 1e12 }, ideal)).toBe(0);
    expect(kernelSeconds({ name: 'g', kind: 'gemm', flops: 1e14, bytes: 1e15 }, ideal)).toBe(1);
  });
});
