import { beforeAll, describe, expect, test } from 'vitest';
import { evaluateClaims, type Claim, type Verdict } from '../../notebooks/claims.js';
import type { AttentionImplementation } from '../../sim/work/op-kernels.js';

/**
 * The claims table (notebooks/claims.ts, shown by `kvr report`) on its default grid: every verdict,
 * and the numbers each verdict rests on.
 *
 * Tolerances. The simulator is deterministic, so these numbers only move when the model moves. A
 * speedup is pinned to 1% relative (plus 0.005 for the two decimals the table prints); a TTFT loss
 * or gap in percent to 0.6 points (plus 0.05 for its one decimal). That absorbs small changes of
 * definition, such as TTFT at the end of lm_head instead of the makespan (0.2-0.55% on KVR cases,
 * issue #13), while a wrong strategy, a broken search or a swapped threshold moves them far more.
 * A verdict that changes must be looked at, not re-pinned blindly: it is what the report tells.
 */

let claims: Claim[];
beforeAll(() => {
  claims = evaluateClaims();
}, 300_000);

const result = (id: string, attention: AttentionImplementation) => {
  const claim = claims.find((c) => c.id === id);
  expect(claim, id).toBeDefined();
  return claim!.results[attention];
};

/** Every decimal number in a claim's value, in order ("best 1.91x (2 GPUs, ...)" -> 1.91, 2, ...). */
const numbers = (text: string): number[] => [...text.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));

function expectSpeedup(actual: number, expected: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(0.01 * expected + 0.005);
}

function expectPercent(actual: number, expected: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual}% vs ${expected}%`).toBeLessThanOrEqual(0.6 + 0.05);
}

describe("the paper's claims on the default grid (a100-80g datasheet, shape-aware; switch at 300 and 10 GB/s)", () => {
  const verdicts: [string, AttentionImplementation, Verdict][] = [
    ['llama-speedup', 'flash', 'holds'],
    ['llama-speedup', 'eager', 'holds'],
    ['falcon-speedup', 'flash', 'partly'],
    ['falcon-speedup', 'eager', 'partly'],
    ['speedup-growth', 'flash', 'partly'],
    ['speedup-growth', 'eager', 'partly'],
    ['kvr-p', 'flash', 'does not hold'],
    ['kvr-p', 'eager', 'does not hold'],
    ['noisy-network', 'flash', 'partly'],
    ['noisy-network', 'eager', 'partly'],
  ];

  test('the table has the five claims, in order', () => {
    expect(claims.map((c) => c.id)).toEqual(['llama-speedup', 'falcon-speedup', 'speedup-growth', 'kvr-p', 'noisy-network']);
  });

  test.each(verdicts)('%s under %s attention: %s', (id, attention, verdict) => {
    expect(result(id, attention).verdict).toBe(verdict);
  });

  test('Llama 7B: best KVR-S speedup over TSP 1.99x (flash) and 1.85x (eager), over the 1.4x claimed', () => {
    expectSpeedup(numbers(result('llama-speedup', 'flash').value)[0]!, 1.99, 'flash');
    expectSpeedup(numbers(result('llama-speedup', 'eager').value)[0]!, 1.85, 'eager');
  });

  test('Falcon 7B: best speedup 1.48x (flash, 2 GPUs) and 1.46x (eager, 8 GPUs), short of the 1.6x claimed, at 16k tokens, 10 GB/s', () => {
    for (const [attention, expected, gpus] of [['flash', 1.48, 2], ['eager', 1.46, 8]] as const) {
      const value = result('falcon-speedup', attention).value;
      expectSpeedup(numbers(value)[0]!, expected, attention);
      expect(value).toContain(`(${gpus} GPUs, 16384 tokens, 10 GB/s)`);
    }
  });

  test('speedup grows with context (8 GPUs, 1k-16k) but not always with GPUs (16k tokens, 2/4/8): flash falls 1.46 -> 1.43, eager dips at 2k', () => {
    const expected: Record<AttentionImplementation, number[]> = {
      // "vs context (8 GPUs): six speedups; vs GPUs (16384 tokens): three speedups"
      flash: [1.12, 1.13, 1.18, 1.27, 1.35, 1.43, 1.46, 1.43, 1.43],
      eager: [1.13, 1.12, 1.18, 1.27, 1.32, 1.38, 1.17, 1.28, 1.38],
    };
    for (const attention of ['flash', 'eager'] as const) {
      const [, ...rest] = numbers(result('speedup-growth', attention).value); // drop "8" of "8 GPUs"
      const byContext = rest.slice(0, 6);
      const byGpus = rest.slice(7); // skip "16384" of "16384 tokens"
      expect(byContext).toHaveLength(6);
      expect(byGpus).toHaveLength(3);
      [...byContext, ...byGpus].forEach((x, i) => expectSpeedup(x, expected[attention][i]!, `${attention} #${i}`));
    }
  });

  test("KVR-P: the paper's interpolation is not within 1.3% even on average (GEMM tile and wave quantisation make TTFT step with chunk size, and interpolated chunks miss the steps); the model predictor is", () => {
    // [interpolate mean, interpolate max, model mean, model max], percent
    const expected: Record<AttentionImplementation, number[]> = { flash: [3.1, 22.2, 0, 0.1], eager: [2.7, 19.6, 0, 0.1] };
    for (const attention of ['flash', 'eager'] as const) {
      const gaps = numbers(result('kvr-p', attention).value);
      expect(gaps).toHaveLength(4);
      gaps.forEach((x, i) => expectPercent(x, expected[attention][i]!, `${attention} #${i}`));
      expect(gaps[0]!).toBeGreaterThan(1.3); // why the verdict is "does not hold"
    }
  });

  test('noisy network: worst TTFT loss of TSP vs KVR-S over 5 seeds, at 300 and 10 GB/s', () => {
    // "over 5 seeds at 300 GB/s: tsp A%, kvr-s B%; 10 GB/s: tsp C%, kvr-s D%"
    const expected: Record<AttentionImplementation, number[]> = { flash: [7.4, 1.2, 48.0, 48.5], eager: [6.9, 0.9, 46.9, 48.7] };
    for (const attention of ['flash', 'eager'] as const) {
      const [seeds, b1, a, b, b2, c, d] = numbers(result('noisy-network', attention).value);
      expect([seeds, b1, b2]).toEqual([5, 300, 10]);
      [a!, b!, c!, d!].forEach((x, i) => expectPercent(x, expected[attention][i]!, `${attention} #${i}`));
    }
  });
});
