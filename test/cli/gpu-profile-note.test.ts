import { describe, expect, test } from 'vitest';
import { gpuProfileNote } from '../../cli/gpu-profile-note.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';

describe('gpuProfileNote', () => {
  test('a shape-aware preset: the references after "shape-aware" in its source, once each, not the datasheet', () => {
    const gpu: GpuSpec = { ...GPU_PRESETS['h100-sxm']!, source: 'Vendor datasheet (https://vendor.example/x); shape-aware: GEMM from arXiv 1234.56789 and arXiv 1234.56789, memory (https://blog.example/m), floors (calibration/profiles/h200-pytorch.json: 604 TFLOP/s)' };
    expect(gpuProfileNote(gpu)).toBe('gpu profile: h100-sxm datasheet, shape-aware: kernel efficiencies from published benchmarks (arXiv 1234.56789, https://blog.example/m, calibration/profiles/h200-pytorch.json), not measured on this GPU');
  });

  test('constant efficiencies (no shape model) keep the published-ranges wording; a calibrated profile and the ideal GPU need no note', () => {
    const { shape: _shape, ...constant } = GPU_PRESETS['a100-80g']!;
    expect(gpuProfileNote({ ...constant, profile: 'user' })).toBe('gpu profile: user, uncalibrated (efficiencies are published ranges, not measurements)');
    expect(gpuProfileNote({ ...GPU_PRESETS['h200']!, profile: 'calibrated' })).toBeUndefined();
    expect(gpuProfileNote(GPU_PRESETS['ideal']!)).toBeUndefined();
  });

  test('a shape model with measured points is not described as published efficiencies', () => {
    const gpu = GPU_PRESETS['h200']!;
    const measured: GpuSpec = { ...gpu, profile: 'user', shape: { ...gpu.shape!, gemm_points: [{ m: 1024, n: 4096, k: 4096, seconds: 1e-4 }] } };
    expect(gpuProfileNote(measured)).toBe('gpu profile: user, uncalibrated (efficiencies are published ranges, not measurements)');
  });
});
