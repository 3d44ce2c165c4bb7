import { KvrInputError } from '../errors.js';
import { scenarioRouter } from '../scenario-router.js';
import { evenPartition } from '../plan/partition.js';
import type { Scenario } from '../simulate.js';
import { chainFeatures, kvrChainHops } from './kvr-chain.js';
import { PARTITION_TABLE_SCHEMA, gpuCostDigest, modelDigest, type PartitionTable, type PartitionTableEntry } from './partition-table.js';
import { searchPartition, type SearchOptions } from './search-partition.js';
import { TtftEvaluator } from './ttft-evaluator.js';

/** Searches one scenario and records what a table needs. */
export function partitionTableEntry(scenario: Scenario, search: SearchOptions): PartitionTableEntry {
  const router = scenarioRouter(scenario);
  const outcome = searchPartition(scenario, search);
  const hops = kvrChainHops(scenario, router);
  return {
    gpus: scenario.gpus,
    bandwidth: chainFeatures(scenario, router).bandwidth,
    context: scenario.context,
    hop_bandwidths: hops.map((hop) => hop.bandwidth),
    hop_latencies_s: hops.map((hop) => hop.latency_s),
    partition: outcome.partition,
    ttft_s: outcome.ttft_s,
    ttft_kvr_e_s: new TtftEvaluator(scenario).ttft(evenPartition(scenario.context, scenario.gpus)),
    simulations: outcome.simulations,
  };
}

/**
 * A partition table over the given scenarios, which must share model, GPU, attention
 * implementation, topology kind and hop latency (they differ in GPU count, bandwidth and context).
 */
export function buildPartitionTable(scenarios: Scenario[], search: SearchOptions, command: string, onEntry?: () => void): PartitionTable {
  const first = scenarios[0];
  if (first === undefined) throw new KvrInputError('contexts', 'needs at least one scenario');
  const latency = (s: Scenario) => chainFeatures(s, scenarioRouter(s)).latency_s;
  const key = (s: Scenario) =>
    [s.model.name, modelDigest(s.model), s.gpu.name, s.gpu.profile, gpuCostDigest(s.gpu), s.attention ?? 'flash', s.topology.name, latency(s)].join('|');
  const entries = scenarios.map((scenario) => {
    if (scenario.gpus < 2) throw new KvrInputError('gpus', 'a partition table needs 2 or more GPUs');
    if (key(scenario) !== key(first)) throw new KvrInputError('table', 'scenarios of one table must share model, GPU, attention, topology and latency');
    const entry = partitionTableEntry(scenario, search);
    onEntry?.();
    return entry;
  });
  return {
    schema: PARTITION_TABLE_SCHEMA,
    model: first.model.name,
    model_digest: modelDigest(first.model),
    gpu: first.gpu.name,
    gpu_profile: first.gpu.profile,
    gpu_digest: gpuCostDigest(first.gpu),
    attention: first.attention ?? 'flash',
    topology: first.topology.name,
    latency_s: latency(first),
    granularity: search.granularity,
    search: search.method,
    command,
    entries,
  };
}
