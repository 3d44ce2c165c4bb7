import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { baseShapeModel, fitShapeModel, parseMeasurements } from '../../calibration/fit-shape-profile.js';
import {
  SERIES,
  attentionFigure,
  calibrationPoints,
  errorTable,
  errorsFigure,
  gemmFigure,
  loadInputs,
  notebook,
  relativeError,
  type CalibrationInputs,
  type ClassErrorRow,
} from '../../notebooks/calibration.js';
import { NOTEBOOKS } from '../../notebooks/index.js';
import { calibratedGpu, gpu, sharedMeasurementsPath } from '../../notebooks/lib/setting.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { attentionSeconds, gemmSeconds } from '../../sim/hardware/shape-model.js';

const source = sharedMeasurementsPath('h200-pytorch-microbench.json');
const temp = mkdtempSync(join(tmpdir(), 'kvr-calibration-nb-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const row = (table: ClassErrorRow[], cls: string, series: string) => table.find((r) => r.class === cls && r.series === series)!;

describe('notebooks/calibration.ts: measured vs modelled on the H200 file', () => {
  const inputs = loadInputs()!;
  const points = calibrationPoints(inputs);
  const profile = inputs.profile as { fit: { cv: Record<string, { mean: number; max: number }>; residuals: { gemm: Array<Record<string, number>>; attention: Array<Record<string, number>> } } };

  test('every point of the file: 36 GEMMs and 48 attentions, each with a measured time and one per model', () => {
    const raw = JSON.parse(readFileSync(source, 'utf8')) as { gemm: Array<{ tflops: number }>; attention: Array<{ tflops: number }> };
    expect(points.filter((p) => p.class === 'gemm')).toHaveLength(raw.gemm.length);
    expect(points.filter((p) => p.class === 'attention')).toHaveLength(raw.attention.length);
    expect(raw.gemm.length).toBe(36);
    expect(raw.attention.length).toBe(48);
    const gemm = gemmFigure(inputs, points);
    const attention = attentionFigure(inputs, points);
    for (const [fig, n] of [[gemm, 36], [attention, 48]] as const) {
      for (const series of [SERIES.measured, SERIES.before, SERIES.fitted, SERIES.loo]) {
        expect(fig.data.filter((r) => r.series === series)).toHaveLength(n);
      }
      expect(fig.data).toHaveLength(4 * n);
    }
    expect([...new Set(gemm.data.map((r) => r.op))]).toEqual(['qkv', 'o', 'gate_up', 'down']);
    // The measured TF/s is the file's own (its FLOP count is DESIGN §2's, causal-aware for SDPA).
    const measured = [...gemm.data, ...attention.data].filter((r) => r.series === SERIES.measured).map((r) => r.tflops as number);
    const fileTflops = [...raw.gemm, ...raw.attention].map((e) => e.tflops);
    measured.forEach((tf, i) => expect(tf / fileTflops[i]! - 1).toBeCloseTo(0, 4));
  });

  test('before is the datasheet h200 preset (shape-aware): under 0.71 x 989 TFLOP/s on a big GEMM, under 0.75 x on the square causal block at 16k', () => {
    expect(inputs.before).toBe(GPU_PRESETS.h200);
    const big = points.find((p) => p.class === 'gemm' && p.op === 'gate_up' && p.gemm!.m === 16384)!;
    const bigTf = big.flops / big.seconds.before / 1e12;
    expect(bigTf).toBeLessThan(0.71 * 989);
    expect(bigTf).toBeGreaterThan(0.95 * 0.71 * 989);
    const square = points.find((p) => p.class === 'attention' && p.attention!.c === 16384 && p.attention!.P === 0)!;
    const squareTf = square.flops / square.seconds.before / 1e12;
    expect(squareTf).toBeLessThan(0.75 * 989);
    expect(squareTf).toBeGreaterThan(0.95 * 0.75 * 989);
  });

  test('after (leave-one-out) beats before on mean error in every class (pinned: gemm 8.0% -> 4.8%, attention 18.5% -> 3.7%); the in-sample GEMM model only matches the preset', () => {
    const table = errorTable(points);
    for (const cls of ['gemm', 'attention']) expect(row(table, cls, 'loo').mean).toBeLessThan(0.65 * row(table, cls, 'before').mean);
    expect(row(table, 'attention', 'fitted').mean).toBeLessThan(row(table, 'attention', 'before').mean / 2);
    expect(row(table, 'gemm', 'loo').max).toBeLessThan(row(table, 'gemm', 'before').max);
    // Where the preset is as good: GEMMs in sample, and attention's worst leave-one-out point.
    expect(Math.abs(row(table, 'gemm', 'fitted').mean - row(table, 'gemm', 'before').mean)).toBeLessThan(0.01);
    expect(row(table, 'attention', 'loo').max).toBeGreaterThan(row(table, 'attention', 'before').max);
    expect(row(table, 'gemm', 'before').mean).toBeCloseTo(0.08, 2);
    expect(row(table, 'attention', 'before').mean).toBeCloseTo(0.185, 2);
    expect(row(table, 'gemm', 'fitted').mean).toBeCloseTo(0.079, 2);
    expect(row(table, 'attention', 'fitted').mean).toBeCloseTo(0.054, 2);
  });

  test("after: the leave-one-out errors are the profile's recorded cross-validated error; the fitted ones its recorded in-sample residuals", () => {
    const table = errorTable(points);
    for (const cls of ['gemm', 'attention'] as const) {
      expect(row(table, cls, 'loo').mean).toBeCloseTo(profile.fit.cv[cls]!.mean, 12);
      expect(row(table, cls, 'loo').max).toBeCloseTo(profile.fit.cv[cls]!.max, 12);
      // Recomputed here from the profile's fitted constants, against what kvr calibrate recorded.
      const recorded = profile.fit.residuals[cls];
      const mine = points.filter((p) => p.class === cls);
      expect(mine).toHaveLength(recorded.length);
      mine.forEach((p, i) => {
        expect(p.seconds.measured).toBe(recorded[i]!.measured_s);
        expect(p.seconds.fitted / recorded[i]!.analytic_s! - 1).toBeCloseTo(0, 9);
      });
    }
    // As simulated (analytic x the measured correction) the profile returns every measured time.
    for (const p of points) expect(relativeError(p, 'simulated')).toBeLessThan(1e-9);
  });

  test('the recorded leave-one-out predictions are what refitting without the point gives (a sample of 4)', () => {
    const parsed = parseMeasurements(inputs.measurements);
    const base = baseShapeModel(GPU_PRESETS.h200!, 132, 'eager', 2);
    for (const i of [0, 17]) {
      const model = fitShapeModel(base, parsed.gemm.filter((_, j) => j !== i), parsed.attention);
      const p = parsed.gemm[i]!;
      expect(points[i]!.seconds.loo / gemmSeconds(model, p.m, p.n, p.k) - 1).toBeCloseTo(0, 9);
    }
    for (const i of [14, 40]) {
      const model = fitShapeModel(base, parsed.gemm, parsed.attention.filter((_, j) => j !== i));
      expect(points[36 + i]!.seconds.loo / attentionSeconds(model, parsed.attention[i]!) - 1).toBeCloseTo(0, 9);
    }
  });

  test('a planted bug fails: the datasheet as "after" (or the profile as "before") is caught', () => {
    const planted: CalibrationInputs = { ...inputs, before: gpu('h200') };
    // "after" built from a profile whose fitted constants are the datasheet's: efficiency 0.8, no latency.
    const doc = JSON.parse(JSON.stringify(inputs.profile)) as { model: { gemm: { efficiency: number; latency_s: number } } };
    doc.model.gemm.efficiency = 0.8;
    doc.model.gemm.latency_s = 4e-6;
    const bad = errorTable(calibrationPoints({ ...planted, profile: doc as unknown as Record<string, unknown> }));
    expect(row(bad, 'gemm', 'fitted').mean).toBeGreaterThan(0.15);
    expect(() => expect(row(bad, 'gemm', 'fitted').mean).toBeCloseTo(0.079, 2)).toThrow();
    // Swapped: the profile (its shape model) as "before" makes "before" exact, so after no longer beats it.
    const swapped = errorTable(calibrationPoints({ ...inputs, before: calibratedGpu('h200-pytorch') }));
    expect(row(swapped, 'gemm', 'before').mean).toBeLessThan(1e-9);
    expect(() => expect(row(swapped, 'gemm', 'loo').mean).toBeLessThan(row(swapped, 'gemm', 'before').mean / 2)).toThrow();
  });

  test("the header's quoted numbers: ranges of the measurements, errors per class and series, the worst points", () => {
    const tf = (p: (typeof points)[number]) => p.flops / p.seconds.measured / 1e12;
    const gemm = points.filter((p) => p.class === 'gemm');
    const range = (ps: typeof points) => [Math.min(...ps.map(tf)), Math.max(...ps.map(tf))];
    const near = (actual: number, quoted: number, unit: number) => expect(Math.abs(actual - quoted), `${actual} vs ${quoted}`).toBeLessThanOrEqual(unit / 2);
    const [lo, hi] = range(gemm.filter((p) => p.gemm!.m >= 1024));
    near(lo!, 575, 1);
    near(hi!, 697, 1);
    const [slo, shi] = range(gemm.filter((p) => p.gemm!.m <= 256));
    near(slo!, 98, 1);
    near(shi!, 542, 1);
    const [alo, ahi] = range(points.filter((p) => p.class === 'attention' && p.attention!.c >= 4096 && p.attention!.P > 0));
    near(alo!, 270, 1);
    near(ahi!, 331, 1);
    const table = errorTable(points);
    const quoted: Array<[string, string, number, number]> = [
      ['gemm', 'before', 8.0, 24.1],
      ['gemm', 'fitted', 7.9, 24.5],
      ['gemm', 'loo', 4.8, 19.3],
      ['attention', 'before', 18.5, 29.6],
      ['attention', 'fitted', 5.4, 23.0],
      ['attention', 'loo', 3.7, 33.5],
    ];
    for (const [cls, series, mean, max] of quoted) {
      near(100 * row(table, cls, series).mean, mean, 0.1);
      near(100 * row(table, cls, series).max, max, 0.1);
    }
    const worst = (cls: string, series: 'before' | 'loo') =>
      points.filter((p) => p.class === cls).reduce((a, b) => (relativeError(b, series) > relativeError(a, series) ? b : a));
    expect(worst('gemm', 'before')).toMatchObject({ op: 'down', gemm: { m: 128 } });
    near(worst('gemm', 'before').seconds.before / worst('gemm', 'before').seconds.measured, 1.24, 0.01);
    expect(worst('attention', 'before').attention).toMatchObject({ c: 2048, P: 1024 });
    near(worst('attention', 'before').seconds.measured / worst('attention', 'before').seconds.before, 1.42, 0.01);
    // The preset assumes FlashAttention-3; SDPA's FlashAttention-2 is slower on 46 of the 48 points.
    expect(points.filter((p) => p.class === 'attention' && p.seconds.before < p.seconds.measured)).toHaveLength(46);
    expect(worst('attention', 'loo').attention).toMatchObject({ c: 1024, P: 0 });
  });

  test('the errors figure and table; the notebook writes its three figures and the Markdown table', async () => {
    const fig = errorsFigure(inputs, points);
    expect(fig.data).toHaveLength(2 * 4 * 2);
    expect(fig.findings[0]).toBe('| op class | points | model | mean | max |');
    expect(fig.findings).toContain('| gemm | 36 | after: leave-one-out | 4.8% | 19.3% |');
    expect(NOTEBOOKS.map((n) => n.name)).toContain('calibration');
    const lines: string[] = [];
    const written = await notebook.run(join(temp, 'out'), (line) => lines.push(line));
    expect(written.map((w) => w.name)).toEqual(['calibration-gemm', 'calibration-attention', 'calibration-errors']);
    for (const w of written) for (const path of Object.values(w.paths)) expect(existsSync(path)).toBe(true);
    expect(readFileSync(join(temp, 'out', 'calibration-errors.md'), 'utf8')).toContain('| attention | 48 | before: h200 datasheet | 18.5% | 29.6% |');
  }, 60_000);
});

test('without the measurement file the notebook says so and writes nothing', () => {
  expect(loadInputs({ measurementsPath: join(temp, 'absent.json') })).toBeNull();
});
