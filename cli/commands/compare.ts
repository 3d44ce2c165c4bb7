import { KvrInputError, PlanSizeError } from '../../sim/errors.js';
import { buildsWholePlan } from '../../sim/layer-fold-policy.js';
import { checkPlanRequest } from '../../sim/plan/build-plan.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import type { Precision } from '../../sim/model/precision.js';
import type { DecodeReadiness } from '../../sim/result/decode.js';
import { simulate, type Scenario } from '../../sim/simulate.js';
import type { CollectiveUse, SimResult } from '../../sim/result/result.js';
import type { CollectiveChoice } from '../../sim/plan/plan.js';
import { topologyFabric } from '../../sim/plan/collective-tuner.js';
import { formatBytes, formatBytesColumn, formatMemory, formatRate, formatSeconds, formatSecondsColumn, formatTtft, renderTable } from '../format.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';
import { gpuProfileNote } from '../gpu-profile-note.js';
import type { CliIo } from '../io.js';
import { scenarioRecord, type ScenarioRecord } from '../scenario-record.js';
import { resolveScenario, type ScenarioFlags } from '../scenario-flags.js';
import { searchProgress, withSearchProgress } from '../search-progress.js';

/** Every strategy `kvr compare` runs, in table order. */
export const COMPARE_STRATEGIES: readonly StrategyName[] = ['single', 'tsp', 'tsp-causal', 'tp', 'tp-sp', 'ring-kv', 'ring-q', 'pp-chunked', 'kvr-e', 'kvr-s', 'kvr-p', 'kvr-tp'];

/** The baselines KV-Runahead is measured against: the fastest of these that fits. */
export const COMPARE_BASELINES: readonly StrategyName[] = ['tsp', 'tsp-causal', 'tp', 'tp-sp', 'ring-kv', 'ring-q', 'pp-chunked'];

export interface CompareFlags extends ScenarioFlags {
  json?: boolean;
  quiet?: boolean;
}

export const COMPARE_SCHEMA = 'kvr-compare@3';

export interface CompareRow {
  strategy: StrategyName;
  ttft_s: number;
  /**
   * The best baseline's TTFT over this strategy's; null when this strategy does not fit in memory
   * (a plan that cannot run is not faster than one that can) or when no baseline fits.
   */
  speedup_over_best_baseline: number | null;
  comm_bytes_total: number;
  /** The largest peak memory of any rank. */
  peak_mem_bytes_max: number;
  fits: boolean;
  tensor_parallel: number;
  partition: number[];
  decode: DecodeReadiness;
  /** The collectives that ran: what the tuner (or --collective) chose for each kind. */
  collectives: CollectiveUse[];
}

/**
 * kvr-compare@3: one scenario, every strategy. (@1 let strategies that do not fit win; @2 gave the
 * links as a sentence and no scenario.)
 */
export interface Comparison {
  schema: typeof COMPARE_SCHEMA;
  model: string;
  gpu: string;
  gpus: number;
  context: number;
  topology: string;
  /** The topology's distinct per-direction link bandwidths (bytes/s) and latencies (s). */
  links: { bandwidths_Bps: number[]; latencies_s: number[]; count: number };
  /** Every input of the comparison, resolved, in base units (the kvr-tp row's --tp aside). */
  scenario: ScenarioRecord;
  collective: CollectiveChoice;
  attention: 'flash' | 'eager';
  /** The formats every strategy ran in (--dtype, --ffn-dtype, --kv-dtype); absent: the model's own dtype_bytes. */
  precision?: Precision;
  uncalibrated: boolean;
  /** The fastest baseline that fits in memory; null when none fits (or none ran). */
  best_baseline: { strategy: StrategyName; ttft_s: number } | null;
  /** The fastest strategy that fits in memory; null when none fits. */
  best: { strategy: StrategyName; ttft_s: number } | null;
  rows: CompareRow[];
  /** Strategies that do not apply to this scenario, and why. */
  skipped: { strategy: StrategyName; reason: string }[];
}

/** Flags that only some strategies take; each strategy gets those that apply to it. */
const STRATEGY_FLAGS: Record<string, (keyof ScenarioFlags)[]> = {
  tsp: ['collective'],
  'tsp-causal': ['collective'],
  tp: ['collective'],
  'tp-sp': ['collective'],
  'kvr-s': ['search', 'granularity'],
  'kvr-p': ['predictor', 'table'],
  'kvr-tp': ['tp', 'collective', 'search', 'granularity'],
  // Given --tp, the ring and pipeline rows run with that tensor parallelism inside each position or stage.
  'ring-kv': ['tp', 'collective'],
  'ring-q': ['tp', 'collective'],
  'pp-chunked': ['tp', 'collective'],
};
const SPECIFIC: (keyof ScenarioFlags)[] = ['collective', 'search', 'granularity', 'predictor', 'table', 'tp'];

/**
 * Simulates one scenario under every strategy. Flags that apply to some strategies only (--tp,
 * --collective, --search, --predictor, ...) go to those. kvr-tp runs when --tp is given or the
 * topology is the multi-node preset (a group per node); single is listed only if it fits on one
 * GPU; strategies that cannot run the scenario (ring-kv with fewer than 2 tokens per chunk, tp with
 * fewer heads than GPUs) are listed as skipped, with the reason.
 */
export function compareStrategies(flags: CompareFlags, io: CliIo): Comparison {
  return compareOnGpu(flags, io).comparison;
}

/** compareStrategies, with the GPU every strategy ran on (whose profile the text footer describes). */
export function compareOnGpu(flags: CompareFlags, io: CliIo): { comparison: Comparison; gpu: GpuSpec } {
  if (flags.strategy !== undefined) throw new KvrInputError('--strategy', 'kvr compare runs every strategy; leave --strategy out (use kvr simulate for one)');
  if (flags.partition !== undefined) throw new KvrInputError('--partition', 'kvr compare runs every strategy; use kvr simulate --strategy kvr --partition for a given partition');
  const common: ScenarioFlags = { ...flags };
  for (const key of SPECIFIC) delete common[key];
  // The shared flags are checked once, on the default strategy, so their errors stop everything.
  const base = resolveScenario(common, io);
  const rows: CompareRow[] = [];
  const results: SimResult[] = [];
  const skipped: { strategy: StrategyName; reason: string }[] = [];
  const multiNode = (flags.topology ?? 'switch') === 'multi-node';
  for (const strategy of COMPARE_STRATEGIES) {
    if (strategy === 'kvr-tp' && flags.tp === undefined && !multiNode) {
      skipped.push({ strategy, reason: 'give --tp N (GPUs per tensor-parallel group) to include it' });
      continue;
    }
    const own: ScenarioFlags = { ...common, strategy };
    for (const key of STRATEGY_FLAGS[strategy] ?? []) if (flags[key] !== undefined) (own as Record<string, unknown>)[key] = flags[key];
    if (strategy === 'single') own.gpus = '1';
    let scenario: Scenario;
    try {
      scenario = resolveScenario(own, io);
    } catch (error) {
      // kvr-tp's default group (a node) may not divide the GPUs; an explicit --tp must.
      if (strategy === 'kvr-tp' && flags.tp === undefined && error instanceof KvrInputError) {
        skipped.push({ strategy, reason: `${error.field} ${error.detail}` });
        continue;
      }
      throw error;
    }
    const reason = notApplicable(scenario);
    if (reason !== undefined) {
      skipped.push({ strategy, reason });
      continue;
    }
    let result: SimResult;
    const search = searchProgress(io, `${strategy} search`, flags.quiet);
    try {
      result = simulate(withSearchProgress(scenario, search.progress)).result;
    } catch (error) {
      // Too big after all (its links are shared, so no recurrence; the whole plan is needed).
      if (error instanceof PlanSizeError) {
        skipped.push({ strategy, reason: error.detail });
        continue;
      }
      // A default that does not suit this scenario (kvr-s's 64-token granularity on a tiny
      // context) skips the strategy; a flag the user gave is their error.
      const key = error instanceof KvrInputError ? error.field.replace(/^--/, '') : undefined;
      if (key !== undefined && (flags as Record<string, unknown>)[key] === undefined) {
        skipped.push({ strategy, reason: `${key}: ${(error as KvrInputError).detail}` });
        continue;
      }
      throw error;
    } finally {
      search.finish();
    }
    if (strategy === 'single' && !result.fits) {
      const o = result.memory_overflow!;
      skipped.push({ strategy, reason: `does not fit on one GPU: needs ${formatMemory(o.over_by_bytes)} more than its ${formatMemory(o.capacity_bytes)}` });
      continue;
    }
    results.push(result);
  }
  // Only plans that fit in memory can win: a baseline that does not fit is no baseline, and a
  // strategy that does not fit has no speedup over one that does.
  const fitting = results.filter((r) => r.fits);
  const fastest = (pool: SimResult[]) => pool.reduce<SimResult | undefined>((a, r) => (a === undefined || r.ttft_s < a.ttft_s ? r : a), undefined);
  const bestBaseline = fastest(fitting.filter((r) => COMPARE_BASELINES.includes(r.strategy)));
  const best = fastest(fitting);
  for (const r of results) {
    rows.push({
      strategy: r.strategy,
      ttft_s: r.ttft_s,
      speedup_over_best_baseline: bestBaseline === undefined || !r.fits ? null : bestBaseline.ttft_s / r.ttft_s,
      comm_bytes_total: r.comm_bytes_total,
      peak_mem_bytes_max: Math.max(...r.ranks.map((rank) => rank.peak_mem_bytes)),
      fits: r.fits,
      tensor_parallel: r.tensor_parallel,
      partition: r.partition,
      decode: r.decode,
      collectives: r.collectives,
    });
  }
  const record = { ...scenarioRecord(base), strategy: 'compare', partition: null, collective: flags.collective ?? 'auto' };
  const comparison: Comparison = {
    schema: COMPARE_SCHEMA,
    model: base.model.name,
    gpu: base.gpu.name,
    gpus: base.gpus,
    context: base.context,
    topology: base.topology.name,
    links: { bandwidths_Bps: record.topology.bandwidths_Bps, latencies_s: record.topology.latencies_s, count: record.topology.links.length },
    scenario: record,
    collective: (flags.collective as CollectiveChoice | undefined) ?? 'auto',
    attention: base.attention ?? 'flash',
    ...(base.model.precision === undefined ? {} : { precision: { ...base.model.precision } }),
    uncalibrated: results.some((r) => r.uncalibrated),
    best_baseline: bestBaseline === undefined ? null : { strategy: bestBaseline.strategy, ttft_s: bestBaseline.ttft_s },
    best: best === undefined ? null : { strategy: best.strategy, ttft_s: best.ttft_s },
    rows,
    skipped,
  };
  return { comparison, gpu: base.gpu };
}

/** Why a strategy cannot run a scenario (a shape it does not support), or undefined. */
function notApplicable(scenario: Scenario): string | undefined {
  const { strategy, model, context, gpus } = scenario;
  // compare gives pp-chunked no --pp: its stages are --gpus / --tp, at most one a layer.
  const stages = gpus / (scenario.tp ?? 1);
  if (strategy === 'pp-chunked' && stages > model.layers) {
    return `${stages} pipeline stages (--gpus / --tp) would exceed the model's ${model.layers} layer${model.layers === 1 ? '' : 's'}: give --tp N with --gpus / N <= ${model.layers} to include it`;
  }
  // Sized as simulate sizes it: plans it folds or runs as a recurrence are not built whole.
  const size = buildsWholePlan(scenario);
  try {
    checkPlanRequest(
      {
        strategy,
        model,
        context,
        gpus,
        ...(scenario.tp === undefined ? {} : { tp: scenario.tp }),
        ...(scenario.collective === undefined ? {} : { collective: scenario.collective }),
        fabric: topologyFabric(scenario.topology, scenario.gpus),
      },
      { size },
    );
  } catch (error) {
    if (error instanceof KvrInputError) return error.detail;
    throw error;
  }
  return undefined;
}

export function compareCommand(flags: CompareFlags, io: CliIo): void {
  const { comparison, gpu } = compareOnGpu(flags, io);
  io.stdout(flags.json ? `${JSON.stringify(comparison, null, 2)}\n` : renderComparison(comparison, gpu));
}

/** "allreduce ring/simple x8" per kind of collective, "-" for none. */
export function describeCollectives(uses: readonly CollectiveUse[] | undefined): string {
  if (uses === undefined || uses.length === 0) return '-';
  return uses.map((u) => `${u.name} ${u.algorithm}/${u.protocol}${u.channels > 1 ? ` ${u.channels}ch` : ''}`).join(', ');
}

/** The comparison as a table: one row per strategy, then what was skipped and how far to trust the GPU profile. */
export function renderComparison(c: Comparison, gpu: GpuSpec, options: { profileNote?: boolean } = {}): string {
  const lines: string[] = [];
  const rates = c.links.bandwidths_Bps.map(formatRate);
  lines.push(`compare: ${c.model} on ${c.gpus} x ${c.gpu} (${c.topology}, ${rates.length === 0 ? 'no links' : rates.join(' / ')}), ${c.context} tokens, ${c.collective} collectives`);
  const ranBaselines = c.rows.some((r) => COMPARE_BASELINES.includes(r.strategy));
  if (c.best_baseline !== null) {
    lines.push(`best baseline: ${c.best_baseline.strategy} (${formatTtft(c.best_baseline.ttft_s)}), the fastest of ${COMPARE_BASELINES.join(', ')} that fits`);
  } else if (ranBaselines) {
    lines.push(`best baseline: none: no baseline (${COMPARE_BASELINES.join(', ')}) fits in memory, so no speedups`);
  }
  if (c.best !== null) {
    lines.push(`best: ${c.best.strategy} (${formatTtft(c.best.ttft_s)}), the fastest strategy that fits`);
  } else if (c.rows.length > 0) {
    lines.push('best: none: no strategy fits in memory on these GPUs');
  }
  lines.push('');
  // One unit per column: TTFT to five significant digits; traffic decimal (GB), memory binary (GiB).
  const ttft = formatSecondsColumn(c.rows.map((r) => r.ttft_s), 5);
  const moved = formatBytesColumn(c.rows.map((r) => r.comm_bytes_total), 'decimal');
  const peak = formatBytesColumn(c.rows.map((r) => r.peak_mem_bytes_max), 'binary');
  const rows = c.rows.map((r, i) => [
    r.strategy + (r.strategy === 'kvr-tp' || r.tensor_parallel > 1 && (r.strategy === 'ring-kv' || r.strategy === 'ring-q' || r.strategy === 'pp-chunked') ? ` (tp ${r.tensor_parallel})` : ''),
    ttft[i]!,
    r.speedup_over_best_baseline !== null ? `${r.speedup_over_best_baseline.toFixed(2)}x` : r.fits ? '-' : 'does not fit',
    moved[i]!,
    peak[i]!,
    r.fits ? 'yes' : 'NO',
    r.decode.reshard_bytes === 0 ? 'none' : `${formatBytes(r.decode.reshard_bytes)} in ${formatSeconds(r.decode.reshard_s)}`,
    describeCollectives(r.collectives),
  ]);
  const header = ['strategy', 'TTFT', 'vs best baseline', 'moved', 'peak mem (max rank)', 'fits', 'decode re-shard (TP)', 'collectives'];
  let text = `${lines.join('\n')}\n${renderTable(header, rows)}`;
  for (const s of c.skipped) text += `not compared: ${s.strategy}: ${s.reason}\n`;
  // The demo says what the GPU profile is once, above both of its tables.
  const profileNote = options.profileNote === false ? undefined : gpuProfileNote(gpu);
  if (profileNote !== undefined) text += `${profileNote}\n`;
  text += 'decode re-shard: K,V to move so that TP decode over the same GPUs has its heads for all tokens (KVR leaves the whole cache on its last rank)\n';
  return text;
}
