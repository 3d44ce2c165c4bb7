import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { propertyOptions } from '../../support/property.js';
import { falcon7b, llama7b, tinyModel, topology } from '../../support/scenarios.js';

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    model: fc.constantFrom(tinyModel, { ...llama7b, layers: 2 }, { ...falcon7b, layers: 2 }),
    gpu: fc.constantFrom('ideal', 'a100-80g', 'h100-sxm'),
    gpus: fc.integer({ min: 2, max: 6 }),
    context: fc.integer({ min: 400, max: 9000 }),
    topology: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.double({ min: 1e9, max: 1e12, noNaN: true }),
    granularity: fc.constantFrom(16, 64),
  })
  .map((r) => ({
    model: r.model,
    gpu: GPU_PRESETS[r.gpu]!,
    topology: topology(r.topology, r.gpus, r.bandwidth, 2e-6, { gpus_per_node: 2, nic_bandwidth: r.bandwidth / 8 }),
    gpus: r.gpus,
    context: r.context,
    strategy: 'kvr-s' as const,
    search: { method: 'fast' as const, granularity: r.granularity },
  }));

describe('partition search properties', () => {
  test('kvr-s TTFT <= kvr-e TTFT in every scenario', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const searched = simulate(s).result.ttft_s;
        const { search: _search, ...rest } = s;
        const even = simulate({ ...rest, strategy: 'kvr-e' }).result.ttft_s;
        expect(searched).toBeLessThanOrEqual(even);
      }),
      propertyOptions(120),
    );
  });

  test('kvr-p (model) partitions are on the lattice and sum to the context', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { search: _search, ...rest } = s;
        const { result } = simulate({ ...rest, strategy: 'kvr-p' });
        expect(result.partition.reduce((a, b) => a + b)).toBe(s.context);
        result.partition.slice(0, -1).forEach((c) => expect(c % 64).toBe(0));
      }),
      propertyOptions(80),
    );
  });
});
