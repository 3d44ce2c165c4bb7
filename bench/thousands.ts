/**
 * Issue #17's must-shows: llama2-70b and llama3.1-405b (examples/llama3.1-405b.json) on 1024 H100
 * in 128 nodes (NVSwitch inside, a 50 GB/s NIC per GPU) at 1M tokens: one simulation each of tsp,
 * ring-kv (and ring-kv with tp 8, as Yang et al. run 405B), kvr-e and kvr-tp (groups of a node,
 * even group chunks) in 1 s or less; tp and tp-sp at the largest GPU count the model's heads
 * allow; the whole process's peak RSS 1 GB or less. Each time is the median of 5 runs in this
 * process, also given as a ratio to kvr-e on 8 A100 at 16k (llama2-7b, 0.5 ms or less) measured in
 * the same run, as the machine is noisy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../cli/project-root.js';
import { GPU_PRESETS } from '../sim/hardware/gpu-presets.js';
import { modelFromJson, type ModelSpec } from '../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../sim/model/presets.js';
import { simulate, type Scenario } from '../sim/simulate.js';
import { buildPlan, type PlanRequest } from '../sim/plan/build-plan.js';
import { planTable } from '../sim/plan/table-plan.js';
import { presetTopology } from '../sim/topology/presets.js';

const TARGET_MS = 1000;
const REFERENCE_TARGET_MS = 0.5;
const PEAK_RSS_TARGET_BYTES = 1e9;
const TOKENS = 1 << 20;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median wall time of `runs` simulations after `warmup` more, or the error that refused it. */
function time(scenario: Scenario, runs: number, warmup: number): { ms: number; ttft_s: number } | { error: string } {
  try {
    for (let i = 0; i < warmup; i++) simulate(scenario);
    const times: number[] = [];
    let ttft = 0;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      ttft = simulate(scenario).result.ttft_s;
      times.push(performance.now() - start);
    }
    return { ms: median(times), ttft_s: ttft };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** A line with no target: the median of 3 runs and its ratio to the reference, or the refusal. */
function noTargetLine(where: string, outcome: { ms: number; ttft_s: number } | { error: string }, referenceMs: number): string {
  if ('error' in outcome) return `${where}: refused: ${outcome.error}`;
  return `${where}: median ${outcome.ms.toFixed(0)} ms over 3 runs, ${(outcome.ms / referenceMs).toFixed(0)}x the reference (no target), TTFT ${outcome.ttft_s.toFixed(3)} s`;
}

/**
 * Building one big plan whole (item 1: its ops as the op table's columns): the median of 3 builds
 * and the bytes its columns hold per op (no target).
 */
function planBuildLine(request: PlanRequest, where: string): string {
  const times: number[] = [];
  let bytesPerOp = 0;
  let ops = 0;
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    const table = planTable(buildPlan(request));
    if (i > 0) times.push(performance.now() - start);
    ops = table.count;
    bytesPerOp = table.bytes() / table.count;
  }
  return `whole plan built, ${where} (${ops} ops): median ${median(times).toFixed(0)} ms over 3 builds, ${bytesPerOp.toFixed(0)} bytes an op in its columns (no target)`;
}

/** Runs the section; returns how many targets it missed. */
export function benchThousands(): number {
  let missed = 0;
  const multiNode = (gpus: number) =>
    presetTopology('multi-node', { gpus, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
  const reference: Scenario = {
    model: MODEL_PRESETS['llama2-7b']!,
    gpu: GPU_PRESETS['a100-80g']!,
    topology: presetTopology('switch', { gpus: 8, bandwidth: 300e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 }),
    gpus: 8,
    context: 16384,
    strategy: 'kvr-e',
  };
  const ref = time(reference, 401, 50);
  if ('error' in ref) throw new Error(ref.error);
  const refOk = ref.ms <= REFERENCE_TARGET_MS;
  if (!refOk) missed += 1;
  console.log(`issue 17 reference: llama2-7b, 8 x a100-80g, switch 300 GB/s, kvr-e, 16k: median ${ref.ms.toFixed(3)} ms over 401 runs (target <= ${REFERENCE_TARGET_MS} ms, ${refOk ? 'met' : 'MISSED'})`);

  const models: ModelSpec[] = [
    MODEL_PRESETS['llama2-70b']!,
    modelFromJson(JSON.parse(readFileSync(join(projectRoot(), 'examples', 'llama3.1-405b.json'), 'utf8'))),
  ];
  const h100 = GPU_PRESETS['h100-sxm']!;
  for (const model of models) {
    const gpus = 1024;
    const base: Scenario = { model, gpu: h100, topology: multiNode(gpus), gpus, context: TOKENS, strategy: 'kvr-e' };
    const groups = gpus / 8;
    // The largest power-of-two GPU count the heads allow (a whole number of nodes).
    let tpGpus = 8;
    while (tpGpus * 2 <= Math.min(model.heads, gpus)) tpGpus *= 2;
    const lines: [string, Scenario][] = [
      ['tsp', { ...base, strategy: 'tsp' }],
      ['ring-kv', { ...base, strategy: 'ring-kv' }],
      ['ring-kv (tp 8)', { ...base, strategy: 'ring-kv', tp: 8 }],
      ['kvr-e', base],
      ['kvr-tp (tp 8, even group chunks)', { ...base, strategy: 'kvr-tp', tp: 8, partition: new Array<number>(groups).fill(TOKENS / groups) }],
      [`tp on ${tpGpus} GPUs`, { ...base, topology: multiNode(tpGpus), gpus: tpGpus, strategy: 'tp' }],
      [`tp-sp on ${tpGpus} GPUs`, { ...base, topology: multiNode(tpGpus), gpus: tpGpus, strategy: 'tp-sp' }],
    ];
    for (const [name, scenario] of lines) {
      const outcome = time(scenario, 5, 1);
      const where = `${model.name}, ${scenario.gpus} x h100-sxm in ${scenario.gpus / 8} nodes, 1M tokens, ${name}`;
      if ('error' in outcome) {
        missed += 1;
        console.log(`${where}: refused (MISSED): ${outcome.error}`);
        continue;
      }
      const ok = outcome.ms <= TARGET_MS;
      if (!ok) missed += 1;
      console.log(
        `${where}: median ${outcome.ms.toFixed(0)} ms over 5 runs, ${(outcome.ms / ref.ms).toFixed(0)}x the reference (target <= ${TARGET_MS} ms, ${ok ? 'met' : 'MISSED'}), TTFT ${outcome.ttft_s.toFixed(3)} s`,
      );
    }
  }
  // Shared fabrics (no target of the issue's; reported so a regression shows): a 2:1 oversubscribed
  // leaf-spine and rail-optimised leaves, where the recurrences run their bundles of channels that
  // share uplinks or NICs, and slack spine uplinks (sim/engine/bundled-channels.ts).
  const llama70b = MODEL_PRESETS['llama2-70b']!;
  const fabrics: [string, Partial<Parameters<typeof presetTopology>[1]>][] = [
    ['2:1 oversubscribed leaves', { oversubscription: 2 }],
    ['rail-optimised leaves', { rails: true }],
    // Links bind across bundles here: kvr-e folds a sample on the flow model (sim/engine/flow-network.ts).
    ['rail-optimised leaves, 2:1 oversubscribed', { rails: true, oversubscription: 2 }],
  ];
  for (const [fabricName, fabric] of fabrics) {
    const gpus = 1024;
    const topology = presetTopology('multi-node', { gpus, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2, ...fabric });
    const base: Scenario = { model: llama70b, gpu: h100, topology, gpus, context: TOKENS, strategy: 'kvr-e' };
    const lines: [string, Scenario][] = [
      ['tsp', { ...base, strategy: 'tsp' }],
      ['ring-kv (tp 8)', { ...base, strategy: 'ring-kv', tp: 8 }],
      ['kvr-e', base],
      ['kvr-tp (tp 8, even group chunks)', { ...base, strategy: 'kvr-tp', tp: 8, partition: new Array<number>(gpus / 8).fill(TOKENS / (gpus / 8)) }],
    ];
    for (const [name, scenario] of lines) {
      const outcome = time(scenario, 3, 1);
      const where = `llama2-70b, 1024 x h100-sxm in 128 nodes, ${fabricName}, 1M tokens, ${name}`;
      console.log(noTargetLine(where, outcome, ref.ms));
    }
  }
  // ring-q has no recurrence or fold: its all-to-all shares NICs with its ring, so every event
  // re-rates flows on the flow model (no target; reported so a regression shows).
  const ringQ: Scenario = { model: llama70b, gpu: h100, topology: multiNode(32), gpus: 32, context: TOKENS, strategy: 'ring-q' };
  console.log(noTargetLine('llama2-70b, 32 x h100-sxm in 4 nodes, 1M tokens, ring-q (event engine, shared NICs)', time(ringQ, 3, 1), ref.ms));
  const peak = process.resourceUsage().maxRSS * 1024;
  const rssOk = peak <= PEAK_RSS_TARGET_BYTES;
  if (!rssOk) missed += 1;
  console.log(`issue 17 peak RSS of the process so far: ${(peak / 1e6).toFixed(0)} MB (target <= ${PEAK_RSS_TARGET_BYTES / 1e6} MB, ${rssOk ? 'met' : 'MISSED'})`);
  // pp-chunked has no fold or recurrence either: at 1M tokens its 128 chunks run through every
  // stage as a whole plan of 356k stored ops, 2.7M with its collectives expanded (no target; after
  // the RSS line, which is the issue's runs').
  const ppChunked: Scenario = { model: llama70b, gpu: h100, topology: multiNode(64), gpus: 64, context: TOKENS, strategy: 'pp-chunked', tp: 8 };
  console.log(noTargetLine('llama2-70b, 64 x h100-sxm in 8 nodes, 1M tokens, pp-chunked (tp 8: 8 stages, 128 chunks)', time(ppChunked, 3, 1), ref.ms));
  console.log(planBuildLine({ strategy: 'tsp', model: { ...llama70b, layers: 16 }, context: TOKENS, gpus: 240 }, 'tsp on 240 GPUs, llama2-70b cut to 16 layers, 1M tokens'));
  return missed;
}
