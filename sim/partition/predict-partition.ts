import { KvrInputError } from '../errors.js';
import { scenarioRouter } from '../scenario-router.js';
import { formatQuantity } from '../units/quantity.js';
import type { Scenario } from '../simulate.js';
import { chainFeatures, kvrChainHops, type ChainHop } from './kvr-chain.js';
import { DEFAULT_GRANULARITY, makeLattice, partitionFromIndices, snapToLattice } from './lattice.js';
import { gpuCostDigest, modelDigest, type PartitionTable, type PartitionTableEntry } from './partition-table.js';
import { PipelineBalance } from './pipeline-balance.js';

export const PREDICTORS = ['model', 'interpolate'] as const;
export type Predictor = (typeof PREDICTORS)[number];

/**
 * KVR-P: a partition for a scenario without searching.
 *
 * - model (ours): the cost model's pipeline-balanced partition for this very scenario, rounded to
 *   the lattice by the same model (PipelineBalance). It needs no table: the balance already
 *   carries how the optimum moves with the context (attention grows quadratically, the rest
 *   linearly, transfers with the prefix), the GPU count and the link bandwidth. It is the start
 *   the fast searcher refines, so KVR-P is KVR-S with zero simulations.
 * - interpolate (the paper's baseline): boundary fractions b_i / C of the searched partitions in a
 *   table, interpolated linearly in C between the two table contexts around it (the nearest
 *   entry's fractions outside the table) and in log bandwidth between table bandwidths.
 *
 * Correcting the model with the table's searched-minus-model residuals (interpolated, smoothed or
 * averaged) was measured worse than the model alone on held-out contexts: at a 64-token
 * granularity the residuals are mostly rounding, and interpolating rounding adds error.
 */
export function predictPartition(scenario: Scenario, predictor: Predictor, table?: PartitionTable): number[] {
  const { gpus: p, context: C } = scenario;
  const router = scenarioRouter(scenario);
  if (predictor === 'model') {
    if (p === 1) return [C];
    const granularity = table?.granularity ?? DEFAULT_GRANULARITY;
    const balance = new PipelineBalance(scenario, router);
    const lattice = makeLattice(C, p, granularity);
    return partitionFromIndices(lattice, balance.roundToLattice(balance.balancedPartition(), lattice));
  }
  if (table === undefined) throw new KvrInputError('table', 'the interpolate predictor needs a partition table (kvr partition build-table)');
  const features = chainFeatures(scenario, router);
  checkApplies(table, scenario, features.latency_s);
  if (p === 1) return [C];
  const hops = kvrChainHops(scenario, router);
  const lattice = makeLattice(C, p, table.granularity);
  const fractions = new Array<number>(p - 1).fill(0);
  for (const { bandwidth, weight } of bandwidthLevels(table, p, features.bandwidth)) {
    const entries = table.entries.filter((e) => e.gpus === p && e.bandwidth === bandwidth).sort((a, b) => a.context - b.context);
    for (const entry of entries) checkChain(entry, hops);
    const interpolated = interpolate(entries, C, (entry) => boundaries(entry.partition).map((b) => b / entry.context));
    interpolated.forEach((value, i) => (fractions[i]! += weight * value));
  }
  const chunks = fractions.map((f, i) => (f - (fractions[i - 1] ?? 0)) * C);
  chunks.push((1 - fractions[fractions.length - 1]!) * C);
  return partitionFromIndices(lattice, snapToLattice(lattice, chunks));
}

function boundaries(chunks: readonly number[]): number[] {
  const result: number[] = [];
  let sum = 0;
  for (let i = 0; i + 1 < chunks.length; i++) result.push((sum += chunks[i]!));
  return result;
}

/** Linear interpolation of per-entry vectors in the context; the nearest entry's outside. */
function interpolate(entries: PartitionTableEntry[], context: number, values: (entry: PartitionTableEntry) => number[]): number[] {
  if (context <= entries[0]!.context) return values(entries[0]!);
  const last = entries[entries.length - 1]!;
  if (context >= last.context) return values(last);
  const upper = entries.findIndex((e) => e.context >= context);
  const hi = entries[upper]!;
  const lo = entries[upper - 1]!;
  const t = (context - lo.context) / (hi.context - lo.context);
  const a = values(lo);
  const b = values(hi);
  return a.map((v, i) => v + t * (b[i]! - v));
}

/** The table bandwidths to blend for this GPU count: an exact match, or the two around it. */
function bandwidthLevels(table: PartitionTable, gpus: number, bandwidth: number): { bandwidth: number; weight: number }[] {
  const available = [...new Set(table.entries.filter((e) => e.gpus === gpus).map((e) => e.bandwidth))].sort((a, b) => a - b);
  if (available.length === 0) {
    const counts = [...new Set(table.entries.map((e) => e.gpus))].sort((a, b) => a - b);
    throw new KvrInputError('table', `has no entries for ${gpus} GPUs (it has ${counts.join(', ')})`);
  }
  const exact = available.find((b) => Math.abs(b / bandwidth - 1) < 1e-9);
  if (exact !== undefined) return [{ bandwidth: exact, weight: 1 }];
  const upper = available.findIndex((b) => b > bandwidth);
  if (upper <= 0) {
    const range = `${formatQuantity(available[0]!, 'bandwidth')}..${formatQuantity(available[available.length - 1]!, 'bandwidth')}`;
    throw new KvrInputError('table', `link bandwidth ${formatQuantity(bandwidth, 'bandwidth')} is outside the table's range ${range} for ${gpus} GPUs`);
  }
  const hi = available[upper]!;
  const lo = available[upper - 1]!;
  const t = Math.log(bandwidth / lo) / Math.log(hi / lo);
  return [
    { bandwidth: lo, weight: 1 - t },
    { bandwidth: hi, weight: t },
  ];
}

function mismatch(what: string, table: string, scenario: string): never {
  throw new KvrInputError('table', `was built for ${what} ${table}, not ${scenario}; build one with kvr partition build-table`);
}

/**
 * A table predicts only for what it was built on: the model (name and shape), the GPU (name,
 * profile kind and costs), the attention implementation, the topology kind and the hop latency.
 */
function checkApplies(table: PartitionTable, scenario: Scenario, latency: number): void {
  if (table.model !== scenario.model.name) mismatch('model', table.model, scenario.model.name);
  if (table.model_digest !== modelDigest(scenario.model)) {
    mismatch(`a model ${table.model} of another shape: digest`, table.model_digest, modelDigest(scenario.model));
  }
  if (table.gpu !== scenario.gpu.name || table.gpu_profile !== scenario.gpu.profile) {
    mismatch('gpu', `${table.gpu} (${table.gpu_profile})`, `${scenario.gpu.name} (${scenario.gpu.profile})`);
  }
  if (table.gpu_digest !== gpuCostDigest(scenario.gpu)) {
    mismatch(`a gpu ${table.gpu} with other costs: digest`, table.gpu_digest, gpuCostDigest(scenario.gpu));
  }
  const attention = scenario.attention ?? 'flash';
  if (table.attention !== attention) mismatch('attention', table.attention, attention);
  if (table.topology !== scenario.topology.name) mismatch('topology', table.topology, scenario.topology.name);
  if (scenario.gpus > 1 && Math.abs(table.latency_s - latency) > 1e-12) {
    mismatch('hop latency', formatQuantity(table.latency_s, 'time'), formatQuantity(latency, 'time'));
  }
}

/**
 * An entry's partition carries over to a scenario whose chain has the same shape: each hop's
 * bandwidth the same multiple of the slowest (the table interpolates in the slowest), and the
 * same hop latencies.
 */
function checkChain(entry: PartitionTableEntry, hops: ChainHop[]): void {
  const shape = (bandwidths: number[], latencies: number[]): { ratios: number[]; text: string } => {
    const slowest = Math.min(...bandwidths);
    const ratios = bandwidths.map((b) => b / slowest);
    const text = `hops of ${ratios.map((r) => `${Number(r.toPrecision(4))}x`).join(',')} the slowest, latencies ${latencies.map((l) => formatQuantity(l, 'time')).join(',')}`;
    return { ratios, text };
  };
  const built = shape(entry.hop_bandwidths, entry.hop_latencies_s);
  const here = shape(
    hops.map((h) => h.bandwidth),
    hops.map((h) => h.latency_s),
  );
  const same =
    built.ratios.every((r, i) => Math.abs(r / here.ratios[i]! - 1) <= 1e-9) &&
    entry.hop_latencies_s.every((l, i) => Math.abs(l - hops[i]!.latency_s) <= 1e-12);
  if (!same) mismatch(`a ${entry.gpus}-GPU chain with`, built.text, here.text);
}
