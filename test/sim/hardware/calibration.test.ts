import { describe, expect, test } from 'vitest';
import { calibratedOpSeconds, calibrationFromJson, interpolateRate, type OpRateTable } from '../../../sim/hardware/calibration.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { computeOpFlops } from '../../../sim/work/compute-op.js';
import { simulate } from '../../../sim/simulate.js';
import { tinyModel, topology } from '../../support/scenarios.js';

const attnTable: OpRateTable = {
  model: 'tiny',
  op: 'attn',
  samples: [
    { tokens: 10, prefix: 0, rate: 100 },
    { tokens: 1000, prefix: 0, rate: 300 },
    { tokens: 10, prefix: 99, rate: 200 },
    { tokens: 1000, prefix: 99, rate: 400 },
  ],
};

describe('calibrated op tables', () => {
  test('rates interpolate linearly in log(tokens) and log(1 + prefix)', () => {
    expect(interpolateRate(attnTable, 10, 0)).toBe(100);
    expect(interpolateRate(attnTable, 100, 0)).toBeCloseTo(200, 10); // halfway in log10: 10 -> 100 -> 1000
    expect(interpolateRate(attnTable, 100, 9)).toBeCloseTo(250, 10); // log1p(9) is half of log1p(99)
  });

  test('outside the grid the nearest edge is used', () => {
    expect(interpolateRate(attnTable, 1, 0)).toBe(100);
    expect(interpolateRate(attnTable, 5000, 500)).toBe(400);
  });

  test('op seconds are FLOPs / interpolated rate; dense attention looks up prefix = keys - tokens', () => {
    const calibration = { tables: [attnTable], transfer_overhead_s: 0 };
    const causal = { name: 'attn' as const, tokens: 10, prefix: 99, keys: 109, causal: true };
    expect(calibratedOpSeconds(calibration, tinyModel, causal)).toBe(computeOpFlops(tinyModel, causal) / 200);
    const dense = { name: 'attn' as const, tokens: 10, prefix: 0, keys: 109, causal: false };
    expect(calibratedOpSeconds(calibration, tinyModel, dense)).toBe(computeOpFlops(tinyModel, dense) / 200);
    expect(calibratedOpSeconds(calibration, tinyModel, { ...causal, name: 'mlp' })).toBeUndefined();
  });

  test('the simulator uses the tables, the roofline where they are silent, and adds the transfer overhead', () => {
    const rate = 1e9;
    const calibration = {
      tables: (['qkv', 'attn', 'o', 'mlp', 'lm_head'] as const).map((op) => ({ model: 'tiny', op, samples: [{ tokens: 1, prefix: 0, rate }] })),
      transfer_overhead_s: 1e-3,
    };
    const gpu = { ...GPU_PRESETS.ideal!, profile: 'calibrated' as const, calibration };
    const single = simulate({ model: tinyModel, gpu, topology: topology('switch', 1, 1e12), gpus: 1, context: 100, strategy: 'single' }).result;
    expect(single.ttft_s).toBeCloseTo(single.flops_total / rate, 12);
    expect(single.uncalibrated).toBe(false);
    // Two ranks: every one of the layers' sends pays the overhead on top of bytes / bandwidth.
    const kvr = simulate({ model: tinyModel, gpu, topology: topology('switch', 2, 1e15), gpus: 2, context: 100, strategy: 'kvr', partition: [50, 50] }).result;
    const withoutOverhead = simulate({ model: tinyModel, gpu: { ...gpu, calibration: { ...calibration, transfer_overhead_s: 0 } }, topology: topology('switch', 2, 1e15), gpus: 2, context: 100, strategy: 'kvr', partition: [50, 50] }).result;
    expect(kvr.ttft_s).toBeGreaterThan(withoutOverhead.ttft_s + 0.5e-3);
  });

  test.each([
    [{ tables: [], transfer_overhead_s: -1 }, /^c.transfer_overhead_s: expected seconds >= 0/],
    [{ tables: [{ model: 'm', op: 'attn', samples: [{ tokens: 1, prefix: 0, rate: 1 }, { tokens: 2, prefix: 5, rate: 1 }] }], transfer_overhead_s: 0 }, /^c.tables\[0\].samples: must cover a full grid of tokens x prefix \(2 x 2\)/],
    [{ tables: [{ model: 'm', op: 'softmax', samples: [{ tokens: 1, prefix: 0, rate: 1 }] }], transfer_overhead_s: 0 }, /^c.tables\[0\].op: expected one of qkv, attn, o, mlp, lm_head/],
    [{ tables: [{ model: 'm', op: 'o', samples: [{ tokens: 1, prefix: 0, rate: 0 }] }], transfer_overhead_s: 0 }, /^c.tables\[0\].samples\[0\].rate: must be > 0/],
  ])('rejects malformed calibration (%#)', (input, message) => {
    expect(() => calibrationFromJson(input, 'c')).toThrow(message);
  });
});
