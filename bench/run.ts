/**
 * `npm run bench`: wall time of whole simulations (plan + costs + events + result), median of
 * repeated runs after a warm-up, on this machine; and of one fast partition search. Targets come
 * from issues #2 and #3.
 */
import os from 'node:os';
import { GPU_PRESETS } from '../sim/hardware/gpu-presets.js';
import { MODEL_PRESETS } from '../sim/model/presets.js';
import { simulate, type Scenario } from '../sim/simulate.js';
import { presetTopology } from '../sim/topology/presets.js';
import { fastSearch } from '../sim/partition/fast-search.js';
import { DEFAULT_GRANULARITY, makeLattice } from '../sim/partition/lattice.js';
import { TtftEvaluator } from '../sim/partition/ttft-evaluator.js';

interface BenchCase {
  name: string;
  scenario: Scenario;
  target_ms: number;
  runs: number;
}

const cases: BenchCase[] = [
  {
    name: 'llama2-7b, 8 x a100-80g, switch 300 GB/s, kvr-e, 16k',
    scenario: {
      model: MODEL_PRESETS['llama2-7b']!,
      gpu: GPU_PRESETS['a100-80g']!,
      topology: presetTopology('switch', { gpus: 8, bandwidth: 300e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 }),
      gpus: 8,
      context: 16384,
      strategy: 'kvr-e',
    },
    target_ms: 1,
    runs: 400,
  },
  {
    name: 'llama2-70b, 64 x h100-sxm, multi-node (8/node), kvr-e, 128k',
    scenario: {
      model: MODEL_PRESETS['llama2-70b']!,
      gpu: GPU_PRESETS['h100-sxm']!,
      topology: presetTopology('multi-node', { gpus: 64, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 }),
      gpus: 64,
      context: 131072,
      strategy: 'kvr-e',
    },
    target_ms: 50,
    runs: 40,
  },
];

interface SearchBench {
  name: string;
  scenario: Scenario;
  target_ms: number;
  runs: number;
}

const searches: SearchBench[] = [
  {
    name: 'fast partition search, llama2-7b, 8 x a100-80g, switch 300 GB/s, 16k',
    scenario: { ...cases[0]!.scenario, strategy: 'kvr-s' },
    target_ms: 100,
    runs: 30,
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

console.log(`kvr bench: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
let missed = 0;
for (const bench of cases) {
  for (let i = 0; i < Math.min(50, bench.runs); i++) simulate(bench.scenario); // warm-up (JIT)
  const times: number[] = [];
  let events = 0;
  for (let i = 0; i < bench.runs; i++) {
    const start = performance.now();
    events = simulate(bench.scenario).result.events;
    times.push(performance.now() - start);
  }
  const ms = median(times);
  const ok = ms <= bench.target_ms;
  if (!ok) missed += 1;
  console.log(
    `${bench.name}: median ${ms.toFixed(3)} ms over ${bench.runs} runs (target <= ${bench.target_ms} ms, ${ok ? 'met' : 'MISSED'}), ${events} events`,
  );
}
for (const bench of searches) {
  const lattice = makeLattice(bench.scenario.context, bench.scenario.gpus, DEFAULT_GRANULARITY);
  for (let i = 0; i < 5; i++) fastSearch(new TtftEvaluator(bench.scenario), lattice); // warm-up
  const times: number[] = [];
  let simulations = 0;
  for (let i = 0; i < bench.runs; i++) {
    const start = performance.now();
    simulations = fastSearch(new TtftEvaluator(bench.scenario), lattice).simulations;
    times.push(performance.now() - start);
  }
  const ms = median(times);
  const ok = ms <= bench.target_ms;
  if (!ok) missed += 1;
  console.log(
    `${bench.name}: median ${ms.toFixed(1)} ms over ${bench.runs} runs (target <= ${bench.target_ms} ms, ${ok ? 'met' : 'MISSED'}), ${simulations} simulations`,
  );
}
process.exitCode = missed === 0 ? 0 : 1;
