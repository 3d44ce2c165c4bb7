import { KvrInputError } from '../../sim/errors.js';
import { evenPartition } from '../../sim/plan/partition.js';
import { simulate, type Scenario } from '../../sim/simulate.js';
import { searchPartitionWith } from '../../sim/partition/search-partition.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { measureCandidates, type MeasuredSearch } from '../../calibration/measured-search.js';
import { BACKENDS, type BackendName } from '../../native/js/executor.js';
import { TtftEvaluator } from '../../sim/partition/ttft-evaluator.js';
import { formatSeconds, renderTable } from '../format.js';
import type { CliIo } from '../io.js';
import { searchProgress } from '../search-progress.js';
import { checkExecutorPrecision, resolveScenario, type ScenarioFlags } from '../scenario-flags.js';
import { gpuProfileNote } from '../gpu-profile-note.js';

export interface PartitionFlags extends ScenarioFlags {
  json?: boolean;
  measure?: boolean;
  measureTop?: string;
  backend?: string;
  repeats?: string;
  timings?: boolean;
  quiet?: boolean;
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
export async function partitionCommand(flags: PartitionFlags, io: CliIo): Promise<void> {
  rejectStrategyFlags(flags, 'kvr partition');
  if (!flags.measure) {
    for (const [flag, given] of [['--measure-top', flags.measureTop], ['--backend', flags.backend], ['--repeats', flags.repeats]] as const) {
      if (given !== undefined) throw new KvrInputError(flag, 'only applies with --measure');
    }
  }
  const scenario = resolveScenario({ ...flags, strategy: 'kvr-s' }, io);
  if (flags.measure) checkExecutorPrecision(scenario.model);
  const search = scenario.search!;
  const started = performance.now();
  const evaluator = new TtftEvaluator(scenario);
  const display = searchProgress(io, 'kvr-s search', flags.quiet);
  const outcome = searchPartitionWith(evaluator, { ...search, progress: display.progress });
  display.finish();
  const elapsed = (performance.now() - started) / 1e3;
  const measured = flags.measure ? await measure(scenario, evaluator, flags) : undefined;
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
    uncalibrated: scenario.gpu.profile === 'datasheet' || scenario.gpu.profile === 'user',
    ...(scenario.model.precision === undefined ? {} : { precision: { ...scenario.model.precision } }),
    ...(measured === undefined ? {} : { measured }),
  };
  // The search's wall time varies run to run: stderr, on request, so stdout depends on the inputs only.
  if (flags.timings) io.stderr(`kvr partition: ${report.simulations} simulations in ${elapsed.toFixed(3)} s\n`);
  if (flags.json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  io.stdout(
    [
      `${report.model} on ${report.gpus} x ${report.gpu} (${report.topology}), ${report.context} tokens: ${search.method} search, ${search.granularity}-token granularity`,
      `kvr-s partition ${report.partition.join(',')}`,
      `TTFT  kvr-s ${formatSeconds(report.ttft_s)}   kvr-e ${formatSeconds(evenTtft)} (${(evenTtft / report.ttft_s).toFixed(3)}x)   tsp ${formatSeconds(tsp)} (${(tsp / report.ttft_s).toFixed(3)}x)`,
      `search: ${report.simulations} simulations`,
      ...[gpuProfileNote(scenario.gpu)].filter((note) => note !== undefined),
      ...(measured === undefined ? [] : measuredLines(measured)),
      '',
    ].join('\n'),
  );
}

async function measure(scenario: Scenario, evaluator: TtftEvaluator, flags: PartitionFlags): Promise<MeasuredSearch> {
  const backend = (flags.backend ?? 'cpu') as BackendName;
  if (!BACKENDS.includes(backend)) throw new KvrInputError('--backend', `expected one of ${BACKENDS.join(', ')} (got ${JSON.stringify(flags.backend)})`);
  const top = parseIntegerText(flags.measureTop ?? '5', '--measure-top', { min: 1, max: 100 });
  const repeats = parseIntegerText(flags.repeats ?? '3', '--repeats', { min: 1, max: 100 });
  return measureCandidates(scenario, evaluator.best(top), { backend, warmup: 1, repeats });
}

function measuredLines(m: MeasuredSearch): string[] {
  const best = m.candidates[m.measured_best]!;
  const rows = m.candidates.map((c, i) => [String(i + 1), c.partition.join(','), formatSeconds(c.simulated_s), formatSeconds(c.measured_s), i === m.measured_best ? '<- measured best' : '']);
  return [
    '',
    `measured on ${m.device}: the simulator's ${m.candidates.length} best partitions, in simulated order`,
    renderTable(['#', 'partition', 'simulated', 'measured', ''], rows).trimEnd(),
    `measured best is the simulator's #${m.measured_best + 1}: ${formatSeconds(best.measured_s)} vs ${formatSeconds(m.candidates[0]!.measured_s)} for its #1; device time ${formatSeconds(m.device_time_s)}`,
  ];
}

function tspOf(scenario: Scenario): Scenario {
  const { search: _search, ...rest } = scenario;
  return { ...rest, strategy: 'tsp' };
}
