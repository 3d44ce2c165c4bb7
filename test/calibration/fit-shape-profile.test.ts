import { describe, expect, test } from 'vitest';
import { calibrateFrom, parseMeasurements } from '../../calibration/fit-shape-profile.js';
import { shapeProfileFromJson } from '../../sim/hardware/shape-profile.js';
import { attentionSeconds, analyticAttentionSeconds, analyticGemmSeconds, gemmSeconds } from '../../sim/hardware/shape-model.js';
import { shapeOpSeconds } from '../../sim/hardware/shape-durations.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { GEMM_SHAPES, knownAnalyticGpu, probeFileOf } from '../support/analytic-gpu.js';

const attn = { mask: 'causal' as const, heads: 32, kv_heads: 32, head_dim: 128 };

describe('kvr calibrate --from: measurement files -> shape profile', () => {
  const truth = knownAnalyticGpu();
  const file = { path: 'probe/analytic.json', text: probeFileOf(truth) };
  const document = calibrateFrom({ files: [file], name: 'analytic-h200', command: 'kvr calibrate --from analytic.json --name analytic-h200' });
  const fitted = shapeProfileFromJson(JSON.parse(JSON.stringify(document))).shape!;

  test('round trip: a known analytic GPU, measured in probe format and fitted, gives back its op times within 1%', () => {
    const worst: number[] = [];
    // Shapes between and on the grid points, none of them in the file but the grid ones.
    for (const m of [64, 100, 500, 1024, 3000, 8192, 16384]) {
      for (const [n, k] of GEMM_SHAPES) worst.push(Math.abs(gemmSeconds(fitted, m, n, k) / analyticGemmSeconds(truth, m, n, k) - 1));
    }
    for (const c of [256, 700, 2048, 5000, 16384]) {
      for (const P of [0, 1024, 3000, 9000, 16384]) {
        const s = { c, P, ...attn };
        worst.push(Math.abs(attentionSeconds(fitted, s) / analyticAttentionSeconds(truth, s) - 1));
      }
    }
    expect(Math.max(...worst)).toBeLessThan(0.01);
    // Whole llama2-7b ops (memory-bound kernels included) agree too.
    const model = MODEL_PRESETS['llama2-7b']!;
    for (const name of ['qkv', 'attn', 'o', 'mlp'] as const) {
      const op = { name, tokens: 3000, prefix: 5000, keys: 8000, causal: true };
      expect(shapeOpSeconds(model, op, fitted, 'flash') / shapeOpSeconds(model, op, { ...truth, gemm_points: [], attention_points: [] }, 'flash')).toBeCloseTo(1, 2);
    }
  });

  test('round trip, without the correction table: the fit recovers the known constants, so the analytic model alone gives back the op times within 1%, on shapes the file never measured', () => {
    // The correction table (measured / analytic) is exact at measured shapes whatever the fitted
    // constants are, and absorbs any constant factor between them; only the analytic part shows
    // whether the fit found the GPU. A fit off by a few percent in efficiency or a plateau fails here.
    expect(fitted.gemm.efficiency / truth.gemm.efficiency - 1).toBeCloseTo(0, 3);
    expect(fitted.gemm.latency_s / truth.gemm.latency_s - 1).toBeCloseTo(0, 2);
    for (const path of ['square', 'prefix'] as const) {
      expect(fitted.attention[path].plateau_flops / truth.attention[path].plateau_flops - 1).toBeCloseTo(0, 2);
      expect(fitted.attention[path].latency_s / truth.attention[path].latency_s - 1).toBeCloseTo(0, 2);
      expect(fitted.attention[path].half_rows / truth.attention[path].half_rows - 1).toBeCloseTo(0, 1);
    }
    const worst: number[] = [];
    // llama2-7b's grid shapes and shapes of other models (llama3-8b GQA qkv, its FFN, llama2-70b's).
    const shapes: Array<[number, number]> = [...GEMM_SHAPES, [6144, 4096], [4096, 14336], [28672, 4096], [8192, 28672]];
    for (const m of [1, 64, 100, 500, 3000, 16384, 32768]) {
      for (const [n, k] of shapes) worst.push(Math.abs(analyticGemmSeconds(fitted, m, n, k) / analyticGemmSeconds(truth, m, n, k) - 1));
    }
    for (const c of [1, 256, 700, 5000, 16384, 32768]) {
      for (const P of [0, 1000, 9000, 30000]) {
        for (const [heads, kv_heads, head_dim] of [[32, 32, 128], [32, 8, 128], [64, 8, 128]]) {
          const s = { c, P, mask: 'causal' as const, heads: heads!, kv_heads: kv_heads!, head_dim: head_dim! };
          worst.push(Math.abs(analyticAttentionSeconds(fitted, s) / analyticAttentionSeconds(truth, s) - 1));
        }
      }
    }
    expect(Math.max(...worst)).toBeLessThan(0.01);
    // Leave-one-out on exact data is exact too (the band of an exact GPU is ~0, not a few percent).
    const cv = (document.fit as { cv: Record<string, { mean: number; max: number }> }).cv;
    expect(cv.gemm!.max).toBeLessThan(0.002);
    expect(cv.attention!.max).toBeLessThan(0.002);
  });

  test('the profile records its source (file, sha256), the unfitted sections, its range and its leave-one-out error per op class', () => {
    const sources = document.sources as Array<Record<string, unknown>>;
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ file: 'analytic.json', schema: 'kvr-measurements/torch-probe@1', gemm_points: 20, attention_points: 16, not_fitted: [] });
    expect(sources[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(document.range).toMatchObject({ gemm_m: [64, 16384], attention_c: [256, 16384], attention_P: [0, 16384] });
    const cv = (document.fit as { cv: Record<string, { points: number; mean: number; max: number }> }).cv;
    expect(cv.gemm!.points).toBe(20);
    expect(cv.attention!.points).toBe(16);
    expect(cv.gemm!.mean).toBeLessThan(0.05);
    expect(fitted.cv_error.gemm).toBe(cv.gemm!.mean);
  });

  test('memory-bound constants come from the files\' elementwise kernels when present; the eager floor never drops below the published dispatch cost', () => {
    expect(fitted.memory.hbm_fraction).toBeCloseTo(0.9, 3);
    expect(fitted.memory.launch_s).toBe(10e-6);
    expect(document.memory_sources).toContain('hbm_fraction: measured (elementwise kernels of the files); launch_s: measured and published');
    const cv = (document.fit as { cv: Record<string, { points: number; mean: number } | null> }).cv;
    expect(cv.memory!.points).toBe(5);
    expect(cv.memory!.mean).toBeLessThan(0.01);
    const fused = shapeProfileFromJson(JSON.parse(JSON.stringify(calibrateFrom({ files: [file], name: 'f', stack: 'fused', command: 'x' })))).shape!;
    expect(fused.memory.launch_s).toBeCloseTo(4e-6, 7);
  });

  test('deterministic: the same files give the same profile, bit for bit', () => {
    const again = calibrateFrom({ files: [{ ...file }], name: 'analytic-h200', command: 'kvr calibrate --from analytic.json --name analytic-h200' });
    expect(JSON.stringify(again)).toBe(JSON.stringify(document));
  });

  test('an unknown schema tag is rejected in one line naming the allowed tags', () => {
    expect(() => parseMeasurements({ path: 'x/bad.json', text: '{"schema": "kvr-measurements/other@9"}' })).toThrow(
      '--from bad.json: schema: expected one of kvr-measurements/h200-pytorch-microbench@1, kvr-measurements/torch-probe@1 (got "kvr-measurements/other@9")',
    );
    expect(() => parseMeasurements({ path: 'bad.json', text: JSON.stringify({ schema: 'kvr-measurements/torch-probe@1', attention: [{ c: 1, P: 0, ms: 1, mask: 'sliding' }] }) })).toThrow(
      /attention\[0\]\.mask: expected causal or dense/,
    );
  });
});

describe('several measurement files', () => {
  test('a shape measured in two files is one point at the geometric mean of its times', async () => {
    const { mergeRepeats } = await import('../../calibration/fit-shape-profile.js');
    const merged = mergeRepeats([{ m: 1, seconds: 1e-3 }, { m: 2, seconds: 5e-3 }, { m: 1, seconds: 4e-3 }], (p) => String(p.m));
    expect(merged).toEqual([{ m: 1, seconds: Math.exp((Math.log(1e-3) + Math.log(4e-3)) / 2) }, { m: 2, seconds: 5e-3 }]);
  });

  test('files of different GPUs are refused in one line', () => {
    const a = probeFileOf(knownAnalyticGpu(), [256], [256], [0]);
    const b = a.replace('NVIDIA H200', 'NVIDIA A100-SXM4-80GB');
    expect(() => calibrateFrom({ files: [{ path: 'a.json', text: a }, { path: 'b.json', text: b }], name: 'x', command: 'x' })).toThrow(
      '--from: files measure different GPUs (NVIDIA H200, NVIDIA A100-SXM4-80GB); one profile is one GPU',
    );
  });
});
