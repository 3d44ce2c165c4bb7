import { describe, expect, test } from 'vitest';
import { calibrate } from '../../calibration/calibrate.js';
import { validateProfile } from '../../calibration/validate.js';
import { validationMarkdown, validationSvg } from '../../calibration/validation-report.js';
import { gpuProfileFromJson } from '../../sim/hardware/gpu-profile.js';
import { tinyModel } from '../support/scenarios.js';

/**
 * The whole pipeline on the CPU backend at tiny sizes: measure, fit, load as a profile, validate.
 * Timing accuracy is not asserted here (CI shares two cores between test files); the GPU run is
 * where the error bars are judged.
 */
describe('calibrate and validate on the CPU backend', () => {
  const model = { ...tinyModel, name: 'tiny-calibration', head_dim: 16, layers: 1 };
  let profile: Awaited<ReturnType<typeof calibrate>>;

  test('calibrate writes a profile the simulator loads', async () => {
    profile = await calibrate({
      backend: 'cpu',
      name: 'cpu-test',
      models: [model],
      tokens: [16, 64],
      prefixes: [0, 64],
      link: { bandwidth: 1e8, latency_s: 1e-4, tokens: [64, 256] },
      warmup: 0,
      repeats: 2,
      command: 'test',
    });
    expect(profile.schema).toBe('kvr-calibration/profile@1');
    expect(profile.provenance).toMatchObject({ backend: 'cpu', command: 'test' });
    expect(String(profile.provenance.device)).toMatch(/^cpu/);
    expect(profile.samples.grid.every((s) => s.times_s.length === 2 && s.median_s > 0)).toBe(true);
    expect(profile.calibration.tables.map((t) => `${t.op}:${t.samples.length}`).sort()).toEqual(['attn:4', 'lm_head:1', 'mlp:2', 'o:2', 'qkv:2']);
    expect(profile.fit.ops.map((f) => f.op).sort()).toEqual(['attn', 'mlp', 'o', 'qkv']);
    expect(profile.samples.transfers).toHaveLength(2);
    const gpu = gpuProfileFromJson(JSON.parse(JSON.stringify(profile)));
    expect([gpu.name, gpu.profile]).toEqual(['cpu-test', 'calibrated']);
  }, 60_000);

  test('validate executes and simulates each case, with a report and a figure', async () => {
    const gpu = gpuProfileFromJson(JSON.parse(JSON.stringify(profile)));
    const report = await validateProfile(
      gpu,
      [
        { model, strategy: 'single', gpus: 1, context: 40, bandwidth: 1e9, latency_s: 0 },
        { model, strategy: 'kvr-e', gpus: 2, context: 96, bandwidth: 1e8, latency_s: 1e-4 },
      ],
      { backend: 'cpu', warmup: 0, repeats: 1 },
    );
    expect(report.rows.map((r) => [r.strategy, r.gpus, r.context])).toEqual([['single', 1, 40], ['kvr-e', 2, 96]]);
    for (const row of report.rows) expect(row.error).toBe(row.predicted_s / row.measured_s - 1);
    expect(report.summary.map((s) => s.strategy)).toEqual(['single', 'kvr-e']);
    const markdown = validationMarkdown(report, { date: 'today' });
    expect(markdown).toMatch(/^# Validation of profile cpu-test on cpu/);
    expect(markdown).toMatch(/\| kvr-e \| 1 \| \d+\.\d% \| \d+\.\d% \|/);
    const svg = validationSvg(report);
    expect(svg.match(/<circle /g)!.length).toBe(2 + 2);
    expect(validationSvg(report)).toBe(svg);
  }, 60_000);
});
