/**
 * # KVR-P vs KVR-S on held-out contexts
 *
 * KVR-P predicts a partition without searching. Two predictors:
 * - `model` (ours): the cost model's pipeline-balanced partition for the very scenario; needs no
 *   table.
 * - `interpolate` (the paper's KVR-P): boundary fractions interpolated between the searched
 *   partitions of a table. The notebook builds that table itself with `buildPartitionTable` over a
 *   few contexts (1k, 2k, 4k, 8k, 12k, 16k) and scores both predictors with
 *   `validatePartitionTable` on the contexts halfway between (held out: not in the table).
 *
 * gap = TTFT(predicted partition) / TTFT(KVR-S) - 1, in percent; 0 means the prediction is as good
 * as the search, negative that it beat the (local) search.
 *
 * What to look for (numbers when this was written; the notebook prints the current ones): the
 * model predictor stays within a fraction of a percent of the search at every held-out context,
 * GPU count and link (mean 0.01%, max 0.23% over 60 scenarios); interpolating the table loses
 * more (mean 0.62%, max 4.8%), mostly at the short held-out contexts (3k, 6k) on 4 and 8 GPUs,
 * where the optimal partition changes fastest between table entries.
 *
 * Run: `node dist/notebooks/kvrp-gap.js [outDir]`.
 */
import type { TopLevelSpec } from 'vega-lite';
import { buildPartitionTable } from '../sim/partition/build-table.js';
import { DEFAULT_SEARCH } from '../sim/partition/search-partition.js';
import { PREDICTORS } from '../sim/partition/predict-partition.js';
import { validatePartitionTable } from '../sim/partition/validate-table.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import {
  CONTEXT_AXIS_LABEL,
  PAPER,
  contextLabel,
  gpu as gpuPreset,
  linkLabel,
  model as modelPreset,
  profileNote,
  round,
  scenario,
  type GridOptions,
} from './lib/setting.js';

export const NAME = 'kvrp-gap';

export interface GapOptions extends GridOptions {
  /** Contexts of the partition table; held-out contexts are the midpoints between them. */
  tableContexts?: number[];
}

/** Midpoints between consecutive table contexts, on the 64-token lattice. */
export function heldOutContexts(tableContexts: number[], granularity = DEFAULT_SEARCH.granularity): number[] {
  const sorted = [...tableContexts].sort((a, b) => a - b);
  const result: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const mid = Math.round((sorted[i - 1]! + sorted[i]!) / 2 / granularity) * granularity;
    if (mid > sorted[i - 1]! && mid < sorted[i]!) result.push(mid);
  }
  return result;
}

const PREDICTOR_LABEL: Record<string, string> = {
  model: 'model (ours: cost-model balance, no table)',
  interpolate: "interpolate (the paper's: table of searched partitions)",
};

/**
 * Options: models (llama2-7b, falcon-7b), gpu (a100-80g), gpus (2, 4, 8), bandwidths (300 and
 * 10 GB/s), tableContexts (1k, 2k, 4k, 8k, 12k, 16k); `contexts` overrides the held-out contexts.
 */
export function figure(options: GapOptions = {}): Figure {
  const models = options.models ?? PAPER.models.map(modelPreset);
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpuCounts = options.gpus ?? [...PAPER.gpus];
  const bandwidths = options.bandwidths ?? [...PAPER.bandwidths];
  const tableContexts = options.tableContexts ?? [1024, 2048, 4096, 8192, 12288, 16384];
  const heldOut = options.contexts ?? heldOutContexts(tableContexts);
  const search = DEFAULT_SEARCH;
  const rows: Row[] = [];
  for (const model of models) {
    const grid = (contexts: number[]) =>
      gpuCounts.flatMap((gpus) =>
        bandwidths.flatMap((bandwidth) => contexts.map((context) => scenario({ model, gpu, gpus, context, strategy: 'kvr-s', bandwidth }))),
      );
    const table = buildPartitionTable(grid(tableContexts), search, `notebooks/${NAME}`);
    const report = validatePartitionTable(table, grid(heldOut), search);
    for (const row of report.rows) {
      for (const predictor of PREDICTORS) {
        const score = row.predictors[predictor];
        rows.push({
          model: model.name,
          gpus: row.gpus,
          link: linkLabel(row.bandwidth),
          bandwidth_Bps: row.bandwidth,
          context: row.context,
          predictor: PREDICTOR_LABEL[predictor]!,
          gap_percent: round(score.gap * 100, 6),
          ttft_ms: round(score.ttft_s * 1e3, 6),
          kvr_s_ttft_ms: round(row.kvr_s.ttft_s * 1e3, 6),
          kvr_e_ttft_ms: round(row.kvr_e_ttft_s * 1e3, 6),
          partition: score.partition.join(' '),
          kvr_s_partition: row.kvr_s.partition.join(' '),
        });
      }
    }
  }
  const links = bandwidths.map(linkLabel);
  const spec = {
    title: {
      text: 'KVR-P: how much slower the predicted partition is than the searched one (held-out contexts)',
      subtitle: [
        `${profileNote(gpu)}; switch topology; table contexts ${tableContexts.map(contextLabel).join(', ')}, held out ${heldOut.map(contextLabel).join(', ')}`,
      ],
    },
    facet: {
      row: { field: 'link', type: 'nominal', sort: links, title: 'link bandwidth', header: { labelFontWeight: 'bold' } },
      column: { field: 'gpus', type: 'ordinal', title: 'GPUs', header: { labelExpr: "datum.value + ' GPUs'", labelFontWeight: 'bold' } },
    },
    spec: {
      width: 240,
      height: 160,
      layer: [
        { mark: { type: 'rule', color: '#888', strokeDash: [2, 2] }, encoding: { y: { datum: 0, type: 'quantitative' } } },
        {
          mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
          encoding: {
            x: {
              field: 'context',
              type: 'quantitative',
              title: 'held-out context (tokens)',
              scale: { domain: [0, Math.max(...tableContexts)] },
              axis: { labelExpr: CONTEXT_AXIS_LABEL, values: [0, 4096, 8192, 12288, 16384], grid: true },
            },
            y: { field: 'gap_percent', type: 'quantitative', title: 'gap to KVR-S (%)' },
            color: { field: 'predictor', type: 'nominal', title: 'predictor', scale: { domain: Object.values(PREDICTOR_LABEL), range: ['#59a14f', '#b07aa1'] }, legend: { symbolType: 'stroke' } },
            strokeDash: { field: 'model', type: 'nominal', title: 'model', sort: models.map((m) => m.name), scale: { range: [[1, 0], [5, 3]] }, legend: { symbolType: 'stroke', encode: { symbols: { update: { stroke: { value: '#444' } } } } } },
            order: { field: 'context', type: 'quantitative' },
          },
        },
      ],
    },
    config: { legend: { orient: 'top', direction: 'vertical', symbolStrokeWidth: 2.5, symbolSize: 250 } },
  } as unknown as TopLevelSpec;
  return {
    name: NAME,
    spec,
    data: rows,
    caption: `Gap of KVR-P's predicted partitions to KVR-S's searched ones (TTFT ratio - 1) at contexts held out of the partition table, for the model and interpolate predictors, per GPU count and link; ${gpu.name}, simulated.`,
    findings: findings(rows),
  };
}

function findings(rows: Row[]): string[] {
  return Object.values(PREDICTOR_LABEL).map((label) => {
    const gaps = rows.filter((r) => r.predictor === label).map((r) => r.gap_percent as number);
    const mean = gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length);
    return `${label}: mean gap ${mean.toFixed(3)}%, max ${Math.max(...gaps).toFixed(3)}%, min ${Math.min(...gaps).toFixed(3)}% over ${gaps.length} held-out scenarios`;
  });
}

export const notebook: Notebook = {
  name: NAME,
  title: 'KVR-P (model and interpolate predictors) vs KVR-S on held-out contexts',
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
