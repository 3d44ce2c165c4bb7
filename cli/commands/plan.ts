/**
 * `kvr plan`: the cheapest machine configurations that prefill a model's prompts within a TTFT
 * target, and the Pareto frontier of cost against TTFT. Every (offer, GPU count, strategy) of the
 * catalogue is simulated at every context of the workload on the sweep's worker pool; a config
 * whose ranks do not fit in memory at some context is infeasible.
 *
 * Cost model: the price of one prefill = GPUs x price per GPU-hour x mean TTFT over the context
 * distribution / 3600 s (the GPU time a prefill occupies, on a fleet kept busy). The TTFT that
 * must meet the target is its percentile over the distribution (default: the highest given).
 */
import { isAbsolute, resolve } from 'node:path';
import { bandHalfWidth, paretoFrontier, prefillCost, weightedMean, weightedPercentile, type ContextDistribution, type FitErrors } from '../../sim/capacity/capacity.js';
import { KvrInputError, describeValue } from '../../sim/errors.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { isGpuProfile } from '../../sim/hardware/gpu-profile.js';
import { isShapeProfile } from '../../sim/hardware/shape-profile.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { STRATEGY_NAMES, TP_STRATEGIES, type StrategyName } from '../../sim/plan/plan.js';
import { estimateSimulationBytes, MAX_SIMULATION_BYTES } from '../../sim/plan/build-plan.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import { ATTENTION_IMPLEMENTATIONS } from '../../sim/work/op-kernels.js';
import { formatSeconds, renderTable } from '../format.js';
import { checkOutput, type CliIo } from '../io.js';
import { splitList } from '../list-flags.js';
import { looksLikePath, oneLine } from '../load-json.js';
import { loadPlanCatalogue, type MachineConfig } from '../plan/catalogue.js';
import { describeDistribution, maxPercentile, parseContextDistribution } from '../plan/workload.js';
import { profileCandidates } from '../project-root.js';
import { resolveModel, type ScenarioFlags } from '../scenario-flags.js';
import { DTYPES, precisionOf, type Dtype } from '../../sim/model/precision.js';
import { defaultJobs, runOrdered, type PoolTask } from '../sweep/pool.js';
import { commandProgress } from '../sweep/progress.js';
import type { RowResult } from '../sweep/output.js';
import { memoryCappedJobs } from '../sweep/run.js';

export interface PlanFlags {
  quiet?: boolean;
  model?: string;
  context?: string;
  ttft?: string;
  percentile?: string;
  catalogue?: string;
  strategies?: string;
  attention?: string;
  dtype?: string;
  ffnDtype?: string;
  kvDtype?: string;
  band?: string;
  top?: string;
  out?: string;
  figure?: boolean;
  jobs?: string;
  json?: boolean;
}

export const PLAN_SCHEMA = 'kvr-plan/result@1';

export const COST_MODEL =
  'cost per prefill = GPUs x price per GPU-hour x mean TTFT over the contexts / 3600 s (the GPU time one prefill occupies, fleet kept busy)';

/**
 * Strategies `kvr plan` considers by default: every strategy of STRATEGY_NAMES except kvr (it
 * needs a hand-made partition) and kvr-s (a partition search per config is slow at 64 GPUs;
 * kvr-p predicts nearly the same partition without simulations). single only runs on one GPU.
 */
export function defaultPlanStrategies(): StrategyName[] {
  return STRATEGY_NAMES.filter((s) => s !== 'kvr' && s !== 'kvr-s');
}

/** The TTFT band a GPU's profile supports: a calibrated profile's fit error, else unknown. */
export interface GpuBand {
  /** Relative half-width, or null when unknown. */
  e: number | null;
  note: string;
}

export interface PlanCandidate {
  model: string;
  offer: string;
  gpu: string;
  gpus: number;
  nodes: number;
  strategy: string;
  price_per_gpu_hour: number;
  /** TTFT at the target percentile over the contexts. */
  ttft_s: number | null;
  ttft_mean_s: number | null;
  /** The context whose TTFT is the percentile (the one to check with kvr simulate). */
  context_at_percentile: number | null;
  fits: boolean;
  band: number | null;
  ttft_low_s: number | null;
  ttft_high_s: number | null;
  meets_target: boolean;
  /** Whether the target holds at the band's upper edge; null when the band is unknown. */
  meets_at_upper_edge: boolean | null;
  cost_per_prefill: number | null;
  cost_per_hour: number;
  pareto: boolean;
  error: string | null;
  /** `kvr simulate ...` that reproduces the percentile TTFT. */
  command: string;
}

export async function planCommand(flags: PlanFlags, io: CliIo): Promise<void> {
  if (flags.ttft === undefined) throw new KvrInputError('--ttft', 'is required: the TTFT target, e.g. "2 s"');
  const target = parseQuantity(flags.ttft, 'time', '--ttft');
  if (target <= 0) throw new KvrInputError('--ttft', `must be > 0, e.g. "2 s" (got ${describeValue(flags.ttft)})`);
  const models = splitList(flags.model ?? 'llama2-7b', '--model');
  for (const model of models) resolveModel(model, io);
  const distribution = parseContextDistribution(flags.context ?? '16384');
  const highest = maxPercentile(distribution);
  const percentile = flags.percentile === undefined ? highest : parsePercentile(flags.percentile);
  if (percentile > highest + 1e-9) {
    throw new KvrInputError('--percentile', `p${percentile} is above the highest percentile --context gives (p${highest})`);
  }
  const strategies = flags.strategies === undefined ? defaultPlanStrategies() : parseStrategies(flags.strategies);
  const attention = flags.attention === undefined ? undefined : checkAttention(flags.attention);
  // --dtype, --ffn-dtype, --kv-dtype: checked here, applied per configuration by kvr simulate's
  // flag code (a GPU without an fp8 peak makes its rows an error, not the whole plan).
  const dtypeFlags: Pick<ScenarioFlags, 'dtype' | 'ffnDtype' | 'kvDtype'> = {};
  for (const [key, flag] of [['dtype', '--dtype'], ['ffnDtype', '--ffn-dtype'], ['kvDtype', '--kv-dtype']] as const) {
    const value = flags[key];
    if (value === undefined) continue;
    if (!(DTYPES as readonly string[]).includes(value)) throw new KvrInputError(flag, `unknown value ${describeValue(value)} (allowed: ${DTYPES.join(', ')})`);
    dtypeFlags[key] = value;
  }
  const bandKind = flags.band === undefined ? 'max' : flags.band === 'max' || flags.band === 'mean' ? flags.band : badBand(flags.band);
  const top = flags.top === undefined ? 5 : parseIntegerText(flags.top, '--top', { min: 1, max: 1000 });
  const jobs = flags.jobs === undefined ? defaultJobs() : parseIntegerText(flags.jobs, '--jobs', { min: 0, max: 256 });
  const catalogue = loadPlanCatalogue(io, flags.catalogue);
  const outPrefix = flags.out ?? 'kvr-plan';
  for (const ext of flags.figure !== false ? ['csv', 'vl.json', 'svg'] : ['csv']) checkOutput(io, `${outPrefix}.${ext}`, '--out');
  const currency = catalogue.catalogue.currency ?? 'USD';

  // One task per (model, config, strategy, context).
  interface Key {
    model: string;
    config: MachineConfig;
    strategy: StrategyName;
    context: number;
    flags: ScenarioFlags;
  }
  const keys: Key[] = [];
  for (const model of models) {
    for (const config of catalogue.configs) {
      for (const strategy of strategies) {
        if ((config.gpus === 1) !== (strategy === 'single')) continue;
        for (const point of distribution.points) {
          const scenarioFlags: ScenarioFlags = { model: modelFlag(model), ...config.flags, context: String(point.context), strategy };
          if (attention !== undefined) scenarioFlags.attention = attention;
          Object.assign(scenarioFlags, dtypeFlags);
          keys.push({ model, config, strategy, context: point.context, flags: scenarioFlags });
        }
      }
    }
  }
  if (keys.length === 0) throw new KvrInputError('--strategies', 'no configuration to evaluate (single needs a 1-GPU config, the others 2 GPUs or more)');
  const results: RowResult[] = [];
  function* tasks(): Generator<PoolTask<number>> {
    for (let i = 0; i < keys.length; i++) yield { flags: keys[i]!.flags, payload: i };
  }
  // Never more workers than the largest simulation allows in the available memory at once.
  const shapes = new Map(models.map((m) => [m, resolveModel(m, io)]));
  let perJob = 0;
  for (const { model, config, strategy } of keys) {
    const spec = shapes.get(model)!;
    const tp = config.flags.tp === undefined ? undefined : Number(config.flags.tp);
    const collective = config.flags.collective === 'direct' ? ('direct' as const) : undefined;
    const { bytes } = estimateSimulationBytes(strategy, spec.layers, config.gpus, {
      parallelBlock: spec.block === 'parallel',
      ...(TP_STRATEGIES.includes(strategy) && tp !== undefined && tp > 0 ? { tp } : {}),
      ...(collective === undefined ? {} : { collective }),
    });
    if (bytes <= MAX_SIMULATION_BYTES) perJob = Math.max(perJob, bytes);
  }
  const workers = memoryCappedJobs(Math.min(jobs, Math.ceil(keys.length / 4)), perJob, io.availableMemory?.());
  const progress = commandProgress(io, keys.length, 'plan', flags.quiet);
  await runOrdered(tasks(), { jobs: workers, files: {}, io }, (i, result) => {
    results[i] = result!;
    progress.tick();
  });
  progress.finish();

  // Group per (model, config, strategy).
  const bands = new Map<string, GpuBand>();
  const bandOf = (model: string, gpu: string): GpuBand => {
    const cacheKey = `${model}|${gpu}`;
    let band = bands.get(cacheKey);
    if (band === undefined) {
      band = gpuBand(io, gpu, resolveModel(model, io).name, bandKind);
      bands.set(cacheKey, band);
    }
    return band;
  };
  const candidates: PlanCandidate[] = [];
  for (let start = 0; start < keys.length; start += distribution.points.length) {
    const group = keys.slice(start, start + distribution.points.length);
    const rows = results.slice(start, start + distribution.points.length);
    const { model, config, strategy } = group[0]!;
    const band = bandOf(model, config.gpu);
    const error = rows.find((r) => r.error !== null)?.error ?? null;
    const fits = error === null && rows.every((r) => r.fits === true);
    const items = rows.map((r, k) => ({ value: r.ttft_s ?? NaN, weight: distribution.points[k]!.weight, context: distribution.points[k]!.context }));
    const ttft = error === null ? weightedPercentile(items, percentile)! : null;
    const mean = error === null ? weightedMean(items) : null;
    const at = ttft === null ? null : items.find((item) => item.value === ttft)!.context;
    const atFlags = group.find((k) => k.context === at)?.flags ?? group[group.length - 1]!.flags;
    const meets = fits && ttft !== null && ttft <= target;
    candidates.push({
      model,
      offer: config.offer,
      gpu: config.gpu,
      gpus: config.gpus,
      nodes: config.nodes,
      strategy,
      price_per_gpu_hour: config.price_per_gpu_hour,
      ttft_s: ttft,
      ttft_mean_s: mean,
      context_at_percentile: at,
      fits,
      band: band.e,
      ttft_low_s: ttft === null || band.e === null ? null : ttft * (1 - band.e),
      ttft_high_s: ttft === null || band.e === null ? null : ttft * (1 + band.e),
      meets_target: meets,
      meets_at_upper_edge: band.e === null || ttft === null ? null : fits && ttft * (1 + band.e) <= target,
      cost_per_prefill: mean === null ? null : prefillCost(config.gpus, config.price_per_gpu_hour, mean),
      cost_per_hour: config.gpus * config.price_per_gpu_hour,
      pareto: false,
      error,
      command: simulateCommandLine(atFlags),
    });
  }
  // Pareto frontier per model, among configs that fit and simulate.
  for (const model of models) {
    const pool = candidates.filter((c) => c.model === model && c.fits && c.ttft_s !== null);
    for (const i of paretoFrontier(pool.map((c) => ({ cost: c.cost_per_prefill!, ttft: c.ttft_s! })))) pool[i]!.pareto = true;
  }

  const context = { target, percentile, distribution, currency, catalogueSource: catalogue.source, bands };
  const written: string[] = [];
  try {
    io.writeFile(`${outPrefix}.csv`, candidatesCsv(candidates));
    written.push(`${outPrefix}.csv`);
    if (flags.figure !== false) {
      const { spec, svg } = await planFigure(candidates, models, context);
      io.writeFile(`${outPrefix}.vl.json`, `${JSON.stringify(spec, null, 2)}\n`);
      io.writeFile(`${outPrefix}.svg`, svg);
      written.push(`${outPrefix}.svg`, `${outPrefix}.vl.json`);
    }
  } catch (error) {
    if (error instanceof KvrInputError) throw error;
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(outPrefix)}.*: ${oneLine(error)}`);
  }
  if (flags.json) {
    io.stdout(
      `${JSON.stringify(
        {
          schema: PLAN_SCHEMA,
          target_ttft_s: target,
          percentile,
          contexts: distribution.points,
          contexts_unknown_mass: distribution.unknown,
          currency,
          cost_model: COST_MODEL,
          catalogue: catalogue.source,
          precision: precisionOf({
            ...(dtypeFlags.dtype === undefined ? {} : { dtype: dtypeFlags.dtype as Dtype }),
            ...(dtypeFlags.ffnDtype === undefined ? {} : { ffn_dtype: dtypeFlags.ffnDtype as Dtype }),
            ...(dtypeFlags.kvDtype === undefined ? {} : { kv_dtype: dtypeFlags.kvDtype as Dtype }),
          }),
          candidates,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  io.stdout(renderPlan(candidates, models, top, context) + (written.length > 0 ? `wrote ${written.join(', ')}\n` : ''));
}

interface PlanContext {
  target: number;
  percentile: number;
  distribution: ContextDistribution;
  currency: string;
  catalogueSource: string;
  bands: Map<string, GpuBand>;
}

function renderPlan(candidates: PlanCandidate[], models: string[], top: number, ctx: PlanContext): string {
  const p = `p${ctx.percentile}`;
  const lines: string[] = [];
  for (const model of models) {
    const mine = candidates.filter((c) => c.model === model);
    lines.push(`kvr plan: ${model}, ${describeDistribution(ctx.distribution)}, target TTFT <= ${formatSeconds(ctx.target)} at ${p}`);
    lines.push(`catalogue: ${ctx.catalogueSource}; ${mine.length} configurations (${mine.filter((c) => c.error !== null).length} invalid, ${mine.filter((c) => c.error === null && !c.fits).length} do not fit in memory)`);
    lines.push(`${COST_MODEL}, in ${ctx.currency}`);
    for (const [key, band] of ctx.bands) if (key.startsWith(`${model}|`)) lines.push(`TTFT band of ${key.slice(model.length + 1)}: ${band.note}`);
    const feasible = mine.filter((c) => c.meets_target).sort(byCost);
    lines.push('');
    if (feasible.length === 0) {
      lines.push(`no configuration meets the target with memory to spare. ${whyNot(mine, ctx)}`);
    } else {
      lines.push(`cheapest feasible (TTFT ${p} <= ${formatSeconds(ctx.target)}, every rank fits):`);
      lines.push(candidateTable(feasible.slice(0, top), ctx));
      const best = feasible[0]!;
      if (best.meets_at_upper_edge === false) {
        const robust = feasible.find((c) => c.meets_at_upper_edge === true);
        lines.push(`the cheapest misses the target at its band's upper edge (${formatSeconds(best.ttft_high_s!)});${robust === undefined ? ' none that holds at its upper edge' : ` the cheapest that holds there: ${robust.offer} x${robust.gpus} ${robust.strategy}`}`);
      }
      lines.push(`check: ${best.command}`);
    }
    const frontier = mine.filter((c) => c.pareto).sort((a, b) => a.ttft_s! - b.ttft_s!);
    if (frontier.length > 0) {
      lines.push('');
      lines.push(`Pareto frontier of cost vs TTFT ${p} (configs that fit; * meets the target):`);
      lines.push(candidateTable(frontier, ctx));
    }
    lines.push('');
  }
  return lines.join('\n');
}

function byCost(a: PlanCandidate, b: PlanCandidate): number {
  return a.cost_per_prefill! - b.cost_per_prefill! || a.ttft_s! - b.ttft_s! || a.gpus - b.gpus;
}

function candidateTable(rows: PlanCandidate[], ctx: PlanContext): string {
  return renderTable(
    ['config', 'gpus', 'strategy', `TTFT p${ctx.percentile}`, 'band', 'upper edge', 'mean TTFT', `${ctx.currency}/prefill`, `${ctx.currency}/hour`, 'meets'],
    rows.map((c) => [
      c.offer,
      String(c.gpus),
      c.strategy,
      formatSeconds(c.ttft_s!),
      c.band === null ? 'unknown' : `±${(c.band * 100).toFixed(1)}%`,
      c.ttft_high_s === null ? '-' : `${formatSeconds(c.ttft_high_s)} ${c.meets_at_upper_edge ? 'ok' : 'MISS'}`,
      formatSeconds(c.ttft_mean_s!),
      formatMoney(c.cost_per_prefill!),
      c.cost_per_hour.toFixed(2),
      c.meets_target ? '*' : '',
    ]),
    3,
  ).trimEnd();
}

/** Why nothing qualified: memory, or speed (with the closest configs). */
function whyNot(mine: PlanCandidate[], ctx: PlanContext): string {
  const simulated = mine.filter((c) => c.error === null);
  if (simulated.length === 0) return `Every configuration is invalid (first: ${mine[0]?.error ?? 'none'}).`;
  const fitting = simulated.filter((c) => c.fits);
  if (fitting.length === 0) return 'None fits in memory at every context (weights are replicated per rank; the last KV-Runahead rank holds the whole KV-cache): try GPUs with more memory or tensor-parallel strategies.';
  const fastest = [...fitting].sort((a, b) => a.ttft_s! - b.ttft_s!)[0]!;
  return `The fastest that fits is ${fastest.offer} x${fastest.gpus} ${fastest.strategy} at ${formatSeconds(fastest.ttft_s!)} (${(fastest.ttft_s! / ctx.target).toFixed(2)}x the target): check: ${fastest.command}`;
}

function formatMoney(value: number): string {
  if (value === 0) return '0';
  return value >= 0.01 ? value.toFixed(4) : value.toPrecision(3);
}

/** The TTFT band of a GPU: from a calibrated profile's fit errors, or unknown. */
export function gpuBand(io: CliIo, gpu: string, model: string, which: 'mean' | 'max'): GpuBand {
  let document: unknown;
  // The profile --gpu NAME resolves to: kvr-out/profiles/ here first, then the shipped one.
  for (const path of gpu.toLowerCase().endsWith('.json') ? [gpu] : profileCandidates(gpu)) {
    try {
      document = JSON.parse(io.readFile(path)) as unknown;
      break;
    } catch {
      document = undefined;
    }
  }
  if (document !== undefined && isShapeProfile(document)) {
    // A shape profile (kvr calibrate --from): its leave-one-out error per op class (gemm, attention).
    const cv = (document as { fit?: { cv?: Record<string, { mean: number; max: number } | null> } }).fit?.cv;
    const classes = Object.values(cv ?? {}).filter((c): c is { mean: number; max: number } => c !== null && typeof c === 'object');
    if (classes.length === 0) return { e: null, note: 'shape profile without cross-validated errors: band unknown' };
    const e = Math.max(...classes.map((c) => c[which]));
    return { e, note: `±${(e * 100).toFixed(1)}% (the ${which} leave-one-out kernel error of the shape profile, worst op class; memory-bound kernels not measured)` };
  }
  if (document !== undefined && isGpuProfile(document)) {
    const fit = (document as { fit?: FitErrors }).fit;
    if (fit === undefined || !Array.isArray(fit.ops) || fit.ops.length === 0) return { e: null, note: 'calibrated profile without fit errors: band unknown' };
    const e = bandHalfWidth(fit, model, which);
    return { e, note: `±${(e * 100).toFixed(1)}% (the ${which} fit error of the calibrated profile's ops and transfers)` };
  }
  const preset = GPU_PRESETS[gpu];
  if (preset?.profile === 'abstract') return { e: 0, note: 'exact (an abstract GPU)' };
  if (preset !== undefined) {
    const what = preset.shape === undefined ? 'efficiencies are published ranges' : 'shape-aware kernel efficiencies from published benchmarks, not measured on this GPU';
    return { e: null, note: `unknown: a datasheet preset, uncalibrated (${what}); calibrate it with kvr calibrate for a band` };
  }
  return { e: null, note: 'unknown: a GPU file that is not a calibrated profile' };
}

function parsePercentile(text: string): number {
  const value = Number(text.replace(/^p/i, ''));
  if (!/^p?\d+(\.\d+)?$/i.test(text.trim()) || !(value > 0 && value <= 100)) {
    throw new KvrInputError('--percentile', `expected a number in (0, 100] such as 95 or p95 (got ${describeValue(text)})`);
  }
  return value;
}

function parseStrategies(text: string): StrategyName[] {
  const names = splitList(text, '--strategies');
  return names.map((name) => {
    if (!(STRATEGY_NAMES as readonly string[]).includes(name)) {
      throw new KvrInputError('--strategies', `unknown strategy ${describeValue(name)} (allowed: ${STRATEGY_NAMES.filter((s) => s !== 'kvr').join(', ')})`);
    }
    if (name === 'kvr') throw new KvrInputError('--strategies', 'kvr needs a hand-made --partition; plan with kvr-s or kvr-p');
    return name as StrategyName;
  });
}

function checkAttention(value: string): string {
  if (!(ATTENTION_IMPLEMENTATIONS as readonly string[]).includes(value)) {
    throw new KvrInputError('--attention', `unknown value ${describeValue(value)} (allowed: ${ATTENTION_IMPLEMENTATIONS.join(', ')})`);
  }
  return value;
}

function badBand(value: string): never {
  throw new KvrInputError('--band', `expected mean or max (got ${describeValue(value)})`);
}

function modelFlag(model: string): string {
  return looksLikePath(model) && !isAbsolute(model) ? resolve(model) : model;
}

const FLAG_NAMES: [keyof ScenarioFlags, string][] = [
  ['model', '--model'],
  ['gpu', '--gpu'],
  ['gpus', '--gpus'],
  ['topology', '--topology'],
  ['bandwidth', '--bandwidth'],
  ['latency', '--latency'],
  ['gpusPerNode', '--gpus-per-node'],
  ['nicBandwidth', '--nic-bandwidth'],
  ['nicLatency', '--nic-latency'],
  ['gpusPerSwitch', '--gpus-per-switch'],
  ['context', '--context'],
  ['strategy', '--strategy'],
  ['attention', '--attention'],
  ['dtype', '--dtype'],
  ['ffnDtype', '--ffn-dtype'],
  ['kvDtype', '--kv-dtype'],
];

/** `kvr simulate ...` with exactly the flags a plan row was simulated with. */
export function simulateCommandLine(flags: ScenarioFlags): string {
  const parts = ['kvr simulate'];
  for (const [key, flag] of FLAG_NAMES) {
    const value = flags[key];
    if (value !== undefined) parts.push(`${flag} ${shellQuote(value)}`);
  }
  return parts.join(' ');
}

function shellQuote(value: string): string {
  return /^[\w./:@+-]+$/.test(value) ? value : `"${value.replace(/(["\\$`])/g, '\\$1')}"`;
}

function candidatesCsv(candidates: PlanCandidate[]): string {
  const columns = Object.keys(candidates[0] ?? {}) as (keyof PlanCandidate)[];
  const cell = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    const text = String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return `${columns.join(',')}\n${candidates.map((c) => `${columns.map((k) => cell(c[k])).join(',')}\n`).join('')}`;
}

/** Cost per prefill against TTFT (log-log) of every config that fits, the frontier, the target. */
async function planFigure(candidates: PlanCandidate[], models: string[], ctx: PlanContext): Promise<{ spec: object; svg: string }> {
  const values = candidates
    .filter((c) => c.fits && c.ttft_s !== null)
    .map((c) => ({
      model: c.model,
      config: `${c.offer} x${c.gpus}`,
      offer: c.offer,
      gpus: c.gpus,
      strategy: c.strategy,
      ttft_s: c.ttft_s,
      ttft_low_s: c.ttft_low_s,
      ttft_high_s: c.ttft_high_s,
      cost: c.cost_per_prefill,
      pareto: c.pareto,
      meets: c.meets_target ? 'meets the target' : 'misses the target',
    }));
  const infeasible = candidates.filter((c) => c.error === null && !c.fits).length;
  const x = { field: 'ttft_s', type: 'quantitative', title: `TTFT p${ctx.percentile} (s)`, scale: { type: 'log' } };
  const y = { field: 'cost', type: 'quantitative', title: `${ctx.currency} per prefill`, scale: { type: 'log' } };
  const layers = [
    { mark: { type: 'rule', strokeDash: [5, 4], color: '#c0392b' }, encoding: { x: { datum: ctx.target, type: 'quantitative' } } },
    {
      transform: [{ filter: 'datum.pareto' }],
      mark: { type: 'line', interpolate: 'step-after', color: '#777', strokeWidth: 1.5 },
      encoding: { x, y, order: { field: 'ttft_s', type: 'quantitative' } },
    },
    ...(values.some((v) => v.ttft_low_s !== null) ? [{
      transform: [{ filter: 'datum.ttft_low_s != null' }],
      mark: { type: 'rule', opacity: 0.6 },
      encoding: { x: { field: 'ttft_low_s', type: 'quantitative' }, x2: { field: 'ttft_high_s' }, y: { field: 'cost', type: 'quantitative' }, color: { field: 'offer', type: 'nominal' } },
    }] : []),
    {
      mark: { type: 'point', filled: true, size: 70 },
      encoding: {
        x,
        y,
        color: { field: 'offer', type: 'nominal', title: 'offer' },
        shape: { field: 'strategy', type: 'nominal', title: 'strategy' },
        opacity: { field: 'meets', type: 'nominal', scale: { domain: ['meets the target', 'misses the target'], range: [1, 0.3] }, title: null },
        tooltip: [
          { field: 'config', type: 'nominal' },
          { field: 'strategy', type: 'nominal' },
          { field: 'ttft_s', type: 'quantitative', format: '.4g' },
          { field: 'cost', type: 'quantitative', format: '.3g' },
        ],
      },
    },
  ];
  const subtitle = [
    `${describeDistribution(ctx.distribution)}; target ${formatSeconds(ctx.target)} (dashed); step line: Pareto frontier`,
    `${COST_MODEL}`,
    `${infeasible} configurations that do not fit in memory are not shown; bars: TTFT band of calibrated profiles`,
  ];
  const inner = { width: 560, height: 360, layer: layers };
  const spec =
    models.length > 1
      ? { facet: { column: { field: 'model', type: 'nominal', title: null } }, spec: inner, resolve: { scale: { y: 'independent' } } }
      : inner;
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${models.join(', ')}: cost per prefill vs TTFT`, subtitle },
    data: { values },
    ...spec,
  };
  const { renderVegaLite } = await import('../../notebooks/lib/render-vega.js');
  const svg = await renderVegaLite(full as unknown as Parameters<typeof renderVegaLite>[0]);
  return { spec: full, svg };
}
