/**
 * # Robustness to non-uniform links
 *
 * Real clusters are not uniform: one cable trains down, or another job shares a link. Eight A100s
 * in a ring (each neighbour link 300 GB/s per direction; KV-Runahead's chain and TSP's ring
 * all-gather both run over these links), two disturbances:
 * - left: one slow link. The hop between GPU i and GPU i+1 (i = 7: the ring's closing hop
 *   7 -> 0) runs at 10 GB/s, the other seven at 300 GB/s (`withLinkBandwidth`);
 * - right: background traffic. A competing flow takes up to the given rate on the middle hop
 *   GPU 3 -> GPU 4 for the whole prefill and shares the link max-min fairly with the prefill's
 *   transfers (`withBackgroundFlow`); "fair" is a flow without a cap.
 * y is TTFT relative to the same strategy on the uniform ring (1 = no loss). Three lines: TSP;
 * KVR-S searched again for the disturbed network; and KVR-S keeping the partition it found on
 * the uniform ring (what a deployment that does not re-search would see).
 *
 * What to look for (numbers when this was written; the notebook prints the worst cases):
 * - One slow hop: TSP's all-gather is a ring, so it slows every layer whichever hop it is
 *   (5.3x at 4k, 4.1x at 16k). KV-Runahead only sends forward, so a slow hop costs it in
 *   proportion to the KV-cache that crosses it: re-searched KVR-S loses 3% on hop 0-1, up to 3.5x
 *   on hop 6-7 (the whole prefix crosses it), nothing on the closing hop 7-0 it never uses.
 *   Keeping the uniform-ring partition is much worse (up to 5.5x, above TSP on the last hops):
 *   re-searching the partition for the network matters.
 * - Competing flow: TSP loses up to 15% (4k) / 11% (16k), saturating at a 150 GB/s cap, where
 *   max-min fairness gives the flow half of the 300 GB/s hop; KV-Runahead's one hand-off per layer
 *   over that hop needs little bandwidth and loses under 0.5%.
 *
 * Run: `node dist/notebooks/robustness.js [outDir]`.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { StrategyName } from '../sim/plan/plan.js';
import { simulate, type Scenario } from '../sim/simulate.js';
import { presetTopology } from '../sim/topology/presets.js';
import type { Topology } from '../sim/topology/topology.js';
import { linkBetween, withBackgroundFlow, withLinkBandwidth } from '../sim/topology/variations.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import {
  LINK_DEFAULTS,
  PAPER,
  contextLabel,
  gpu as gpuPreset,
  linkLabel,
  model as modelPreset,
  profileNote,
  round,
  type GridOptions,
} from './lib/setting.js';

export const NAME = 'robustness';

export interface RobustnessOptions extends GridOptions {
  /** Bandwidth of the slow hop (default 10 GB/s). */
  slowBandwidth?: number;
  /** Caps of the background flow in bytes/s; null = uncapped (fair share). */
  backgroundRates?: (number | null)[];
}

const LINES = ['TSP', 'KVR-S (searched again)', 'KVR-S (uniform-ring partition)'];
const LINE_COLOR = { domain: LINES, range: ['#4e79a7', '#e15759', '#f28e2b'] };
const LINE_DASH = { domain: LINES, range: [[1, 0], [1, 0], [5, 3]] };

/**
 * Options: the first of models (llama2-7b), gpu (a100-80g), the first of gpus (8), the first of
 * bandwidths (300 GB/s, every ring link), contexts (4k, 16k), slowBandwidth (10 GB/s),
 * backgroundRates (0, 50, 100, 150, 250 GB/s and uncapped).
 */
export function figure(options: RobustnessOptions = {}): Figure {
  const model = (options.models ?? [modelPreset(PAPER.models[0])])[0]!;
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpus = options.gpus?.[0] ?? 8;
  const bandwidth = options.bandwidths?.[0] ?? 300e9;
  const contexts = options.contexts ?? [4096, 16384];
  const slow = options.slowBandwidth ?? 10e9;
  const rates = options.backgroundRates ?? [0, 50e9, 100e9, 150e9, 250e9, null];
  const ring = presetTopology('ring', { gpus, bandwidth, ...LINK_DEFAULTS });
  const base = (topology: Topology, context: number, strategy: StrategyName): Scenario => ({ model, gpu, topology, gpus, context, strategy });
  const rows: Row[] = [];
  for (const context of contexts) {
    const uniform = {
      tsp: simulate(base(ring, context, 'tsp')).result,
      kvrs: simulate(base(ring, context, 'kvr-s')).result,
    };
    const measure = (panel: string, disturbance: string, order: number, topology: Topology): void => {
      const tsp = simulate(base(topology, context, 'tsp')).result;
      const kvrs = simulate(base(topology, context, 'kvr-s')).result;
      const fixed = simulate({ ...base(topology, context, 'kvr'), partition: uniform.kvrs.partition }).result;
      const lines: [string, number, number, number[]][] = [
        [LINES[0]!, tsp.ttft_s, uniform.tsp.ttft_s, tsp.partition],
        [LINES[1]!, kvrs.ttft_s, uniform.kvrs.ttft_s, kvrs.partition],
        [LINES[2]!, fixed.ttft_s, uniform.kvrs.ttft_s, fixed.partition],
      ];
      for (const [line, ttft, reference, partition] of lines) {
        rows.push({
          panel,
          disturbance,
          order,
          context,
          context_label: `${contextLabel(context)} tokens`,
          strategy: line,
          ttft_ms: round(ttft * 1e3, 6),
          uniform_ttft_ms: round(reference * 1e3, 6),
          relative_ttft: round(ttft / reference, 6),
          partition: partition.join(' '),
        });
      }
    };
    for (let hop = 0; hop < gpus; hop++) {
      const next = (hop + 1) % gpus;
      if (gpus === 2 && hop === 1) break; // a 2-GPU ring has one link
      const link = linkBetween(ring, `gpu${hop}`, `gpu${next}`);
      measure('slow', `${hop}-${next}`, hop, withLinkBandwidth(ring, link, slow));
    }
    const middle = Math.floor(gpus / 2);
    rates.forEach((rate, i) => {
      const label = rate === null ? 'fair' : String(round(rate / 1e9, 4));
      const topology = rate === 0 ? ring : withBackgroundFlow(ring, [`gpu${middle - 1}`, `gpu${middle}`], rate);
      measure('background', label, i, topology);
    });
  }
  const contextLabels = contexts.map((c) => `${contextLabel(c)} tokens`);
  const middle = Math.floor(gpus / 2);
  const lineSpec = (panel: string, title: string, xTitle: string) => ({
    transform: [{ filter: `datum.panel == '${panel}'` }],
    facet: { row: { field: 'context_label', type: 'nominal', sort: contextLabels, title: null, header: { labelFontWeight: 'bold' } } },
    title: { text: title, fontSize: 13, anchor: 'start' },
    spec: {
      width: 300,
      height: 170,
      layer: [
        { mark: { type: 'rule', color: '#888', strokeDash: [2, 2] }, encoding: { y: { datum: 1, type: 'quantitative' } } },
        {
          mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
          encoding: {
            x: { field: 'disturbance', type: 'ordinal', sort: { field: 'order' }, title: xTitle, axis: { labelAngle: 0 } },
            y: { field: 'relative_ttft', type: 'quantitative', title: 'TTFT / TTFT on the uniform ring', scale: { zero: false } },
            color: { field: 'strategy', type: 'nominal', title: null, scale: LINE_COLOR, legend: { symbolType: 'stroke' } },
            strokeDash: { field: 'strategy', type: 'nominal', title: null, scale: LINE_DASH },
          },
        },
      ],
    },
  });
  const spec = {
    title: {
      text: `Robustness to non-uniform links: ${model.name}, ${gpus} x ${gpu.name} in a ring of ${linkLabel(bandwidth)} links`,
      subtitle: [`${profileNote(gpu)}; TTFT relative to the same strategy on the uniform ring (dotted line = no loss)`],
    },
    hconcat: [
      lineSpec('slow', `One slow hop at ${linkLabel(slow)}`, 'slow hop (GPU i - GPU i+1)'),
      lineSpec('background', `Competing flow on hop ${middle - 1} -> ${middle}`, 'background flow cap (GB/s; fair = uncapped)'),
    ],
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
    config: { legend: { orient: 'top', direction: 'horizontal', symbolStrokeWidth: 2.5, symbolSize: 300 } },
  } as unknown as TopLevelSpec;
  return {
    name: NAME,
    spec,
    data: rows,
    caption: `TTFT of TSP and KVR-S relative to a uniform ring of ${gpus} ${gpu.name}s (${linkLabel(bandwidth)} links) when one hop runs at ${linkLabel(slow)}, and when a competing flow shares the middle hop; ${model.name}, simulated.`,
    findings: findings(rows),
  };
}

function findings(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const context of new Set(rows.map((r) => r.context as number))) {
    for (const panel of ['slow', 'background']) {
      const parts = LINES.map((line) => {
        const cells = rows.filter((r) => r.context === context && r.panel === panel && r.strategy === line);
        const worst = cells.reduce((a, b) => ((b.relative_ttft as number) > (a.relative_ttft as number) ? b : a));
        return `${line} worst ${(worst.relative_ttft as number).toFixed(2)}x (${worst.disturbance})`;
      });
      lines.push(`${contextLabel(context)}, ${panel === 'slow' ? 'one slow hop' : 'background flow'}: ${parts.join('; ')}`);
    }
  }
  return lines;
}

export const notebook: Notebook = {
  name: NAME,
  title: 'Robustness: one slow link and background traffic, TSP vs KVR-S',
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
