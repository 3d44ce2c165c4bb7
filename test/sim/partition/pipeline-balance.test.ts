import { describe, expect, test } from 'vitest';
import { makeLattice, partitionFromIndices, snapToLattice, validIndices } from '../../../sim/partition/lattice.js';
import { PipelineBalance } from '../../../sim/partition/pipeline-balance.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import type { Scenario } from '../../../sim/simulate.js';
import { Router } from '../../../sim/topology/routing.js';
import { a100, ideal, llama7b, topology } from '../../support/scenarios.js';
import { presetTopology } from '../../../sim/topology/presets.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';

function balance(s: Scenario): PipelineBalance {
  return new PipelineBalance(s, new Router(s.topology));
}

describe('PipelineBalance', () => {
  test('with free links it equalises per-layer compute: earlier ranks (shorter prefix) get more tokens', () => {
    const s: Scenario = { model: llama7b, gpu: ideal, topology: topology('switch', 4, 1e15), gpus: 4, context: 16384, strategy: 'kvr-s' };
    const b = balance(s);
    const partition = b.balancedPartition();
    expect(partition.reduce((x, y) => x + y)).toBe(16384);
    for (let i = 1; i < 4; i++) expect(partition[i]!).toBeLessThan(partition[i - 1]!);
    const prefix = [0, partition[0]!, partition[0]! + partition[1]!, 16384 - partition[3]!];
    const stages = partition.map((c, i) => b.stageCompute(c, prefix[i]!));
    // Equal to within one token's work.
    const oneToken = b.stageCompute(1, 16383);
    expect(Math.max(...stages) - Math.min(...stages)).toBeLessThanOrEqual(2 * oneToken);
  });

  test('kvr-tp: a hop whose t sends share one NIC runs each at its fair share, 1/t of the NIC (the engine\'s rate)', () => {
    const fabric = (nics: number) =>
      presetTopology('multi-node', { gpus: 16, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2, nics_per_node: nics });
    const scenario = (nics: number): Scenario => ({ model: MODEL_PRESETS['llama2-70b']!, gpu: GPU_PRESETS['h100-sxm']!, topology: fabric(nics), gpus: 16, context: 65536, strategy: 'kvr-tp', tp: 8 });
    // The time per extra 1000 tokens (latency cancels): 8 sends on one NIC each get 1/8 of it.
    const perThousand = (nics: number) => {
      const b = balance(scenario(nics));
      return b.hopTransfer(0, 2000) - b.hopTransfer(0, 1000);
    };
    expect(perThousand(1) / perThousand(8)).toBeCloseTo(8, 9);
    expect(perThousand(4) / perThousand(8)).toBeCloseTo(2, 9);
  });

  test('a slow chain moves tokens to later ranks, which forward less', () => {
    const fast: Scenario = { model: llama7b, gpu: a100, topology: topology('switch', 4, 300e9), gpus: 4, context: 16384, strategy: 'kvr-s' };
    const slow: Scenario = { ...fast, topology: topology('switch', 4, 10e9) };
    const fastSplit = balance(fast).balancedPartition();
    const slowSplit = balance(slow).balancedPartition();
    expect(slowSplit[3]!).toBeGreaterThan(fastSplit[3]!);
  });

  test('lattice rounding by the model equals the best of all floor/ceil roundings', () => {
    const s: Scenario = { model: llama7b, gpu: a100, topology: topology('switch', 5, 300e9), gpus: 5, context: 4608, strategy: 'kvr-s' };
    const b = balance(s);
    const lattice = makeLattice(4608, 5, 64);
    const start = b.balancedPartition();
    const rounded = b.roundToLattice(start, lattice);
    let bestStage = Infinity;
    let sum = 0;
    const exact = start.slice(0, -1).map((c) => (sum += c) / 64);
    for (let mask = 0; mask < 16; mask++) {
      const indices = exact.map((x, i) => ((mask >> i) & 1 ? Math.ceil(x) : Math.floor(x)));
      if (validIndices(lattice, indices)) bestStage = Math.min(bestStage, b.slowestStage(partitionFromIndices(lattice, indices)));
    }
    expect(b.slowestStage(partitionFromIndices(lattice, rounded))).toBe(bestStage);
    // And it is no worse in simulated TTFT than rounding each boundary to its nearest point.
    const evaluator = new TtftEvaluator(s);
    const nearest = partitionFromIndices(lattice, snapToLattice(lattice, start));
    expect(evaluator.ttft(partitionFromIndices(lattice, rounded))).toBeLessThanOrEqual(evaluator.ttft(nearest));
  });
});
