/**
 * # Where the time goes: per-rank timelines of TSP and KVR-S
 *
 * One case, Llama 2 7B prefilling 8k tokens on 4 A100s whose links run at 10 GB/s (the paper's
 * slow fabric), simulated with TSP and with KVR-S. The op times come straight from
 * `simulate()`'s run (`run.start` / `run.end` per op id; `plan.ops` for names and ranks), drawn
 * with d3 on one shared time axis:
 * - each GPU has a compute lane (bars: qkv, attn, o, mlp, lm_head; gaps: the GPU waits for K,V)
 *   and a thin send lane under it (dark bars: K,V leaving that GPU; TSP's all-gather ring steps,
 *   KVR's hand-off to the next rank);
 * - the red rule is the TTFT (the last op, lm_head on the last rank).
 *
 * What to look for (numbers when this was written; the notebook prints the current ones):
 * under TSP every layer waits for an all-gather of all ranks' K,V, and at 10 GB/s every GPU sits
 * idle in each layer until it arrives: regular gaps on all compute lanes (the GPUs wait 61% of
 * the time; TTFT 524 ms). Under KVR-S each GPU starts a layer as soon as the previous GPU's K,V
 * of that layer has arrived, and the hand-offs overlap the next layers' compute, so the lanes
 * are dense (3% waiting) and the TTFT is 286 ms. The searched chunks (320, 1472, 3456, 2944) are
 * very uneven: the first GPUs finish early and pass on a short cache, the last two do the work.
 *
 * Run: `node dist/notebooks/timeline.js [outDir]`.
 */
import * as d3 from 'd3';
import type { TopLevelSpec } from 'vega-lite';
import type { StrategyName } from '../sim/plan/plan.js';
import { expandCollectives } from '../sim/plan/expand.js';
import { simulate, type Simulation } from '../sim/simulate.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import { textWidth } from './lib/fonts.js';
import { px, renderD3, type SvgSelection } from './lib/render-d3.js';
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

export const NAME = 'timeline';
export const TIMELINE_STRATEGIES: StrategyName[] = ['tsp', 'kvr-s'];

/** Colours of the compute ops (Tableau 10) and of transfers. */
export const OP_COLOR: Record<string, string> = {
  qkv: '#4e79a7',
  attn: '#f28e2b',
  o: '#59a14f',
  mlp: '#76b7b2',
  lm_head: '#b07aa1',
  transfer: '#444444',
};

/** Options: the first of models (llama2-7b), gpus (4), bandwidths (10 GB/s) and contexts (8k); gpu (a100-80g). */
export interface TimelineOptions extends GridOptions {}

export interface TimelineCase {
  strategy: StrategyName;
  simulation: Simulation;
}

export function timelineCases(options: TimelineOptions = {}): { cases: TimelineCase[]; title: string; note: string } {
  const model = (options.models ?? [modelPreset(PAPER.models[0])])[0]!;
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpus = options.gpus?.[0] ?? 4;
  const bandwidth = options.bandwidths?.[0] ?? 10e9;
  const context = options.contexts?.[0] ?? 8192;
  const cases = TIMELINE_STRATEGIES.map((strategy) => ({
    strategy,
    simulation: simulate(scenario({ model, gpu, gpus, context, strategy, bandwidth })),
  }));
  return {
    cases,
    title: `Per-GPU timeline of one prefill: ${model.name}, ${contextLabel(context)} tokens on ${gpus} x ${gpu.name}, links ${linkLabel(bandwidth)}`,
    note: profileNote(gpu),
  };
}

/** One row per op of each simulation, times in ms. */
export function timelineRows(cases: TimelineCase[]): Row[] {
  const rows: Row[] = [];
  for (const { strategy, simulation } of cases) {
    const { plan, run } = simulation;
    for (const op of expandCollectives(plan).ops) {
      if (op.kind === 'collective') continue;
      const start = run.start[op.id]!;
      const end = run.end[op.id]!;
      const common = {
        strategy: STRATEGY_LABEL[strategy]!,
        op_id: op.id,
        start_ms: round(start * 1e3, 9),
        end_ms: round(end * 1e3, 9),
      };
      if (op.kind === 'compute') {
        rows.push({ ...common, kind: 'compute', name: op.name, rank: op.rank, lane: `GPU ${op.rank}`, layer: op.layer, dst: null, bytes: null });
      } else {
        rows.push({ ...common, kind: 'transfer', name: op.name, rank: op.src, lane: `GPU ${op.src} send`, layer: op.layer, dst: op.dst, bytes: op.bytes });
      }
    }
  }
  return rows;
}

const LAYOUT = {
  width: 1100,
  left: 118,
  right: 24,
  top: 92,
  computeLane: 16,
  sendLane: 5,
  laneGap: 9,
  panelTitle: 26,
  panelGap: 18,
  axis: 46,
};

/** Draws the Gantt chart: one panel per strategy, a compute and a send lane per GPU, shared time axis. */
export function drawTimeline(cases: TimelineCase[], title: string, subtitle: string): string {
  const L = LAYOUT;
  const gpus = Math.max(...cases.map((c) => c.simulation.plan.gpus));
  const rankHeight = L.computeLane + 2 + L.sendLane + L.laneGap;
  const panelHeight = L.panelTitle + gpus * rankHeight;
  const height = L.top + cases.length * panelHeight + (cases.length - 1) * L.panelGap + L.axis;
  const maxEnd = Math.max(...cases.map((c) => c.simulation.run.makespan));
  const x = d3
    .scaleLinear()
    .domain([0, maxEnd * 1e3])
    .range([L.left, L.width - L.right])
    .nice();
  return renderD3(L.width, height, (svg) => {
    header(svg, title, subtitle);
    legend(svg);
    const plotBottom = height - L.axis;
    // Grid lines under everything.
    const ticks = x.ticks(10);
    svg
      .append('g')
      .attr('class', 'grid')
      .selectAll('line')
      .data(ticks)
      .join('line')
      .attr('x1', (t) => px(x(t)))
      .attr('x2', (t) => px(x(t)))
      .attr('y1', L.top - 4)
      .attr('y2', plotBottom)
      .attr('stroke', '#e4e4e4');
    cases.forEach((c, index) => {
      const top = L.top + index * (panelHeight + L.panelGap);
      panel(svg, c, x, top, rankHeight);
    });
    const axis = svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(0,${plotBottom + 4})`)
      .call(d3.axisBottom(x).ticks(10));
    axis.attr('font-family', null).attr('font-size', 11);
    svg
      .append('text')
      .attr('x', px((L.left + L.width - L.right) / 2))
      .attr('y', height - 8)
      .attr('text-anchor', 'middle')
      .attr('font-size', 12)
      .text('time since the prefill started (ms)');
  });
}

function header(svg: SvgSelection, title: string, subtitle: string): void {
  svg.append('text').attr('x', 10).attr('y', 24).attr('font-size', 15).attr('font-weight', 'bold').text(title);
  svg.append('text').attr('x', 10).attr('y', 43).attr('font-size', 12).attr('fill', '#555').text(subtitle);
}

function legend(svg: SvgSelection): void {
  const items: [string, string, number][] = [
    ['qkv', OP_COLOR.qkv!, 12],
    ['attn', OP_COLOR.attn!, 12],
    ['o', OP_COLOR.o!, 12],
    ['mlp', OP_COLOR.mlp!, 12],
    ['lm_head', OP_COLOR.lm_head!, 12],
    ['K,V transfer (send lane)', OP_COLOR.transfer!, 5],
    ['grey gap in a compute lane = idle, waiting for K,V (white: done)', '#f0f0f0', 12],
  ];
  const g = svg.append('g').attr('class', 'legend').attr('transform', 'translate(10,60)');
  g.append('text').attr('x', 0).attr('y', 10).attr('font-weight', 'bold').attr('font-size', 12).text('op');
  let cursor = 30;
  for (const [label, color, size] of items) {
    g.append('rect')
      .attr('x', cursor)
      .attr('y', 6 - size / 2 + 0.5)
      .attr('width', 16)
      .attr('height', size)
      .attr('fill', color)
      .attr('stroke', color === '#f0f0f0' ? '#ccc' : 'none');
    g.append('text')
      .attr('x', cursor + 21)
      .attr('y', 10)
      .text(label);
    cursor += 21 + textWidth(label, 11) + 18;
  }
}

function panel(svg: SvgSelection, c: TimelineCase, x: d3.ScaleLinear<number, number>, top: number, rankHeight: number): void {
  const L = LAYOUT;
  const { plan, run, result } = c.simulation;
  const label = STRATEGY_LABEL[c.strategy]!;
  const ttftMs = result.ttft_s * 1e3;
  const g = svg.append('g').attr('class', `panel ${c.strategy}`);
  g.append('text')
    .attr('x', 10)
    .attr('y', top + 16)
    .attr('font-size', 13)
    .attr('font-weight', 'bold')
    .text(`${label}: TTFT ${ttftMs.toFixed(1)} ms; partition ${plan.partition.join(', ')}`);
  const laneTop = (rank: number) => top + L.panelTitle + rank * rankHeight;
  for (let rank = 0; rank < plan.gpus; rank++) {
    const y = laneTop(rank);
    g.append('rect')
      .attr('class', 'lane')
      .attr('x', L.left)
      .attr('y', y)
      .attr('width', px(x(c.simulation.result.ranks[rank]!.finish_s * 1e3) - L.left))
      .attr('height', L.computeLane)
      .attr('fill', '#f0f0f0');
    g.append('text')
      .attr('x', L.left - 8)
      .attr('y', y + 12)
      .attr('text-anchor', 'end')
      .text(`GPU ${rank}`);
    g.append('text')
      .attr('x', L.left - 8)
      .attr('y', y + L.computeLane + 2 + L.sendLane)
      .attr('text-anchor', 'end')
      .attr('font-size', 9)
      .attr('fill', '#666')
      .text('send');
  }
  const bars = g.append('g').attr('class', 'ops');
  for (const op of expandCollectives(plan).ops) {
    if (op.kind === 'collective') continue;
    const x0 = x(run.start[op.id]! * 1e3);
    const x1 = x(run.end[op.id]! * 1e3);
    if (op.kind === 'compute') {
      bars
        .append('rect')
        .attr('class', `op compute ${op.name}`)
        .attr('x', px(x0))
        .attr('y', laneTop(op.rank))
        .attr('width', px(Math.max(0, x1 - x0)))
        .attr('height', L.computeLane)
        .attr('fill', OP_COLOR[op.name]!);
    } else {
      bars
        .append('rect')
        .attr('class', 'op transfer')
        .attr('x', px(x0))
        .attr('y', laneTop(op.src) + L.computeLane + 2)
        .attr('width', px(Math.max(0.5, x1 - x0)))
        .attr('height', L.sendLane)
        .attr('fill', OP_COLOR.transfer!);
    }
  }
  const xt = px(x(ttftMs));
  g.append('line')
    .attr('class', 'ttft')
    .attr('x1', xt)
    .attr('x2', xt)
    .attr('y1', top + L.panelTitle - 4)
    .attr('y2', laneTop(plan.gpus) - L.laneGap + 2)
    .attr('stroke', '#d62728')
    .attr('stroke-width', 1.5);
  g.append('text')
    .attr('x', xt + 4)
    .attr('y', top + L.panelTitle + 2)
    .attr('fill', '#d62728')
    .attr('font-size', 11)
    .text('TTFT');
}

/** Vega-Lite version of the same chart (for the .vl.json and the HTML report). */
function gantt(title: string, subtitle: string, lanes: string[]): TopLevelSpec {
  return {
    title: { text: title, subtitle: [subtitle] },
    facet: { row: { field: 'strategy', type: 'nominal', sort: TIMELINE_STRATEGIES.map((s) => STRATEGY_LABEL[s]!), title: null } },
    spec: {
      width: 900,
      height: { step: 14 },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'lane', type: 'ordinal', sort: lanes, title: null },
        x: { field: 'start_ms', type: 'quantitative', title: 'time since the prefill started (ms)' },
        x2: { field: 'end_ms' },
        color: {
          field: 'name',
          type: 'nominal',
          title: 'op',
          scale: {
            domain: ['qkv', 'attn', 'o', 'mlp', 'lm_head', 'allgather', 'send'],
            range: [OP_COLOR.qkv, OP_COLOR.attn, OP_COLOR.o, OP_COLOR.mlp, OP_COLOR.lm_head, OP_COLOR.transfer, OP_COLOR.transfer],
          },
        },
      },
    },
  } as unknown as TopLevelSpec;
}

export function figure(options: TimelineOptions = {}): Figure {
  const { cases, title, note } = timelineCases(options);
  const subtitle = `${note}; switch topology; compute and send lanes per GPU, op times from the simulator's event run`;
  const rows = timelineRows(cases);
  const gpus = Math.max(...cases.map((c) => c.simulation.plan.gpus));
  const lanes = Array.from({ length: gpus }, (_, r) => [`GPU ${r}`, `GPU ${r} send`]).flat();
  return {
    name: NAME,
    spec: gantt(title, subtitle, lanes),
    data: rows,
    svg: drawTimeline(cases, title, subtitle),
    caption: `${title}: TSP vs KVR-S on one time axis; compute ops as bars per GPU, waits as gaps, K,V transfers on each GPU's send lane.`,
    findings: findings(cases),
  };
}

function findings(cases: TimelineCase[]): string[] {
  return cases.map(({ strategy, simulation }) => {
    const { result } = simulation;
    const idle = result.ranks.reduce((sum, r) => sum + r.wait_s, 0) / result.ranks.reduce((sum, r) => sum + r.finish_s, 0);
    return `${STRATEGY_LABEL[strategy]}: TTFT ${(result.ttft_s * 1e3).toFixed(1)} ms, partition ${result.partition.join(',')}, GPUs waiting for K,V ${(idle * 100).toFixed(0)}% of the time up to their last op`;
  });
}

export const notebook: Notebook = {
  name: NAME,
  title: 'Per-rank timeline (Gantt) of TSP vs KVR-S for one case, drawn with d3',
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
