import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { bandHalfWidth, paretoFrontier, prefillCost, weightedMean, weightedPercentile } from '../../../sim/capacity/capacity.js';
import { propertyOptions } from '../../support/property.js';

describe('capacity arithmetic', () => {
  test('weighted percentiles: the smallest value whose cumulative weight reaches p', () => {
    const items = [
      { value: 3, weight: 0.5 },
      { value: 1, weight: 0.3 },
      { value: 2, weight: 0.2 },
    ];
    expect(weightedPercentile(items, 30)).toBe(1);
    expect(weightedPercentile(items, 50)).toBe(2);
    expect(weightedPercentile(items, 51)).toBe(3);
    expect(weightedPercentile(items, 100)).toBe(3);
    expect(weightedPercentile([{ value: 1, weight: 0.9 }], 95)).toBeUndefined();
    expect(weightedMean(items)).toBeCloseTo(0.3 + 0.4 + 1.5, 12);
  });

  test('prefill cost is GPU-hours priced', () => {
    expect(prefillCost(8, 3.6, 2)).toBeCloseTo(0.016, 12);
  });

  test('band: the largest fit error of the model (or all) ops and the transfers', () => {
    const fit = {
      ops: [
        { model: 'a', op: 'attn', mean_abs_error: 0.02, max_abs_error: 0.05 },
        { model: 'b', op: 'attn', mean_abs_error: 0.2, max_abs_error: 0.4 },
      ],
      transfer_mean_abs_error: 0.03,
    };
    expect(bandHalfWidth(fit, 'a', 'max')).toBe(0.05);
    expect(bandHalfWidth(fit, 'a', 'mean')).toBe(0.03);
    expect(bandHalfWidth(fit, 'c', 'max')).toBe(0.4);
  });

  test('Pareto frontier: exactly the points no other point dominates', () => {
    const point = fc.record({ cost: fc.integer({ min: 1, max: 20 }), ttft: fc.integer({ min: 1, max: 20 }) });
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 30 }), (points) => {
        const frontier = new Set(paretoFrontier(points));
        points.forEach((p, i) => {
          const dominated = points.some((q) => q.cost <= p.cost && q.ttft <= p.ttft && (q.cost < p.cost || q.ttft < p.ttft));
          if (frontier.has(i)) expect(dominated).toBe(false);
          // A non-frontier point is dominated, or equal to a frontier point.
          else expect(dominated || [...frontier].some((j) => points[j]!.cost === p.cost && points[j]!.ttft === p.ttft)).toBe(true);
        });
      }),
      propertyOptions(300),
    );
  });
});
