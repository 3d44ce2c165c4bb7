import { KvrInputError } from '../errors.js';
import { scenarioRouter } from '../scenario-router.js';
import { evenPartition } from '../plan/partition.js';
import type { Scenario } from '../simulate.js';
import { chainFeatures } from './kvr-chain.js';
import { PARTITION_TABLE_SCHEMA, type PartitionTable, type PartitionTableEntry } from './partition-table.js';
import { searchPartition, type SearchOptions } from './search-partition.js';
import { TtftEvaluator } from './ttft-evaluator.js';

/** Searches one scenario and records what a table needs. */
export function partitionTableEntry(scenario: Scenario, search: SearchOptions): PartitionTableEntry {
  const router = scenarioRouter(scenario);
  const outcome = searchPartition(scenario, search);
  return {
    gpus: scenario.gpus,
    bandwidth: chainFeatures(scenario, router).bandwidth,
    context: scenario.context,
    partition: outcome.partition,
    ttft_s: outcome.ttft_s,
    ttft_kvr_e_s: new TtftEvaluator(scenario).ttft(evenPartition(scenario.context, scenario.gpus)),
    simulations: outcome.simulations,
  };
}

/**
 * A partition table over the given scenarios, which must share model, GPU profile, topology kind
 * and hop latency (they differ in GPU count, bandwidth and context).
 */
export function buildPartitionTable(scenarios: Scenario[], search: SearchOptions, command: string): PartitionTable {
  const first = scenarios[0];
  if (first === undefined) throw new KvrInputError('contexts', 'needs at least one scenario');
  const latency = (s: Scenario) => chainFeatures(s, scenarioRouter(s)).latency_s;
  const key = (s: Scenario) => `${s.model.name}|${s.gpu.name}|${s.gpu.profile}|${s.topology.name}|${latency(s)}`;
  const entries = scenarios.map((scenario) => {
    if (scenario.gpus < 2) throw new KvrInputError('gpus', 'a partition table needs 2 or more GPUs');
    if (key(scenario) !== key(first)) throw new KvrInputError('table', 'scenarios of one table must share model, GPU, topology and latency');
    return partitionTableEntry(scenario, search);
  });
  return {
    schema: PARTITION_TABLE_SCHEMA,
    model: first.model.name,
    gpu: first.gpu.name,
    gpu_profile: first.gpu.profile,
    topology: first.topology.name,
    latency_s: latency(first),
    granularity: search.granularity,
    search: search.method,
    command,
    entries,
  };
}
