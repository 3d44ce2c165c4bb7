import { KvrInputError } from '../../sim/errors.js';
import { evenPartition } from '../../sim/plan/partition.js';
import { simulate, type Scenario } from '../../sim/simulate.js';
import { searchPartition } from '../../sim/partition/search-partition.js';
import { TtftEvaluator } from '../../sim/partition/ttft-evaluator.js';
import { formatSeconds } from '../format.js';
import type { CliIo } from '../io.js';
import { resolveScenario, type ScenarioFlags } from '../scenario-flags.js';

export interface PartitionFlags extends ScenarioFlags {
  json?: boolean;
}

/** Flags that make no sense for a command that always searches KV-Runahead partitions. */
export function rejectStrategyFlags(flags: ScenarioFlags, command: string): void {
  const fixed: [string, string | undefined][] = [
    ['--strategy', flags.strategy],
    ['--partition', flags.partition],
    ['--table', flags.table],
    ['--predictor', flags.predictor],
  ];
  for (const [flag, given] of fixed) {
    if (given !== undefined) throw new KvrInputError(flag, `does not apply to ${command}, which searches KV-Runahead partitions`);
  }
}

/**
 * `kvr partition`: KVR-S for one scenario. Prints the partition, its TTFT beside kvr-e's and
 * tsp's on the same scenario, how many simulations the search ran and how long it took.
 */
export function partitionCommand(flags: PartitionFlags, io: CliIo): void {
  rejectStrategyFlags(flags, 'kvr partition');
  const scenario = resolveScenario({ ...flags, strategy: 'kvr-s' }, io);
  const search = scenario.search!;
  const started = performance.now();
  const outcome = searchPartition(scenario, search);
  const elapsed = (performance.now() - started) / 1e3;
  const even = evenPartition(scenario.context, scenario.gpus);
  const evenTtft = new TtftEvaluator(scenario).ttft(even);
  const tsp = simulate(tspOf(scenario)).result.ttft_s;
  const report = {
    schema: 'kvr-partition/result@1',
    model: scenario.model.name,
    gpu: scenario.gpu.name,
    gpus: scenario.gpus,
    context: scenario.context,
    topology: scenario.topology.name,
    search: search.method,
    granularity: search.granularity,
    partition: outcome.partition,
    ttft_s: outcome.ttft_s,
    kvr_e: { partition: even, ttft_s: evenTtft },
    tsp: { ttft_s: tsp },
    simulations: outcome.simulations,
    elapsed_s: elapsed,
    uncalibrated: scenario.gpu.profile === 'datasheet' || scenario.gpu.profile === 'user',
  };
  if (flags.json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  io.stdout(
    [
      `${report.model} on ${report.gpus} x ${report.gpu} (${report.topology}), ${report.context} tokens: ${search.method} search, ${search.granularity}-token granularity`,
      `kvr-s partition ${report.partition.join(',')}`,
      `TTFT  kvr-s ${formatSeconds(report.ttft_s)}   kvr-e ${formatSeconds(evenTtft)} (${(evenTtft / report.ttft_s).toFixed(3)}x)   tsp ${formatSeconds(tsp)} (${(tsp / report.ttft_s).toFixed(3)}x)`,
      `search: ${report.simulations} simulations in ${formatSeconds(elapsed)}`,
      ...(report.uncalibrated ? ['gpu profile: uncalibrated (efficiencies are published ranges, not measurements)'] : []),
      '',
    ].join('\n'),
  );
}

function tspOf(scenario: Scenario): Scenario {
  const { search: _search, ...rest } = scenario;
  return { ...rest, strategy: 'tsp' };
}
