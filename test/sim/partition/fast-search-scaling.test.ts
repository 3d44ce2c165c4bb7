import { describe, expect, test } from 'vitest';
import { fastSearch } from '../../../sim/partition/fast-search.js';
import { DEFAULT_GRANULARITY, makeLattice } from '../../../sim/partition/lattice.js';
import { partitionParts } from '../../../sim/partition/search-partition.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import type { Scenario } from '../../../sim/simulate.js';
import { referenceFastSearch } from '../../support/reference-fast-search.js';
import { topology } from '../../support/scenarios.js';

/** Few layers keep each simulation cheap; the search sees the same landscape shape. */
function scenario(model: string, layers: number, gpus: number, context: number, preset: 'switch' | 'multi-node' | 'pcie', bandwidth: number, extra: Partial<Scenario> = {}): Scenario {
  return {
    model: { ...MODEL_PRESETS[model]!, layers },
    gpu: GPU_PRESETS['a100-80g']!,
    topology: topology(preset, gpus, bandwidth, 2e-6, { gpus_per_node: 8, nic_bandwidth: 25e9 }),
    gpus,
    context,
    strategy: 'kvr-s',
    ...extra,
  };
}

// Beyond 10 ranks the two-granule phase tries neighbour moves only. On these cases (the
// 17-GPU one included, where the full two-granule sweep had led the old search to a worse
// optimum) it finds a partition at least as fast, with fewer simulations.
const CASES: [string, Scenario][] = [
  ['llama2-7b, 17 GPUs, multi-node, 16k', scenario('llama2-7b', 8, 17, 16384, 'multi-node', 300e9)],
  ['llama2-7b, 12 GPUs, switch 300 GB/s, 16k', scenario('llama2-7b', 6, 12, 16384, 'switch', 300e9)],
  ['llama2-7b, 16 GPUs, switch 10 GB/s, 32k', scenario('llama2-7b', 6, 16, 32768, 'switch', 10e9)],
  ['falcon-7b, 20 GPUs, switch 100 GB/s, 32k', scenario('falcon-7b', 4, 20, 32768, 'switch', 100e9)],
  ['llama2-70b, 24 GPUs, multi-node, 32k', scenario('llama2-70b', 4, 24, 32768, 'multi-node', 450e9)],
  ['llama3-8b, 14 GPUs, pcie, 16k', scenario('llama3-8b', 6, 14, 16384, 'pcie', 32e9)],
  ['kvr-tp: llama2-70b, 24 GPUs in 12 groups of 2, multi-node, 32k', scenario('llama2-70b', 4, 24, 32768, 'multi-node', 450e9, { strategy: 'kvr-tp', tp: 2 })],
];

describe('fast search beyond 10 ranks: fewer simulations, no slower partition', () => {
  test.each(CASES)('%s', (_, s) => {
    const lattice = makeLattice(s.context, partitionParts(s), DEFAULT_GRANULARITY);
    const now = fastSearch(new TtftEvaluator(s), lattice);
    const before = referenceFastSearch(new TtftEvaluator(s), lattice);
    expect(now.ttft_s).toBeLessThanOrEqual(before.ttft_s);
    expect(now.simulations).toBeLessThan(before.simulations);
  });
});
