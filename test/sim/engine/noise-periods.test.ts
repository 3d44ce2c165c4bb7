import { describe, expect, test } from 'vitest';
import { MAX_NOISE_PERIODS } from '../../../sim/engine/engine.js';
import { KvrInputError } from '../../../sim/errors.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { topologyFromJson } from '../../../sim/topology/topology.js';
import { ideal, tinyModel } from '../../support/scenarios.js';

/** Two GPUs through a switch; the second link (links[1]) is noisy with the given period. */
function noisy(period: string): Scenario {
  const topology = topologyFromJson({
    nodes: [{ id: 'a', kind: 'gpu' }, { id: 'b', kind: 'gpu' }, { id: 'sw', kind: 'switch' }],
    links: [
      { a: 'a', b: 'sw', bandwidth: 10 },
      { a: 'b', b: 'sw', bandwidth: 10, noise: { period, min_fraction: 0.5, seed: 7 } },
    ],
  });
  // One layer whose K,V (128 bytes) takes 12.8 s or more on the 10 B/s links.
  const model = { ...tinyModel, layers: 1 };
  const kvb = 2 * model.kv_heads * model.head_dim * model.dtype_bytes;
  return { model, gpu: ideal, topology, gpus: 2, context: 128 / kvb + 1, strategy: 'kvr', partition: [128 / kvb, 1] };
}

describe('link noise periods are bounded', () => {
  test('a period far shorter than the run is refused, naming topology.links[i].noise.period, after at most MAX_NOISE_PERIODS periods', () => {
    const started = performance.now();
    let error: unknown;
    try {
      simulate(noisy('1 ns'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KvrInputError);
    expect((error as KvrInputError).field).toBe('topology.links[1].noise.period');
    expect((error as KvrInputError).detail).toMatch(/^1 ns gives more than 100000 noise periods \(the run had not finished after 0\.1 ms simulated\)/);
    expect(MAX_NOISE_PERIODS).toBe(100_000);
    // Bounded work: 10^5 periods, not the 10^10 the run would take (hours, gigabytes).
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  test('a period that the run spans fewer than MAX_NOISE_PERIODS times runs as before', () => {
    // The run lasts 12.8-25.6 s: 1 ms gives at most ~25,600 periods.
    const ttft = simulate(noisy('1 ms')).result.ttft_s;
    expect(ttft).toBeGreaterThan(12.8);
    expect(ttft).toBeLessThan(25.7);
  });
});
