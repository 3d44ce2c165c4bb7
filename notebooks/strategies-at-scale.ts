/**
 * # Strategies at scale: every strategy, 8 to 256 H100s, 32k to 1M tokens
 *
 * Llama 3.1 70B (preset), Llama 3.1 405B (examples/llama3.1-405b.json, from its Hugging Face
 * config) and one mixture-of-experts model, DeepSeek-V3 (671B, 37B active per token, MLA), on
 * H100 SXM nodes of 8 GPUs (NVSwitch 450 GB/s per GPU, one 50 GB/s NIC per GPU: the `multi-node`
 * preset), at 32k, 128k and 1M tokens on 8, 32 and 256 GPUs (97-187 s on a shared 2-core machine).
 *
 * Every strategy in STRATEGY_NAMES is tried at every point, with the options of STRATEGY_CASES
 * (kvr-tp: TP over each 8-GPU node, even chunks per node so no search runs; ring-kv and ring-q
 * also with TP over each node and the ring across nodes; pp-chunked with one GPU a stage and also
 * with a node a stage, TP 8 inside it; the MoE model also under tp and tp-sp with --ep = all GPUs). A strategy added to STRATEGY_NAMES is tried with no
 * options; one that needs options gets a STRATEGY_CASES entry. Each point ends as one of:
 *   fits        simulated, every GPU's peak memory (weights + KV cache + activations) fits 80 GB;
 *   over memory simulated, but some GPU would need more than 80 GB (the result's memory_overflow):
 *               a what-if, drawn hollow;
 *   refused     the simulator refuses the point (its one-line reason kept in the data: a plan
 *               over the op or simulation-memory limit, a strategy that needs one GPU, ...);
 *   skipped     not run for cost: kvr-s's search above `searchMaxGpus` GPUs (KVR-P stands in).
 * Only fits and over-memory points are plotted (TTFT, log scale); refused and skipped points are
 * in the data rows and counted in the findings.
 *
 * Run: `node dist/notebooks/strategies-at-scale.js [outDir]`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { projectRoot } from '../cli/project-root.js';
import { KvrInputError } from '../sim/errors.js';
import { modelFromJson, type ModelSpec } from '../sim/model/model-spec.js';
import { evenPartition } from '../sim/plan/partition.js';
import { STRATEGY_NAMES, type StrategyName } from '../sim/plan/plan.js';
import { simulate, type Scenario } from '../sim/simulate.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import { contextLabel, gpu as gpuPreset, model as modelPreset, profileNote, round, scenario, type GridOptions } from './lib/setting.js';

export const NAME = 'strategies-at-scale';

export interface AtScaleOptions extends GridOptions {
  /** Run kvr-s's partition search only up to this many GPUs (default 8); KVR-P is run everywhere. */
  searchMaxGpus?: number;
}

/** One way to run a strategy: its label and the scenario fields it adds (undefined: not applicable). */
interface StrategyCase {
  label: string;
  options(model: ModelSpec, gpus: number, context: number): Partial<Scenario> | undefined;
}

/** GPUs per node of the multi-node preset: kvr-tp's tensor-parallel group. */
const NODE = 8;

/**
 * The cases of each strategy; a strategy not listed runs once with no options. kvr takes a given
 * partition (the even one is kvr-e's), so it is not repeated.
 */
const STRATEGY_CASES: Partial<Record<StrategyName, StrategyCase[]>> = {
  kvr: [],
  'kvr-tp': [
    {
      label: 'kvr-tp (tp 8, even)',
      options: (_model, gpus, context) => (multiNode(gpus) ? { tp: NODE, partition: evenPartition(context, gpus / NODE) } : undefined),
    },
  ],
  tp: [
    { label: 'tp', options: () => ({}) },
    { label: 'tp --ep', options: (model, gpus) => (model.moe === undefined ? undefined : { ep: gpus }) },
  ],
  'tp-sp': [
    { label: 'tp-sp', options: () => ({}) },
    { label: 'tp-sp --ep', options: (model, gpus) => (model.moe === undefined ? undefined : { ep: gpus }) },
  ],
  // Context parallelism as Meta runs it (Yang et al., arXiv 2411.01783): the ring across nodes, TP inside each.
  'ring-kv': [
    { label: 'ring-kv', options: () => ({}) },
    { label: 'ring-kv (tp 8)', options: (_model, gpus) => (multiNode(gpus) ? { tp: NODE } : undefined) },
  ],
  'ring-q': [
    { label: 'ring-q', options: () => ({}) },
    { label: 'ring-q (tp 8)', options: (_model, gpus) => (multiNode(gpus) ? { tp: NODE } : undefined) },
  ],
  // One GPU a stage (pp = gpus), and a node a stage (TP inside it, pp = gpus / 8); 8192-token chunks.
  'pp-chunked': [
    { label: 'pp-chunked', options: () => ({}) },
    { label: 'pp-chunked (tp 8, pp gpus/8)', options: (_model, gpus) => (multiNode(gpus) ? { tp: NODE, pp: gpus / NODE } : undefined) },
  ],
};

/** More than one whole node: where a strategy can put TP inside nodes and something else across them. */
function multiNode(gpus: number): boolean {
  return gpus % NODE === 0 && gpus > NODE;
}

function casesOf(strategy: StrategyName): StrategyCase[] {
  return STRATEGY_CASES[strategy] ?? [{ label: strategy, options: () => ({}) }];
}

/** Llama 3.1 405B as examples/llama3.1-405b.json gives it. */
export function llama405b(): ModelSpec {
  return modelFromJson(JSON.parse(readFileSync(join(projectRoot(), 'examples', 'llama3.1-405b.json'), 'utf8')), 'examples/llama3.1-405b.json');
}

const STATUS_ORDER = ['fits', 'over memory', 'refused', 'skipped'];

/**
 * Options: models (llama3.1-70b, llama3.1-405b, deepseek-v3), gpu (h100-sxm), gpus (8, 32, 256),
 * contexts (32k, 128k, 1M), searchMaxGpus (8).
 */
export function figure(options: AtScaleOptions = {}): Figure {
  const models = options.models ?? [modelPreset('llama3.1-70b'), llama405b(), modelPreset('deepseek-v3')];
  const gpu = options.gpu ?? gpuPreset('h100-sxm');
  const gpuCounts = options.gpus ?? [8, 32, 256];
  const contexts = options.contexts ?? [32768, 131072, 1048576];
  const searchMax = options.searchMaxGpus ?? 8;
  const bandwidth = gpu.link_bandwidth ?? 450e9;
  const rows: Row[] = [];
  for (const model of models) {
    for (const context of contexts) {
      for (const gpus of gpuCounts) {
        for (const strategy of STRATEGY_NAMES) {
          for (const c of casesOf(strategy)) {
            const extra = c.options(model, gpus, context);
            if (extra === undefined) continue;
            const row: Row = { model: model.name, context, context_label: `${contextLabel(context)} tokens`, gpus, strategy: c.label, status: '', ttft_s: null, peak_mem_gb: null, reason: '' };
            if (strategy === 'kvr-s' && gpus > searchMax) {
              rows.push({ ...row, status: 'skipped', reason: `partition search not run above ${searchMax} GPUs (cost); see KVR-P` });
              continue;
            }
            try {
              const result = simulate({ ...scenario({ model, gpu, gpus, context, strategy, bandwidth, preset: 'multi-node' }), ...extra }).result;
              const peak = Math.max(...result.ranks.map((r) => r.peak_mem_bytes));
              rows.push({ ...row, status: result.fits ? 'fits' : 'over memory', ttft_s: round(result.ttft_s, 6), peak_mem_gb: round(peak / 1e9, 4) });
            } catch (error) {
              if (!(error instanceof KvrInputError)) throw error;
              rows.push({ ...row, status: 'refused', reason: error.message });
            }
          }
        }
      }
    }
  }
  const plotted = rows.filter((r) => r.ttft_s !== null);
  const ttfts = plotted.map((r) => r.ttft_s as number);
  const domain = [Math.min(...ttfts) / 1.5, Math.max(...ttfts) * 1.5];
  // Legend in STRATEGY_NAMES order, each strategy's cases together (not in order of first appearance).
  const present = new Set(rows.map((r) => r.strategy as string));
  const labels = STRATEGY_NAMES.flatMap((s) => casesOf(s).map((c) => c.label)).filter((label) => present.has(label));
  const x = { field: 'gpus', type: 'quantitative', title: 'GPUs', scale: { type: 'log', base: 2, nice: false, domain: [Math.min(...gpuCounts) / 1.3, Math.max(...gpuCounts) * 1.3] }, axis: { values: gpuCounts, format: 'd', grid: true } };
  const spec = {
    title: {
      text: `Every strategy on ${gpuCounts.join('/')} x ${gpu.name}, ${contexts.map(contextLabel).join(', ')} tokens`,
      subtitle: [
        `${profileNote(gpu)}; multi-node: 8 GPUs per node on NVSwitch, one 50 GB/s NIC per GPU`,
        'filled: every GPU fits its 80 GB; hollow: over memory (a what-if); refused and skipped points are in the data only',
      ],
    },
    transform: [{ filter: 'datum.ttft_s != null' }],
    facet: {
      row: { field: 'model', type: 'nominal', sort: models.map((m) => m.name), title: null, header: { labelFontWeight: 'bold' } },
      column: { field: 'context_label', type: 'nominal', sort: contexts.map((c) => `${contextLabel(c)} tokens`), title: null },
    },
    spec: {
      width: 220,
      height: 170,
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.2, opacity: 0.7 },
          encoding: { x, y: { field: 'ttft_s', type: 'quantitative' }, color: { field: 'strategy', type: 'nominal', sort: labels, title: 'strategy', scale: { scheme: 'tableau20' } } },
        },
        {
          mark: { type: 'point', size: 45, strokeWidth: 1.5, filled: true },
          encoding: {
            x,
            y: { field: 'ttft_s', type: 'quantitative', title: 'TTFT (s, log scale)', scale: { type: 'log', domain, nice: false } },
            color: { field: 'strategy', type: 'nominal', sort: labels, title: 'strategy', scale: { scheme: 'tableau20' } },
            stroke: { field: 'strategy', type: 'nominal', sort: labels, scale: { scheme: 'tableau20' } },
            // Filled where every GPU fits; hollow (outline only) where some GPU is over memory.
            fillOpacity: { condition: { test: "datum.status == 'fits'", value: 1 }, value: 0 },
            shape: { field: 'status', type: 'nominal', sort: STATUS_ORDER, title: 'memory' },
            tooltip: [{ field: 'strategy' }, { field: 'ttft_s' }, { field: 'peak_mem_gb', title: 'peak GB per GPU' }, { field: 'status' }],
          },
        },
      ],
    },
    resolve: { scale: { y: 'shared' } },
  } as unknown as TopLevelSpec;
  return {
    name: NAME,
    spec,
    data: rows,
    caption: `TTFT of every strategy (${labels.join(', ')}) for ${models.map((m) => m.name).join(', ')} at ${contexts.map(contextLabel).join(', ')} tokens on ${gpuCounts.join('/')} x ${gpu.name} in 8-GPU nodes, with each point's memory feasibility; simulated.`,
    findings: findings(rows),
  };
}

function findings(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const model of new Set(rows.map((r) => r.model))) {
    const mine = rows.filter((r) => r.model === model);
    const count = (status: string) => mine.filter((r) => r.status === status).length;
    lines.push(`${model}: ${count('fits')} points fit, ${count('over memory')} over memory, ${count('refused')} refused, ${count('skipped')} skipped`);
    for (const context of new Set(mine.map((r) => r.context))) {
      const best = mine.filter((r) => r.context === context && r.status === 'fits').sort((a, b) => (a.ttft_s as number) - (b.ttft_s as number))[0];
      lines.push(`  ${contextLabel(context as number)}: ${best === undefined ? 'no strategy fits' : `fastest that fits: ${best.strategy} on ${best.gpus} GPUs, ${(best.ttft_s as number).toFixed(3)} s`}`);
    }
  }
  return lines;
}

export const notebook: Notebook = {
  name: NAME,
  title: 'Strategies at scale: every strategy, llama3.1-70b/405b and deepseek-v3, 8-256 H100s, 32k-1M tokens, memory feasibility',
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
