/**
 * # TTFT vs context length (the paper's Figure 1 setting)
 *
 * How long does the first token take when a prompt of 1k..16k tokens is prefilled on several
 * A100s, with the tensor/sequence-parallel baseline (TSP) and with KV-Runahead (KVR-E: even
 * chunks; KVR-S: chunks searched on the simulator; KVR-P: chunks predicted by the cost model,
 * no search)?
 *
 * Two figures from one grid of simulations:
 * - `ttft-vs-context`: 8 GPUs; rows are the two 7B models, columns the link bandwidth per GPU
 *   (300 GB/s NVLink-class, 10 GB/s the paper's slow fabric).
 * - `ttft-vs-gpus`: Llama 2 7B; rows are 2, 4 and 8 GPUs, columns the link bandwidth.
 *
 * What to look for (numbers from the simulator when this was written; the notebook prints the
 * current ones when it runs):
 * - TTFT grows faster than linearly with the context (attention is quadratic), for every
 *   strategy.
 * - KV-Runahead is below TSP everywhere: TSP computes dense-masked attention (all scores,
 *   half of them masked) and all-gathers every layer's K,V before attention; KVR computes only
 *   the causal scores and hands the growing KV-cache point-to-point to the next GPU, overlapping
 *   compute. Llama 2 7B on 8 GPUs at 16k: TSP 298 ms vs KVR-S 208 ms at 300 GB/s (1.43x);
 *   1024 ms vs 624 ms at 10 GB/s (1.64x), where TSP's all-gather sits on every layer's critical
 *   path.
 * - Falcon 7B has one KV head (multi-query attention; its K,V are 64x smaller than Llama's), so
 *   the link barely matters: TSP 292 / 303 ms, KVR-S 217 / 219 ms at 300 / 10 GB/s.
 * - KVR-S improves on KVR-E (267 -> 208 ms, Llama at 300 GB/s) by giving earlier ranks, whose
 *   causal attention is cheaper, more tokens; KVR-P (dashed) lies on KVR-S: the cost model's
 *   balanced partition is already near-optimal.
 * - In `ttft-vs-gpus` at 10 GB/s, KVR-S on 8 GPUs is no faster than on 4 (624 vs 624 ms at
 *   16k): the hand-off of the KV-cache along the chain, not compute, bounds it (see the
 *   partitions notebook: the search leaves the first GPUs almost idle).
 *
 * Run: `node dist/notebooks/ttft-vs-context.js [outDir]` (after `npx tsc -p .`).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { StrategyName } from '../sim/plan/plan.js';
import { simulate } from '../sim/simulate.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import {
  CONTEXT_AXIS_LABEL,
  PAPER,
  STRATEGY_COLOR,
  STRATEGY_DASH,
  STRATEGY_LABEL,
  contextLabel,
  gpu as gpuPreset,
  linkLabel,
  model as modelPreset,
  profileNote,
  range,
  round,
  scenario,
  type GridOptions,
} from './lib/setting.js';

export const NAME = 'ttft-vs-context';
export const STRATEGIES: StrategyName[] = ['tsp', 'kvr-e', 'kvr-s', 'kvr-p'];

/** One simulated TTFT per model x GPU count x link x context x strategy. */
export function ttftRows(options: GridOptions = {}): Row[] {
  const models = options.models ?? PAPER.models.map(modelPreset);
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpuCounts = options.gpus ?? [8];
  const bandwidths = options.bandwidths ?? [...PAPER.bandwidths];
  const contexts = options.contexts ?? range(1024, 16384, 1024);
  const rows: Row[] = [];
  for (const model of models) {
    for (const gpus of gpuCounts) {
      for (const bandwidth of bandwidths) {
        for (const context of contexts) {
          for (const strategy of STRATEGIES) {
            const { result } = simulate(scenario({ model, gpu, gpus, context, strategy, bandwidth }));
            rows.push({
              model: model.name,
              gpus,
              panel: `${model.name} · ${gpus} GPUs`,
              link: linkLabel(bandwidth),
              bandwidth_Bps: bandwidth,
              context,
              strategy: STRATEGY_LABEL[strategy]!,
              ttft_ms: round(result.ttft_s * 1e3, 6),
              partition: result.partition.join(' '),
              fits: result.fits,
            });
          }
        }
      }
    }
  }
  return rows;
}

/** Vega-Lite: TTFT vs context, one line per strategy, a panel per (model, GPUs) x link. */
export function ttftSpec(rows: Row[], title: string, subtitle: string[]): TopLevelSpec {
  const panels = [...new Set(rows.map((r) => r.panel as string))];
  const links = [...new Set(rows.map((r) => r.link as string))];
  return {
    title: { text: title, subtitle },
    facet: {
      row: { field: 'panel', type: 'nominal', sort: panels, title: null, header: { labelFontWeight: 'bold' } },
      column: { field: 'link', type: 'nominal', sort: links, title: 'link bandwidth per GPU (each direction)' },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 330,
      height: 190,
      mark: { type: 'line', point: { size: 22 }, strokeWidth: 2 },
      encoding: {
        x: {
          field: 'context',
          type: 'quantitative',
          title: 'context (tokens; k = 1024)',
          scale: { domainMin: 0 },
          axis: { labelExpr: CONTEXT_AXIS_LABEL, values: [0, 4096, 8192, 12288, 16384], grid: true },
        },
        y: { field: 'ttft_ms', type: 'quantitative', title: 'TTFT (ms)', scale: { zero: true } },
        color: { field: 'strategy', type: 'nominal', title: 'strategy', scale: STRATEGY_COLOR, legend: { symbolType: 'stroke' } },
        strokeDash: { field: 'strategy', type: 'nominal', title: 'strategy', scale: STRATEGY_DASH },
        order: { field: 'context', type: 'quantitative' },
      },
    },
    config: { legend: { orient: 'top', direction: 'horizontal', titleOrient: 'left', symbolStrokeWidth: 2.5, symbolSize: 300 } },
  } as TopLevelSpec;
}

function ttftAt(rows: Row[], match: Partial<Row>): number | undefined {
  const row = rows.find((r) => Object.entries(match).every(([k, v]) => r[k] === v));
  return row?.ttft_ms as number | undefined;
}

/** Key numbers at the largest context of each panel and link. */
function findings(rows: Row[]): string[] {
  const lines: string[] = [];
  const maxContext = Math.max(...rows.map((r) => r.context as number));
  for (const panel of new Set(rows.map((r) => r.panel as string))) {
    const parts: string[] = [];
    for (const link of new Set(rows.map((r) => r.link as string))) {
      const at = (strategy: string) => ttftAt(rows, { panel, link, context: maxContext, strategy });
      const tsp = at('TSP');
      const kvrs = at('KVR-S');
      const kvre = at('KVR-E');
      const kvrp = at('KVR-P');
      if (tsp === undefined || kvrs === undefined || kvre === undefined || kvrp === undefined) continue;
      parts.push(
        `${link}: TSP ${tsp.toFixed(0)} ms, KVR-E ${kvre.toFixed(0)}, KVR-S ${kvrs.toFixed(0)} (${(tsp / kvrs).toFixed(2)}x), KVR-P ${kvrp.toFixed(0)}`,
      );
    }
    lines.push(`${panel} at ${contextLabel(maxContext)}: ${parts.join('; ')}`);
  }
  return lines;
}

function makeFigure(name: string, rows: Row[], title: string, gpuName: string, caption: string): Figure {
  const note = profileNote(gpuPreset(gpuName));
  return {
    name,
    spec: ttftSpec(rows, title, [`${note}; switch topology, 2 us per transfer; KVR-P dashed (it lies on KVR-S)`]),
    data: rows,
    caption,
    findings: findings(rows),
  };
}

/**
 * `ttft-vs-context`: TTFT vs context for TSP, KVR-E, KVR-S, KVR-P; rows model (x GPU count),
 * columns link. Options: models (llama2-7b, falcon-7b), gpu (a100-80g), gpus ([8]), bandwidths
 * (300 and 10 GB/s), contexts (1k..16k in 1k steps).
 */
export function figure(options: GridOptions = {}): Figure {
  const rows = ttftRows(options);
  const gpuName = options.gpu?.name ?? PAPER.gpu;
  const counts = [...new Set(rows.map((r) => r.gpus))].join('/');
  return makeFigure(
    NAME,
    rows,
    `Prefill time to first token vs context length, ${counts} x ${gpuName}`,
    options.gpu?.name ?? PAPER.gpu,
    `Simulated TTFT of TSP and KV-Runahead (KVR-E even, KVR-S searched, KVR-P predicted chunks) vs context, on ${counts} x ${gpuName} behind one switch, per model and link bandwidth.`,
  );
}

/**
 * `ttft-vs-gpus`: the same for one model (the first of `models`, default llama2-7b) on 2, 4 and 8
 * GPUs (rows), columns link.
 */
export function figureByGpus(options: GridOptions = {}): Figure {
  const models = (options.models ?? PAPER.models.map(modelPreset)).slice(0, 1);
  const rows = ttftRows({ ...options, models, gpus: options.gpus ?? [...PAPER.gpus] });
  return byGpusFromRows(rows, options.gpu?.name ?? PAPER.gpu);
}

function byGpusFromRows(rows: Row[], gpuName: string): Figure {
  const modelName = rows[0]?.model ?? '';
  return makeFigure(
    'ttft-vs-gpus',
    rows,
    `Prefill time to first token vs context length, ${modelName} on 2, 4 and 8 x ${gpuName}`,
    gpuName,
    `Simulated TTFT of TSP and KV-Runahead vs context for ${modelName} on 2, 4 and 8 GPUs (rows) and two link bandwidths (columns).`,
  );
}

export const notebook: Notebook = {
  name: NAME,
  title: 'TTFT vs context length: TSP, KVR-E, KVR-S, KVR-P; models x links, and 2/4/8 GPUs',
  async run(outDir = defaultOutDir(NAME), log) {
    // One grid of simulations serves both figures.
    const models = PAPER.models.map(modelPreset);
    const all = ttftRows({ models, gpus: [...PAPER.gpus] });
    const eight = all.filter((r) => r.gpus === 8);
    const main = makeFigure(
      NAME,
      eight,
      `Prefill time to first token vs context length, 8 x ${PAPER.gpu}`,
      PAPER.gpu,
      `Simulated TTFT of TSP and KV-Runahead (KVR-E even, KVR-S searched, KVR-P predicted chunks) vs context, on 8 x ${PAPER.gpu} behind one switch, per model and link bandwidth.`,
    );
    const byGpus = byGpusFromRows(all.filter((r) => r.model === models[0]!.name), PAPER.gpu);
    return writeFigures(outDir, [main, byGpus], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
