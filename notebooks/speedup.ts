/**
 * # Speedup of KV-Runahead over TSP vs GPU count and context
 *
 * speedup = TTFT(TSP) / TTFT(strategy), for KVR-E (even chunks) and KVR-S (searched chunks), on
 * 2, 4 and 8 A100s and contexts 2k..16k, at both link bandwidths of the paper. Each panel is a
 * heatmap: columns GPU count, rows context, the number in a cell is the speedup (above 1: KVR is
 * faster).
 *
 * What to look for (numbers when this was written; the notebook prints the current ranges):
 * - KVR-S is faster than TSP in every cell, and never slower than KVR-E (the search keeps the
 *   even split if nothing beats it).
 * - At 300 GB/s the speedup comes from compute (no masked attention scores, balanced chunks) and
 *   grows with the context: Llama 2 7B KVR-S 1.05x (2 GPUs, 2k) to 1.47x (2 GPUs, 16k); not
 *   with the GPU count at 16k (1.43x on 4 and 8 GPUs).
 * - At 10 GB/s TSP's per-layer all-gather dominates: Llama 2 7B KVR-S 1.64-1.99x in every cell.
 *   Even chunks (KVR-E) lose most of that on 8 GPUs (1.15-1.23x): the last ranks wait for a long
 *   KV-cache to come down the chain; the searched partition avoids the wait.
 * - Falcon 7B has one KV head (multi-query attention; its K,V are 64x smaller than Llama's), so
 *   both link columns look alike: KVR-S 1.02-1.48x, growing with the context.
 *
 * Run: `node dist/notebooks/speedup.js [outDir]`.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { StrategyName } from '../sim/plan/plan.js';
import { simulate } from '../sim/simulate.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import {
  PAPER,
  STRATEGY_LABEL,
  contextLabel,
  gpu as gpuPreset,
  linkLabel,
  model as modelPreset,
  profileNote,
  round,
  scenario,
  type GridOptions,
} from './lib/setting.js';

export const NAME = 'speedup';
const COMPARED: StrategyName[] = ['kvr-e', 'kvr-s'];

/**
 * Options: models (llama2-7b, falcon-7b), gpu (a100-80g), gpus (2, 4, 8), bandwidths (300 and
 * 10 GB/s), contexts (2k, 4k, 8k, 12k, 16k).
 */
export function figure(options: GridOptions = {}): Figure {
  const models = options.models ?? PAPER.models.map(modelPreset);
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpuCounts = options.gpus ?? [...PAPER.gpus];
  const bandwidths = options.bandwidths ?? [...PAPER.bandwidths];
  const contexts = options.contexts ?? [2048, 4096, 8192, 12288, 16384];
  const rows: Row[] = [];
  for (const model of models) {
    for (const bandwidth of bandwidths) {
      for (const gpus of gpuCounts) {
        for (const context of contexts) {
          const ttft = (strategy: StrategyName) => simulate(scenario({ model, gpu, gpus, context, strategy, bandwidth })).result.ttft_s;
          const tsp = ttft('tsp');
          for (const strategy of COMPARED) {
            const t = ttft(strategy);
            rows.push({
              model: model.name,
              link: linkLabel(bandwidth),
              bandwidth_Bps: bandwidth,
              gpus,
              context,
              context_label: contextLabel(context),
              strategy: STRATEGY_LABEL[strategy]!,
              panel: `${STRATEGY_LABEL[strategy]} · ${linkLabel(bandwidth)}`,
              tsp_ttft_ms: round(tsp * 1e3, 6),
              ttft_ms: round(t * 1e3, 6),
              speedup: round(tsp / t, 5),
            });
          }
        }
      }
    }
  }
  const panels = [...new Set(rows.map((r) => r.panel as string))].sort((a, b) => panelOrder(a, rows) - panelOrder(b, rows));
  const contextLabels = [...contexts].sort((a, b) => b - a).map(contextLabel);
  const maxSpeedup = Math.max(...rows.map((r) => r.speedup as number));
  const spec = {
    title: {
      text: `Speedup of KV-Runahead over TSP (TTFT of TSP / TTFT of KVR), ${gpu.name}`,
      subtitle: [`${profileNote(gpu)}; switch topology; columns: KVR-E (even chunks) / KVR-S (searched chunks) at each link bandwidth`],
    },
    facet: {
      row: { field: 'model', type: 'nominal', sort: models.map((m) => m.name), title: null, header: { labelFontWeight: 'bold' } },
      column: { field: 'panel', type: 'nominal', sort: panels, title: null, header: { labelFontWeight: 'bold' } },
    },
    spec: {
      width: { step: 52 },
      height: { step: 30 },
      encoding: {
        x: { field: 'gpus', type: 'ordinal', title: 'GPUs', axis: { labelAngle: 0 } },
        y: { field: 'context_label', type: 'ordinal', sort: contextLabels, title: 'context (tokens)' },
      },
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
          encoding: {
            color: {
              field: 'speedup',
              type: 'quantitative',
              title: 'speedup (x)',
              scale: { scheme: 'blues', domain: [1, Math.max(1.05, maxSpeedup)], clamp: true },
              legend: { orient: 'right', gradientLength: 160, format: '.1f' },
            },
          },
        },
        {
          mark: { type: 'text', fontSize: 11 },
          encoding: {
            text: { field: 'speedup', type: 'quantitative', format: '.2f' },
            color: { condition: { test: `datum.speedup > ${1 + 0.55 * (Math.max(1.05, maxSpeedup) - 1)}`, value: 'white' }, value: 'black' },
          },
        },
      ],
    },
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
  return {
    name: NAME,
    spec,
    data: rows,
    caption: `Speedup of KVR-E and KVR-S over TSP (TSP TTFT / KVR TTFT) on ${gpuCounts.join('/')} x ${gpu.name} for contexts ${contexts.map(contextLabel).join(', ')}, per model and link bandwidth; simulated.`,
    findings: findings(rows),
  };
}

function panelOrder(panel: string, rows: Row[]): number {
  const row = rows.find((r) => r.panel === panel)!;
  return (row.strategy === 'KVR-E' ? 0 : 1) - (row.bandwidth_Bps as number) / 1e15;
}

function findings(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const model of new Set(rows.map((r) => r.model))) {
    const parts: string[] = [];
    for (const panel of new Set(rows.filter((r) => r.model === model).map((r) => r.panel))) {
      const cells = rows.filter((r) => r.model === model && r.panel === panel);
      const speedups = cells.map((r) => r.speedup as number);
      const best = cells.reduce((a, b) => ((b.speedup as number) > (a.speedup as number) ? b : a));
      parts.push(`${panel} ${Math.min(...speedups).toFixed(2)}-${Math.max(...speedups).toFixed(2)}x (best ${best.gpus} GPUs, ${best.context_label})`);
    }
    lines.push(`${model}: ${parts.join('; ')}`);
  }
  return lines;
}

export const notebook: Notebook = {
  name: NAME,
  title: 'Speedup of KVR-E and KVR-S over TSP vs GPU count and context',
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
