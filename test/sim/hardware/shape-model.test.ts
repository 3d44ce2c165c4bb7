import { describe, expect, test } from 'vitest';
import {
  analyticGemmSeconds,
  attentionPath,
  attentionSeconds,
  gemmSeconds,
  interpolateLog,
  memoryKernelSeconds,
  type ShapeModel,
} from '../../../sim/hardware/shape-model.js';
import { knownAnalyticGpu } from '../../support/analytic-gpu.js';

const attn = { mask: 'causal' as const, heads: 32, kv_heads: 32, head_dim: 128 };

describe('shape-aware kernel costs', () => {
  test('interpolateLog is linear in log x and clamps (reporting) outside the points', () => {
    const points = [[100, 1], [10_000, 3]] as const;
    expect(interpolateLog(points, 1000)).toBeCloseTo(2, 12);
    const outside: number[][] = [];
    expect(interpolateLog(points, 10, (lo, hi) => outside.push([lo, hi]))).toBe(1);
    expect(interpolateLog(points, 1e6, (lo, hi) => outside.push([lo, hi]))).toBe(3);
    expect(outside).toEqual([[100, 10_000], [100, 10_000]]);
  });

  test('GEMM: waves = ceil(tiles / SMs): 132 tiles of 128x256 take one wave, 133 take two', () => {
    const gpu: ShapeModel = { ...knownAnalyticGpu(), gemm: { ...knownAnalyticGpu().gemm, tiles: [{ m: 128, n: 256, relative: 1 }], latency_s: 0 } };
    gpu.memory = { ...gpu.memory, hbm_bandwidth: 1e30 };
    const one = analyticGemmSeconds(gpu, 128, 132 * 256, 4096);
    expect(analyticGemmSeconds(gpu, 128, 132 * 256 + 1, 4096)).toBeCloseTo(2 * one, 15);
    expect(one).toBeCloseTo((2 * 128 * 256 * 4096) / ((gpu.peak_flops * gpu.gemm.efficiency) / 132), 15);
  });

  test('GEMM: a measured shape costs its measured time; between measured m the correction is interpolated in log m', () => {
    const truth = knownAnalyticGpu();
    const gpu: ShapeModel = { ...truth, gemm_points: [{ m: 256, n: 4096, k: 4096, seconds: 50e-6 }, { m: 4096, n: 4096, k: 4096, seconds: 300e-6 }] };
    expect(gemmSeconds(gpu, 256, 4096, 4096)).toBeCloseTo(50e-6, 15);
    expect(gemmSeconds(gpu, 4096, 4096, 4096)).toBeCloseTo(300e-6, 15);
    const c0 = 50e-6 / analyticGemmSeconds(gpu, 256, 4096, 4096);
    const c1 = 300e-6 / analyticGemmSeconds(gpu, 4096, 4096, 4096);
    expect(gemmSeconds(gpu, 1024, 4096, 4096)).toBeCloseTo(analyticGemmSeconds(gpu, 1024, 4096, 4096) * (c0 + 0.5 * (c1 - c0)), 15);
  });

  test('GEMM outside the measured m range or of an unmeasured (n, k) is reported', () => {
    const gpu: ShapeModel = { ...knownAnalyticGpu(), gemm_points: [{ m: 256, n: 4096, k: 4096, seconds: 50e-6 }, { m: 4096, n: 4096, k: 4096, seconds: 300e-6 }] };
    const notes = new Set<string>();
    gemmSeconds(gpu, 2048, 4096, 4096, notes);
    expect([...notes]).toEqual([]);
    gemmSeconds(gpu, 65536, 2048, 4096, notes);
    expect([...notes].sort()).toEqual([
      'gemm m=65536 outside the measured m range [256, 4096]',
      'gemm n=2048 k=4096 not measured: corrected as the nearest measured shape n=4096 k=4096',
    ]);
  });

  test('attention: P = 0 causal is the square path, a chunk over a prefix or a dense mask the prefix path', () => {
    expect(attentionPath({ c: 1024, P: 0, ...attn })).toBe('square');
    expect(attentionPath({ c: 1024, P: 1, ...attn })).toBe('prefix');
    expect(attentionPath({ c: 1024, P: 0, ...attn, mask: 'dense' })).toBe('prefix');
  });

  test('attention: measured points cost their measured time; a prefix outside the measured range is reported', () => {
    const truth = knownAnalyticGpu();
    const points = [
      { c: 1024, P: 1024, seconds: 0.13e-3 },
      { c: 1024, P: 16384, seconds: 0.87e-3 },
      { c: 4096, P: 1024, seconds: 0.76e-3 },
      { c: 4096, P: 16384, seconds: 3.8e-3 },
    ].map((p) => ({ ...p, ...attn }));
    const gpu: ShapeModel = { ...truth, attention_points: points };
    for (const p of points) expect(attentionSeconds(gpu, p)).toBeCloseTo(p.seconds, 15);
    const notes = new Set<string>();
    const mid = attentionSeconds(gpu, { c: 2048, P: 4096, ...attn }, notes);
    expect(mid).toBeGreaterThan(0.13e-3);
    expect(mid).toBeLessThan(3.8e-3);
    expect(notes.size).toBe(0);
    attentionSeconds(gpu, { c: 2048, P: 65536, ...attn }, notes);
    expect([...notes]).toEqual(['attention P (at c=1024)=65536 outside the measured range [1024, 16384]', 'attention P (at c=4096)=65536 outside the measured range [1024, 16384]']);
    // No square-path points: P = 0 falls back to the analytic model and says so.
    attentionSeconds(gpu, { c: 2048, P: 0, ...attn }, notes);
    expect(notes.has('attention path square not measured: analytic model only')).toBe(true);
  });

  test('memory-bound kernel: bytes at the achievable HBM bandwidth, never below its launch floor', () => {
    const gpu = knownAnalyticGpu();
    expect(memoryKernelSeconds(gpu, 1)).toBe(gpu.memory.launch_s);
    expect(memoryKernelSeconds(gpu, 4.8e12 * gpu.memory.hbm_fraction)).toBeCloseTo(1, 12);
  });
});
