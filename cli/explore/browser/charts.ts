/**
 * The explorer's charts, drawn with d3 as SVG: the per-rank timeline, the compare bars and the
 * sweep lines. Every chart has a legend and units on its axes.
 */
import { axisBottom, axisLeft, line, scaleBand, scaleLinear, scaleLog, select, type Selection } from 'd3';
import { TIMELINE_RANKS, type TimelineSlice } from '../timeline-slices.js';

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;

const SVG_NS = 'http://www.w3.org/2000/svg';
/** tableau10, as the report's static figures use it. */
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const WAIT_COLOUR = '#d9d9d9';

function newSvg(width: number, height: number, label: string): Svg {
  const svg = select(document.createElementNS(SVG_NS, 'svg') as SVGSVGElement)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('width', width)
    .attr('height', height)
    .attr('role', 'img')
    .attr('aria-label', label)
    .style('font', '11px "DejaVu Sans", sans-serif');
  return svg;
}

/** A row of coloured swatches with names, at (x, y), wrapping at maxWidth. */
function legend(svg: Svg, entries: { name: string; colour: string; hollow?: boolean }[], x: number, y: number, maxWidth: number): number {
  const group = svg.append('g').attr('class', 'legend').attr('transform', `translate(${x},${y})`);
  let cx = 0;
  let cy = 0;
  for (const entry of entries) {
    const width = 18 + entry.name.length * 6.5 + 14;
    if (cx > 0 && cx + width > maxWidth) {
      cx = 0;
      cy += 16;
    }
    group
      .append('rect')
      .attr('x', cx)
      .attr('y', cy)
      .attr('width', 12)
      .attr('height', 10)
      .attr('fill', entry.hollow ? 'white' : entry.colour)
      .attr('stroke', entry.colour);
    group.append('text').attr('x', cx + 16).attr('y', cy + 9).text(entry.name);
    cx += width;
  }
  return cy + 16;
}

/** Track names of the trace (sim/trace/perfetto.ts TRACK). */
const TRACKS = ['compute', 'send', 'recv'];

/**
 * The per-rank timeline: for each GPU a compute lane (ops by name, idle gaps as "wait") and a
 * lane each for sending and receiving; a dashed line at TTFT. Ranks beyond maxRanks are left out
 * (said in the title) so a 64-GPU plan stays drawable.
 */
export function timelineChart(slices: TimelineSlice[], gpus: number, ttftS: number, maxRanks = TIMELINE_RANKS): SVGSVGElement {
  const ranks = Math.min(gpus, maxRanks);
  const shown = slices.filter((s) => s[0] < ranks);
  // "compute: attn", "send", "recv: allgather": the track, and the op where it says more.
  const key = (s: TimelineSlice) => (s[2] === TRACKS[s[1]] ? s[2] : `${TRACKS[s[1]]}: ${s[2]}`);
  const names = [...new Set(shown.filter((s) => s[2] !== 'wait').map(key))];
  const colour = new Map(names.map((name, i) => [name, PALETTE[i % PALETTE.length]!]));
  const width = 960;
  const margin = { left: 64, right: 16, top: 24, bottom: 40 };
  const laneHeight = 9;
  const rankHeight = laneHeight * 3 + 6;
  const plotHeight = ranks * rankHeight;
  const legendEntries = [...names.map((name) => ({ name, colour: colour.get(name)! })), { name: 'compute: wait (idle)', colour: WAIT_COLOUR }, { name: 'TTFT', colour: '#000' }];
  const legendRows = Math.ceil(legendEntries.length / 5) + 1;
  const height = margin.top + plotHeight + margin.bottom + legendRows * 16;
  const svg = newSvg(width, height, 'per-rank timeline');
  svg.attr('data-chart', 'timeline');
  const endUs = Math.max(ttftS * 1e6, ...shown.map((s) => s[3] + s[4]), 1e-3);
  const x = scaleLinear().domain([0, endUs / 1000]).range([margin.left, width - margin.right]);
  svg
    .append('text')
    .attr('x', margin.left)
    .attr('y', 14)
    .attr('font-weight', 'bold')
    .text(`Per-rank timeline${gpus > ranks ? ` (first ${ranks} of ${gpus} ranks)` : ''}: compute, waits and transfers`);
  const plot = svg.append('g');
  for (let r = 0; r < ranks; r++) {
    const y0 = margin.top + r * rankHeight;
    svg.append('text').attr('x', margin.left - 6).attr('y', y0 + laneHeight * 1.5 + 4).attr('text-anchor', 'end').text(`GPU ${r}`);
  }
  plot
    .selectAll('rect')
    .data(shown)
    .join('rect')
    .attr('x', (s) => x(s[3] / 1000))
    .attr('width', (s) => Math.max(0.5, x((s[3] + s[4]) / 1000) - x(s[3] / 1000)))
    .attr('y', (s) => margin.top + s[0] * rankHeight + s[1] * laneHeight)
    .attr('height', laneHeight - 1)
    .attr('fill', (s) => (s[2] === 'wait' ? WAIT_COLOUR : colour.get(key(s))!))
    .append('title')
    .text((s) => `GPU ${s[0]} ${TRACKS[s[1]]}: ${s[2]}${s[5] > 1 ? ` x ${s[5]}` : ''} from ${(s[3] / 1000).toFixed(3)} ms for ${(s[4] / 1000).toFixed(3)} ms`);
  svg
    .append('line')
    .attr('x1', x(ttftS * 1000))
    .attr('x2', x(ttftS * 1000))
    .attr('y1', margin.top - 4)
    .attr('y2', margin.top + plotHeight)
    .attr('stroke', '#000')
    .attr('stroke-dasharray', '4 3');
  svg
    .append('g')
    .attr('transform', `translate(0,${margin.top + plotHeight})`)
    .call(axisBottom(x).ticks(10));
  svg
    .append('text')
    .attr('x', (margin.left + width - margin.right) / 2)
    .attr('y', margin.top + plotHeight + 32)
    .attr('text-anchor', 'middle')
    .text('time since the prompt arrived (ms)');
  legend(svg, legendEntries, margin.left, margin.top + plotHeight + 44, width - margin.left - margin.right);
  return svg.node()!;
}

/** Horizontal bars of TTFT per strategy; a strategy that does not fit in memory is hollow. */
export function compareChart(rows: { strategy: string; ttft_s: number; fits: boolean }[]): SVGSVGElement {
  const width = 720;
  const margin = { left: 90, right: 24, top: 12, bottom: 64 };
  const height = margin.top + rows.length * 22 + margin.bottom;
  const svg = newSvg(width, height, 'TTFT per strategy');
  svg.attr('data-chart', 'compare');
  const x = scaleLinear()
    .domain([0, Math.max(...rows.map((r) => r.ttft_s * 1000), 1e-6)])
    .nice()
    .range([margin.left, width - margin.right]);
  const y = scaleBand()
    .domain(rows.map((r) => r.strategy))
    .range([margin.top, margin.top + rows.length * 22])
    .padding(0.2);
  svg
    .append('g')
    .selectAll('rect')
    .data(rows)
    .join('rect')
    .attr('x', margin.left)
    .attr('y', (r) => y(r.strategy)!)
    .attr('width', (r) => x(r.ttft_s * 1000) - margin.left)
    .attr('height', y.bandwidth())
    .attr('fill', (r) => (r.fits ? PALETTE[0]! : 'white'))
    .attr('stroke', PALETTE[0]!)
    .append('title')
    .text((r) => `${r.strategy}: ${(r.ttft_s * 1000).toFixed(3)} ms${r.fits ? '' : ' (does not fit)'}`);
  svg.append('g').attr('transform', `translate(${margin.left},0)`).call(axisLeft(y));
  svg
    .append('g')
    .attr('transform', `translate(0,${margin.top + rows.length * 22})`)
    .call(axisBottom(x).ticks(8));
  svg
    .append('text')
    .attr('x', (margin.left + width - margin.right) / 2)
    .attr('y', margin.top + rows.length * 22 + 30)
    .attr('text-anchor', 'middle')
    .text('TTFT (ms)');
  legend(svg, [{ name: 'fits in memory', colour: PALETTE[0]! }, { name: 'does not fit', colour: PALETTE[0]!, hollow: true }], margin.left, margin.top + rows.length * 22 + 42, width - margin.left);
  return svg.node()!;
}

export interface Series {
  name: string;
  points: { x: number; y: number | null; fits: boolean }[];
}

/** TTFT over one axis, a line per strategy; hollow markers where a plan does not fit in memory. */
export function sweepChart(series: Series[], xLabel: string, xScale: (v: number) => number, logX: boolean): SVGSVGElement {
  const width = 720;
  const height = 400;
  const margin = { left: 70, right: 24, top: 16, bottom: 84 };
  const svg = newSvg(width, height, 'TTFT sweep');
  svg.attr('data-chart', 'sweep');
  const xs = series.flatMap((s) => s.points.map((p) => xScale(p.x)));
  const ys = series.flatMap((s) => s.points.flatMap((p) => (p.y === null ? [] : [p.y * 1000])));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const x = (logX && xMin > 0 ? scaleLog().domain([xMin, xMax === xMin ? xMin * 2 : xMax]) : scaleLinear().domain([Math.min(0, xMin), xMax === xMin ? xMin + 1 : xMax])).range([margin.left, width - margin.right]);
  const y = scaleLinear()
    .domain([0, Math.max(...ys, 1e-6)])
    .nice()
    .range([height - margin.bottom, margin.top]);
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    const defined = s.points.filter((p) => p.y !== null) as { x: number; y: number; fits: boolean }[];
    const path = line<{ x: number; y: number }>()
      .x((p) => x(xScale(p.x)))
      .y((p) => y(p.y * 1000));
    svg.append('path').attr('d', path(defined) ?? '').attr('fill', 'none').attr('stroke', colour).attr('stroke-width', 2).attr('data-series', s.name);
    svg
      .append('g')
      .selectAll('circle')
      .data(defined)
      .join('circle')
      .attr('cx', (p) => x(xScale(p.x)))
      .attr('cy', (p) => y(p.y * 1000))
      .attr('r', 3.5)
      .attr('fill', (p) => (p.fits ? colour : 'white'))
      .attr('stroke', colour)
      .append('title')
      .text((p) => `${s.name}: ${(p.y * 1000).toFixed(3)} ms${p.fits ? '' : ' (does not fit)'}`);
  });
  // A log axis (tokens, GPUs) is ticked at the swept values themselves: SI ticks would print 8k for
  // 8000 where a context of 8k is 8192 tokens.
  const xAxis = logX ? axisBottom(x).tickValues([...new Set(xs)]).tickFormat((v) => String(v)) : axisBottom(x).ticks(8);
  svg.append('g').attr('transform', `translate(0,${height - margin.bottom})`).call(xAxis);
  svg.append('g').attr('transform', `translate(${margin.left},0)`).call(axisLeft(y).ticks(8));
  svg
    .append('text')
    .attr('x', (margin.left + width - margin.right) / 2)
    .attr('y', height - margin.bottom + 32)
    .attr('text-anchor', 'middle')
    .text(xLabel);
  svg
    .append('text')
    .attr('transform', `translate(16,${(margin.top + height - margin.bottom) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text('TTFT (ms)');
  legend(
    svg,
    [...series.map((s, i) => ({ name: s.name, colour: PALETTE[i % PALETTE.length]! })), { name: 'does not fit', colour: '#555', hollow: true }],
    margin.left,
    height - margin.bottom + 44,
    width - margin.left,
  );
  return svg.node()!;
}
