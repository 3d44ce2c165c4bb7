import { describe, test } from 'vitest';
import { topologyFromJson } from '../../../sim/topology/topology.js';
import { a100, llama7b } from '../../support/scenarios.js';
import { compareSearchers, expectFastBeatsGrid } from '../../support/fast-vs-grid.js';

/** Eight GPUs in a chain of 300 GB/s NVLinks, except one 10 GB/s link between GPU 3 and GPU 4. */
const slowMiddle = topologyFromJson({
  name: 'chain-slow-middle',
  nodes: Array.from({ length: 8 }, (_, i) => ({ id: `gpu${i}`, kind: 'gpu' })),
  links: Array.from({ length: 7 }, (_, i) => ({
    a: `gpu${i}`,
    b: `gpu${i + 1}`,
    bandwidth: i === 3 ? '10 GB/s' : '300 GB/s',
    latency: '2 us',
  })),
});

describe('fast vs grid search with a slow link in the middle of the chain', () => {
  test('llama2-7b, 8 GPUs, 16k tokens', () => {
    const scenario = { model: llama7b, gpu: a100, topology: slowMiddle, gpus: 8, context: 16384, strategy: 'kvr-s' as const };
    expectFastBeatsGrid([compareSearchers('8 GPUs, 16384 tokens, slow link 3-4', scenario)]);
  }, 300_000);
});
