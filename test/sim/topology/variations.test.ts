import { describe, expect, test } from 'vitest';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { topologyFromJson } from '../../../sim/topology/topology.js';
import { linkBetween, withBackgroundFlow, withLinkBandwidth, withLinkNoise } from '../../../sim/topology/variations.js';
import { noiseFraction } from '../../../sim/topology/link-noise.js';
import { ideal, llama7b, tinyModel, topology } from '../../support/scenarios.js';

/** Two GPUs joined by one 10 B/s link, so bytes / time arithmetic is easy. */
const pair = topologyFromJson({
  nodes: [{ id: 'a', kind: 'gpu' }, { id: 'b', kind: 'gpu' }],
  links: [{ a: 'a', b: 'b', bandwidth: 10 }],
});

function sendOnly(t: typeof pair, bytesPerLayer: number): Scenario {
  // A one-layer model whose compute is negligible on the ideal GPU next to a 10 B/s link.
  const model = { ...tinyModel, layers: 1 };
  const kvb = 2 * model.kv_heads * model.head_dim * model.dtype_bytes;
  return { model, gpu: ideal, topology: t, gpus: 2, context: bytesPerLayer / kvb + 1, strategy: 'kvr', partition: [bytesPerLayer / kvb, 1] };
}

describe('topology variations', () => {
  test('a background flow without a cap takes half of the link it shares', () => {
    const s = sendOnly(pair, 128);
    const alone = simulate(s).result.ttft_s;
    const shared = simulate({ ...s, topology: withBackgroundFlow(pair, ['a', 'b'], null) }).result.ttft_s;
    expect(alone).toBeCloseTo(12.8, 3);
    expect(shared).toBeCloseTo(25.6, 3);
  });

  test('a capped background flow takes at most its rate; the other direction is untouched', () => {
    const s = sendOnly(pair, 128);
    expect(simulate({ ...s, topology: withBackgroundFlow(pair, ['a', 'b'], 2) }).result.ttft_s).toBeCloseTo(16, 3); // 128 B at 8 B/s
    expect(simulate({ ...s, topology: withBackgroundFlow(pair, ['b', 'a'], null) }).result.ttft_s).toBeCloseTo(12.8, 3);
  });

  test('noise scales each period by a seeded fraction in [min, 1]; same seed, same TTFT', () => {
    const noise = { period_s: 1, min_fraction: 0.5, seed: 7 };
    const noisy = withLinkNoise(pair, [0], noise);
    const s = sendOnly(noisy, 128);
    const first = simulate(s).result.ttft_s;
    expect(simulate(structuredClone(s)).result.ttft_s).toBe(first);
    // Bytes drained by time t: sum of 10 * fraction(k) per whole period, so the finish is where 128 B is reached.
    let drained = 0;
    let t = 0;
    for (let k = 0; drained + 10 * noiseFraction(noise, 0, k) < 128; k++) {
      drained += 10 * noiseFraction(noise, 0, k);
      t = k + 1;
    }
    const expected = t + (128 - drained) / (10 * noiseFraction(noise, 0, t));
    expect(first).toBeCloseTo(expected, 6);
    expect(first).toBeGreaterThan(12.8);
    for (let k = 0; k < 50; k++) {
      const f = noiseFraction(noise, 1, k);
      expect(f).toBeGreaterThanOrEqual(0.5);
      expect(f).toBeLessThanOrEqual(1);
    }
  });

  test('one slow link in a chain slows tsp (every ring step crosses it) more than kvr-s', () => {
    const base = topology('ring', 8, 300e9);
    const slow = withLinkBandwidth(base, linkBetween(base, 'gpu3', 'gpu4'), 10e9);
    const ratio = (strategy: Scenario['strategy']) => {
      const s: Scenario = { model: llama7b, gpu: ideal, topology: base, gpus: 8, context: 16384, strategy };
      return simulate({ ...s, topology: slow }).result.ttft_s / simulate(s).result.ttft_s;
    };
    expect(ratio('tsp')).toBeGreaterThan(ratio('kvr-s'));
  });

  test('the JSON forms: background with a rate, noise on a link', () => {
    const t = topologyFromJson({
      nodes: [{ id: 'a', kind: 'gpu' }, { id: 'b', kind: 'gpu' }],
      links: [{ a: 'a', b: 'b', bandwidth: '10 GB/s', noise: { period: '1 ms', min_fraction: 0.25, seed: 3 } }],
      background: [{ path: ['a', 'b'], rate: '1 GB/s' }],
    });
    expect(t.links[0]!.noise).toEqual({ period_s: 1e-3, min_fraction: 0.25, seed: 3 });
    expect(t.background).toEqual([{ nodes: [0, 1], rate: 1e9 }]);
    expect(() => topologyFromJson({ ...t, nodes: t.nodes, links: [{ a: 'a', b: 'b', bandwidth: '1 GB/s', noise: { period: '1 ms', min_fraction: 0, seed: 1 } }] })).toThrow(/noise.min_fraction: expected a number in \(0, 1\]/);
  });
});
