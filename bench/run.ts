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
import type { Topology } from '../sim/topology/topology.js';
import { fastSearch } from '../sim/partition/fast-search.js';
import { DEFAULT_GRANULARITY, makeLattice } from '../sim/partition/lattice.js';
import { TtftEvaluator } from '../sim/partition/ttft-evaluator.js';
import { searchPartition } from '../sim/partition/search-partition.js';
import type { SearchOutcome } from '../sim/partition/search-outcome.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gpuProfileFromJson } from '../sim/hardware/gpu-profile.js';
import type { GpuSpec } from '../sim/hardware/gpu-spec.js';
import { join } from 'node:path';
import { processIo } from '../cli/io.js';
import { projectRoot } from '../cli/project-root.js';
import { defaultJobs } from '../cli/sweep/pool.js';
import { runSweep } from '../cli/sweep/run.js';
import { benchThousands } from './thousands.js';

interface BenchCase {
  name: string;
  scenario: Scenario;
  target_ms: number;
  runs: number;
}

/** The bench's topologies: NVSwitch-class GPU links, 8 GPUs per node, a 50 GB/s NIC per GPU. */
function benchTopology(preset: 'switch' | 'multi-node', gpus: number, bandwidth: number): Topology {
  return presetTopology(preset, { gpus, bandwidth, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
}

const cases: BenchCase[] = [
  {
    name: 'llama2-7b, 8 x a100-80g, switch 300 GB/s, kvr-e, 16k',
    scenario: {
      model: MODEL_PRESETS['llama2-7b']!,
      gpu: GPU_PRESETS['a100-80g']!,
      topology: benchTopology('switch', 8, 300e9),
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
      topology: benchTopology('multi-node', 64, 450e9),
      gpus: 64,
      context: 131072,
      strategy: 'kvr-e',
    },
    target_ms: 50,
    runs: 40,
  },
];

// Issue 14: the same 16k kvr-e simulation on a shape profile (every op costed kernel by kernel from
// shape, with extrapolation notes and the band), against its datasheet-preset twin above it.
{
  const shapeProfile = gpuProfileFromJson(JSON.parse(readFileSync(join(projectRoot(), 'calibration', 'profiles', 'h200-pytorch.json'), 'utf8')));
  const twin: Scenario = { model: MODEL_PRESETS['llama2-7b']!, gpu: GPU_PRESETS.h200!, topology: benchTopology('switch', 8, 450e9), gpus: 8, context: 16384, strategy: 'kvr-e' };
  cases.push(
    { name: 'llama2-7b, 8 x h200 (datasheet), switch 450 GB/s, kvr-e, 16k', scenario: twin, target_ms: 1, runs: 400 },
    { name: 'llama2-7b, 8 x h200-pytorch (shape profile), switch 450 GB/s, kvr-e, 16k', scenario: { ...twin, gpu: shapeProfile }, target_ms: 2, runs: 400 },
  );
}

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

// Issue #7: every strategy on 4 nodes x 8 H100 (NVSwitch inside, a 50 GB/s NIC per GPU),
// llama2-70b, 128k tokens, target 100 ms per simulation. kvr-tp runs with groups of a node and
// the group partition its fast search finds (searched once here; the search itself is timed
// separately below).
{
  const base: Scenario = {
    model: MODEL_PRESETS['llama2-70b']!,
    gpu: GPU_PRESETS['h100-sxm']!,
    topology: benchTopology('multi-node', 32, 450e9),
    gpus: 32,
    context: 131072,
    strategy: 'kvr-e',
  };
  const kvrTp: Scenario = { ...base, strategy: 'kvr-tp', tp: 8 };
  const searchStart = performance.now();
  const groups = simulate(kvrTp).result.partition.filter((_, rank) => rank % 8 === 0);
  const searchMs = performance.now() - searchStart;
  // The target holds for every strategy as it runs by default (ring collectives). With direct
  // collectives every rank sends to every other at once: ~10^3 flows share each link at a time
  // and the max-min model must share them, so those lines are reported without a target.
  const strategies: [string, Scenario, number | null][] = [
    ['kvr-e', base, 100],
    ['tsp', { ...base, strategy: 'tsp' }, 100],
    ['tsp-causal', { ...base, strategy: 'tsp-causal' }, 100],
    ['tsp, direct all-gather', { ...base, strategy: 'tsp', collective: 'direct' }, null],
    ['ring-kv', { ...base, strategy: 'ring-kv' }, 100],
    ['tp', { ...base, strategy: 'tp' }, 100],
    ['tp, direct all-reduce', { ...base, strategy: 'tp', collective: 'direct' }, null],
    ['tp-sp', { ...base, strategy: 'tp-sp' }, 100],
    [`kvr-tp (tp 8, partition ${groups.join(',')})`, { ...kvrTp, partition: groups }, 100],
  ];
  // The machine is noisy: each line also reports its time as a ratio to kvr-e's in this run (kvr-e
  // runs first), and a target is also met when that ratio is within target / KVR_E_REFERENCE_MS:
  // kvr-e's time here on the machine the targets were set on (README: 3 ms on a quiet 2-core
  // Xeon, Node 20), so 100 ms reads as 33x kvr-e.
  const KVR_E_REFERENCE_MS = 3;
  let kvrEMs = Number.NaN;
  for (const [name, scenario, target_ms] of strategies) {
    for (let i = 0; i < 3; i++) simulate(scenario); // warm-up
    const times: number[] = [];
    let events = 0;
    for (let i = 0; i < 9; i++) {
      const start = performance.now();
      events = simulate(scenario).result.events;
      times.push(performance.now() - start);
    }
    const ms = median(times);
    if (name === 'kvr-e') kvrEMs = ms;
    const ratio = ms / kvrEMs;
    const ratioTarget = target_ms === null ? null : target_ms / KVR_E_REFERENCE_MS;
    const ok = target_ms === null || ms <= target_ms || (Number.isFinite(ratio) && ratio <= ratioTarget!);
    if (!ok) missed += 1;
    const verdict = target_ms === null ? 'no target' : `target <= ${target_ms} ms or <= ${ratioTarget!.toFixed(0)}x kvr-e, ${ok ? 'met' : 'MISSED'}`;
    const vs = Number.isFinite(ratio) ? `, ${ratio.toFixed(2)}x kvr-e` : '';
    console.log(`llama2-70b, 4 x 8 h100-sxm, multi-node, 128k, ${name}: median ${ms.toFixed(1)} ms over 9 runs${vs} (${verdict}), ${events} events`);
  }
  console.log(`  (kvr-tp's fast search over the 4 groups, with its final simulation: ${searchMs.toFixed(0)} ms, one run)`);
}

// Issue 14: every preset costs kernels by shape; "one simulation stays within 2x" of the roofline
// it replaced. Each case runs interleaved with its roofline twin (the same preset without its shape
// model) and is timed in CPU time, so a busy machine slows both alike; the line reports the ratio.
// A few ms a run: 25 runs of ring-kv, as 5 gave medians a garbage collection could double.
{
  const roofline = (gpu: GpuSpec): GpuSpec => {
    const { shape: _shape, ...rest } = gpu;
    return rest;
  };
  const cpuMs = (fn: () => void): number => {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  const h100 = GPU_PRESETS['h100-sxm']!;
  const twins: [string, Scenario, number, boolean][] = [
    ['llama2-7b, 8 x a100-80g, kvr-e, 16k', cases[0]!.scenario, 200, false],
    ['llama2-70b, 64 x h100-sxm, kvr-e, 128k', cases[1]!.scenario, 20, false],
    ['fast partition search, llama2-7b, 8 x a100-80g, 16k', searches[0]!.scenario, 10, true],
    ['llama2-70b, 4 x 8 h100-sxm, 128k, ring-kv', { model: MODEL_PRESETS['llama2-70b']!, gpu: h100, topology: benchTopology('multi-node', 32, 450e9), gpus: 32, context: 131072, strategy: 'ring-kv' }, 25, false],
  ];
  for (const [name, scenario, runs, search] of twins) {
    const twin: Scenario = { ...scenario, gpu: roofline(scenario.gpu) };
    const once = (s: Scenario) =>
      cpuMs(() => (search ? fastSearch(new TtftEvaluator(s), makeLattice(s.context, s.gpus, DEFAULT_GRANULARITY)) : simulate(s)));
    for (let i = 0; i < 3; i++) (once(scenario), once(twin));
    const shaped: number[] = [];
    const flat: number[] = [];
    for (let i = 0; i < runs; i++) {
      flat.push(once(twin));
      shaped.push(once(scenario));
    }
    const ratio = median(shaped) / median(flat);
    const ok = ratio <= 2;
    if (!ok) missed += 1;
    console.log(`shape-aware vs roofline twin, ${name}: ${median(shaped).toFixed(2)} vs ${median(flat).toFixed(2)} ms CPU, ${ratio.toFixed(2)}x (target <= 2x, ${ok ? 'met' : 'MISSED'})`);
  }
}

// Issue #17: 1024 GPUs at 1M tokens (bench/thousands.ts).
missed += benchThousands();

// Issue #8: a 10,080-scenario sweep (tsp / kvr-e / kvr-s mixed) on every core, one run (it is
// long; its rate is the mean over the run, worker start-up included).
{
  const spec = join(projectRoot(), 'bench', 'sweep-10k.yaml');
  const dir = mkdtempSync(join(os.tmpdir(), 'kvr-bench-sweep-'));
  const target_s = 60;
  try {
    const summary = await runSweep(processIo, { specPath: spec, out: join(dir, 'sweep'), jobs: defaultJobs(), restart: true });
    const ok = summary.seconds <= target_s && summary.remaining === 0;
    if (!ok) missed += 1;
    console.log(
      `sweep of ${summary.computed} scenarios (bench/sweep-10k.yaml: tsp, kvr-e, kvr-s), ${defaultJobs()} workers: ${summary.seconds.toFixed(1)} s, ${(summary.computed / summary.seconds).toFixed(1)} scenarios/s (target <= ${target_s} s, ${ok ? 'met' : 'MISSED'}), ${summary.errors} invalid`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
// Issue #17 item 4: partition searches at scale, kvr-s at 64 GPUs and kvr-tp's group search at
// 256 GPUs, each the median of 5 whole searches (fresh evaluator, closed-form start, descent, the
// even-split check), and as a ratio to kvr-e on 8 GPUs (the first case above) re-timed in this
// block, since the machine is noisy.
{
  const kvrE8 = cases[0]!.scenario;
  for (let i = 0; i < 50; i++) simulate(kvrE8);
  const kvrE8Times: number[] = [];
  for (let i = 0; i < 400; i++) {
    const start = performance.now();
    simulate(kvrE8);
    kvrE8Times.push(performance.now() - start);
  }
  const kvrE8Ms = median(kvrE8Times);
  console.log(`searches at scale: kvr-e, llama2-7b, 8 x a100-80g, 16k (the unit of the ratios below): median ${kvrE8Ms.toFixed(3)} ms over 400 runs`);
  const base: Scenario = { model: MODEL_PRESETS['llama2-70b']!, gpu: GPU_PRESETS['h100-sxm']!, topology: benchTopology('multi-node', 64, 450e9), gpus: 64, context: 131072, strategy: 'kvr-s' };
  const atScale: { name: string; scenario: Scenario; target_ms: number }[] = [
    { name: 'kvr-s fast search, llama2-70b, 64 x h100-sxm, multi-node (8/node), 128k', scenario: base, target_ms: 1000 },
    {
      name: "kvr-tp group search (tp 8: 32 groups), llama2-70b, 256 x h100-sxm, multi-node (8/node), 128k",
      scenario: { ...base, topology: benchTopology('multi-node', 256, 450e9), gpus: 256, strategy: 'kvr-tp', tp: 8 },
      target_ms: 5000,
    },
    {
      // The same on a 2:1 oversubscribed fabric: a group's 8 sends share its leaf's uplink (the
      // search folded every candidate before: 64 GPUs took 25-58 s).
      name: "kvr-tp group search (tp 8: 32 groups), llama2-70b, 256 x h100-sxm, multi-node (8/node) 2:1 oversubscribed, 128k",
      scenario: { ...base, topology: presetTopology('multi-node', { gpus: 256, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2, oversubscription: 2 }), gpus: 256, strategy: 'kvr-tp', tp: 8 },
      target_ms: 5000,
    },
    {
      // One NIC a node: a group's 8 sends share it (the closed-form start counted each at the
      // whole NIC before, and the descent ran 13,279 simulations here).
      name: "kvr-tp group search (tp 8: 32 groups), llama2-70b, 256 x h100-sxm, multi-node (8/node) one NIC a node, 128k",
      scenario: { ...base, topology: presetTopology('multi-node', { gpus: 256, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2, nics_per_node: 1 }), gpus: 256, strategy: 'kvr-tp', tp: 8 },
      target_ms: 5000,
    },
  ];
  for (const bench of atScale) {
    const times: number[] = [];
    let outcome: SearchOutcome | undefined;
    // A search over 4x its target is not repeated: one run shows the miss, five would take minutes.
    for (let i = 0; i < 5 && !(i === 1 && times[0]! > 4 * bench.target_ms); i++) {
      const start = performance.now();
      outcome = searchPartition(bench.scenario);
      times.push(performance.now() - start);
    }
    const ms = median(times);
    const ok = ms <= bench.target_ms;
    if (!ok) missed += 1;
    const runs = times.length === 1 ? '1 search (over 4x the target: not repeated)' : `${times.length} searches`;
    console.log(
      `${bench.name}: median ${ms.toFixed(0)} ms over ${runs}, ${(ms / kvrE8Ms).toFixed(0)}x kvr-e on 8 GPUs (target <= ${bench.target_ms} ms, ${ok ? 'met' : 'MISSED'}), ${outcome!.simulations} simulations, TTFT ${outcome!.ttft_s.toFixed(6)} s`,
    );
  }
  // kvr-s beyond 64 GPUs up to 1024 (the issue asks for time that grows gently with p). Above 64
  // the restarting descent has a budget and then goes on in passes (sim/partition/fast-search.ts);
  // candidates are decided from the ranks they change (sim/partition/incremental-kvr-chain.ts).
  // Longer searches run fewer times.
  const beyond: { gpus: number; context: number; runs: number }[] = [
    { gpus: 128, context: 131072, runs: 3 },
    { gpus: 128, context: 1 << 20, runs: 3 },
    { gpus: 256, context: 131072, runs: 3 },
    { gpus: 256, context: 1 << 20, runs: 3 },
    { gpus: 512, context: 1 << 20, runs: 1 },
    { gpus: 1024, context: 1 << 20, runs: 1 },
  ];
  for (const { gpus, context, runs } of beyond) {
    const scenario: Scenario = { ...base, topology: benchTopology('multi-node', gpus, 450e9), gpus, context };
    const times: number[] = [];
    let outcome: SearchOutcome | undefined;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      outcome = searchPartition(scenario);
      times.push(performance.now() - start);
    }
    const ms = median(times);
    const passes = outcome!.detail.passes === undefined ? 'restarting descent converged within its budget' : `then ${String(outcome!.detail.passes)} passes`;
    console.log(
      `kvr-s fast search, llama2-70b, ${gpus} x h100-sxm, multi-node (8/node), ${context / 1024}k: median ${ms.toFixed(0)} ms over ${runs} searches, ${(ms / kvrE8Ms).toFixed(0)}x kvr-e on 8 GPUs, ${outcome!.simulations} simulations (${passes}), TTFT ${outcome!.ttft_s.toFixed(6)} s`,
    );
  }
}

process.exitCode = missed === 0 ? 0 : 1;
