import { dirname } from 'node:path';
import { KvrInputError } from '../../sim/errors.js';
import { buildPartitionTable } from '../../sim/partition/build-table.js';
import type { PartitionTable } from '../../sim/partition/partition-table.js';
import { PREDICTORS } from '../../sim/partition/predict-partition.js';
import { validatePartitionTable } from '../../sim/partition/validate-table.js';
import type { Scenario } from '../../sim/simulate.js';
import { formatRate, formatSeconds, renderTable } from '../format.js';
import { checkOutput, type CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { splitList } from '../list-flags.js';
import { commandProgress } from '../sweep/progress.js';
import { builtTablePath } from '../project-root.js';
import { loadPartitionTable, resolveScenario, resolveSearch, type ScenarioFlags } from '../scenario-flags.js';
import { rejectStrategyFlags } from './partition.js';

/** Contexts of the default tables: the demo's 4k/8k/12k/16k stay out, so kvr-p there is a prediction. */
export const DEFAULT_TABLE_CONTEXTS = '1024,2048,3072,6144,10240,14336,20480,32768';
export const DEFAULT_TABLE_GPUS = '2,4,8';

export interface BuildTableFlags extends ScenarioFlags {
  out?: string;
  quiet?: boolean;
}

/** Scenarios for every combination of the list-valued --gpus, --bandwidth and --context. */
function scenarioGrid(flags: ScenarioFlags, io: CliIo, defaults: { gpus: string; contexts: string }): Scenario[] {
  const gpus = splitList(flags.gpus ?? defaults.gpus, '--gpus');
  const bandwidths = flags.bandwidth === undefined ? [undefined] : splitList(flags.bandwidth, '--bandwidth');
  const contexts = splitList(flags.context ?? defaults.contexts, '--context');
  const scenarios: Scenario[] = [];
  for (const g of gpus) {
    for (const bandwidth of bandwidths) {
      for (const context of contexts) {
        scenarios.push(resolveScenario({ ...flags, gpus: g, context, strategy: 'kvr-s', ...(bandwidth === undefined ? {} : { bandwidth }) }, io));
      }
    }
  }
  return scenarios;
}

/** `kvr partition build-table`: searches every scenario of the grid and writes a table. */
export function buildTableCommand(flags: BuildTableFlags, argv: string[], io: CliIo): void {
  rejectStrategyFlags(flags, 'kvr partition build-table');
  const scenarios = scenarioGrid(flags, io, { gpus: DEFAULT_TABLE_GPUS, contexts: DEFAULT_TABLE_CONTEXTS });
  const first = scenarios[0]!;
  const out = flags.out ?? builtTablePath(first.model.name, first.gpu.name, first.topology.name, first.attention ?? 'flash');
  if (flags.out === undefined) checkOutput(io, dirname(out), '--out', 'folder');
  checkOutput(io, out, '--out');
  const progress = commandProgress(io, scenarios.length, 'build-table', flags.quiet);
  const table = buildPartitionTable(scenarios, resolveSearch(flags), `kvr ${argv.filter((a) => a !== '--quiet').map(shellWord).join(' ')}`, () => progress.tick());
  progress.finish();
  try {
    io.writeFile(out, `${JSON.stringify(table, null, 2)}\n`);
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(out)}: ${oneLine(error)}`);
  }
  const simulations = table.entries.reduce((sum, e) => sum + e.simulations, 0);
  io.stdout(`wrote ${out}: ${table.entries.length} searched partitions (${table.search}, ${simulations} simulations)\n`);
}

/** An argument as a POSIX shell reads it back: bare when safe, else single-quoted. */
export function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface ValidateFlags extends ScenarioFlags {
  json?: boolean;
}

/**
 * `kvr partition validate --table FILE`: KVR-P against KVR-S on contexts that are not in the
 * table (by default the midpoints between the table's contexts), for every predictor.
 */
export function validateTableCommand(flags: ValidateFlags, io: CliIo): void {
  if (flags.table === undefined) throw new KvrInputError('--table', 'is required: the partition table to validate');
  rejectStrategyFlags({ ...flags, table: undefined }, 'kvr partition validate');
  const table = loadPartitionTable(flags.table, io, false);
  const heldOut = flags.context ?? midpoints(table).join(',');
  const gpus = flags.gpus ?? [...new Set(table.entries.map((e) => e.gpus))].join(',');
  const bandwidth = flags.bandwidth ?? [...new Set(table.entries.map((e) => e.bandwidth))].map((b) => `${b} B/s`).join(',');
  const scenarios = scenarioGrid(
    { model: table.model, gpu: table.gpu, topology: table.topology, ...flags, attention: flags.attention ?? table.attention, gpus, bandwidth, context: heldOut, table: undefined },
    io,
    { gpus, contexts: heldOut },
  );
  const report = validatePartitionTable(table, scenarios, resolveSearch(flags));
  if (flags.json) {
    io.stdout(`${JSON.stringify({ schema: 'kvr-partition-validation@1', table: flags.table, ...report }, null, 2)}\n`);
    return;
  }
  const percent = (gap: number) => `${(gap * 100).toFixed(3)}%`;
  const rows = report.rows.map((row) => [
    String(row.gpus),
    formatRate(row.bandwidth),
    String(row.context),
    formatSeconds(row.kvr_s.ttft_s),
    formatSeconds(row.kvr_e_ttft_s),
    ...PREDICTORS.map((p) => percent(row.predictors[p].gap)),
  ]);
  const names: Record<string, string> = { model: 'model (ours, no table)', interpolate: 'interpolate (paper, table)' };
  io.stdout(
    `KVR-P vs KVR-S on ${report.rows.length} held-out scenarios, table ${flags.table}\n` +
      'gap = TTFT of the predicted partition over the searched one, minus one\n\n' +
      renderTable(['gpus', 'link', 'context', 'kvr-s TTFT', 'kvr-e TTFT', ...PREDICTORS.map((p) => `${p} gap`)], rows, 2) +
      '\n' +
      PREDICTORS.map((p) => `${names[p]}: mean gap ${percent(report.summary[p].mean_gap)}, max ${percent(report.summary[p].max_gap)}`).join('\n') +
      '\n',
  );
}

/** Contexts halfway between consecutive table contexts, on multiples of the table granularity. */
function midpoints(table: PartitionTable): number[] {
  const contexts = [...new Set(table.entries.map((e) => e.context))].sort((a, b) => a - b);
  const g = table.granularity;
  const result: number[] = [];
  for (let i = 1; i < contexts.length; i++) {
    const mid = Math.round((contexts[i - 1]! + contexts[i]!) / 2 / g) * g;
    if (mid > contexts[i - 1]! && mid < contexts[i]!) result.push(mid);
  }
  if (result.length === 0) throw new KvrInputError('--context', `the table has no gap between contexts to validate on; pass --context (table has ${contexts.join(', ')})`);
  return result;
}

