import { describe, expect, test } from 'vitest';
import { fitCalibration, fitErrors, shapeFlops, type OpSample } from '../../calibration/fit-profile.js';
import { midpoints } from '../../calibration/calibrate.js';
import { microbenchCases } from '../../calibration/microbench-plans.js';
import { tinyModel } from '../support/scenarios.js';

function sample(op: OpSample['op'], tokens: number, prefix: number, rate: number): OpSample {
  const flops = shapeFlops(tinyModel, op, tokens, prefix);
  return { model: 'tiny', op, tokens, prefix, flops, times_s: [flops / rate], median_s: flops / rate };
}

describe('fitting a profile', () => {
  test('tables hold the achieved rate of every grid sample; the transfer overhead is the median excess', () => {
    const calibration = fitCalibration(
      [sample('mlp', 16, 0, 1e9), sample('mlp', 64, 0, 4e9)],
      [1, 2, 10].map((extra) => ({ bytes: 1e6, bandwidth: 1e9, latency_s: 1e-4, times_s: [], median_s: 1e-4 + 1e-3 + extra * 1e-5 })),
    );
    expect(calibration.tables).toHaveLength(1);
    expect(calibration.tables[0]!.samples.map((s) => [s.tokens, s.prefix])).toEqual([[16, 0], [64, 0]]);
    expect(calibration.tables[0]!.samples[0]!.rate).toBeCloseTo(1e9, 0);
    expect(calibration.tables[0]!.samples[1]!.rate).toBeCloseTo(4e9, 0);
    expect(calibration.transfer_overhead_s).toBeCloseTo(2e-5, 12);
  });

  test('fit error compares the interpolated table with shapes that were measured but not fitted', () => {
    const calibration = fitCalibration([sample('mlp', 16, 0, 1e9), sample('mlp', 64, 0, 4e9)], []);
    // At 32 tokens (halfway in log) the table says 2.5e9 FLOP/s; a measurement at 2e9 means the
    // prediction is 20% short: |2e9 / 2.5e9 - 1| = 0.2.
    const [error] = fitErrors(calibration, [tinyModel], [sample('mlp', 32, 0, 2e9)]);
    expect(error).toEqual({ model: 'tiny', op: 'mlp', checks: 1, mean_abs_error: expect.closeTo(0.2, 9), max_abs_error: expect.closeTo(0.2, 9) });
  });

  test('check shapes sit strictly between grid points', () => {
    expect(midpoints([32, 128, 512])).toEqual([64, 256]);
    expect(midpoints([512, 2048])).toEqual([1024]);
    expect(midpoints([0, 512])).toEqual([23]); // a zero end counts as one token for the geometric mean
  });

  test('microbenchmark plans put each shape on a real rank: attention after a prefix runs on rank 1', () => {
    const cases = microbenchCases(tinyModel, [16, 64], [0, 32]);
    const shapes = cases.flatMap((c) => c.targets.map((t) => `${t.shape.op}:${t.shape.tokens}:${t.shape.prefix}`));
    expect(shapes).toEqual(['qkv:16:0', 'attn:16:0', 'o:16:0', 'mlp:16:0', 'lm_head:1:0', 'attn:16:32', 'qkv:64:0', 'attn:64:0', 'o:64:0', 'mlp:64:0', 'attn:64:32']);
    const prefixed = cases[1]!;
    const op = prefixed.plan.ops[prefixed.targets[0]!.opId]!;
    expect(op.kind === 'compute' && [op.rank, op.tokens, op.prefix]).toEqual([1, 16, 32]);
  });
});
