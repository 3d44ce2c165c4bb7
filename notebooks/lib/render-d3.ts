/**
 * d3 drawing without a browser: d3 works on a server-side DOM (linkedom) and the SVG element's
 * markup is the figure. For charts Vega-Lite cannot express well (the per-rank Gantt of the
 * timeline notebook). Deterministic: no clock, no randomness, ids are the caller's.
 */
import * as d3 from 'd3';
import { parseHTML } from 'linkedom';
import { FONT_FAMILY } from './fonts.js';

export type SvgSelection = d3.Selection<d3.BaseType, unknown, null, undefined>;

/**
 * Creates an empty `width` x `height` SVG with a white background and DejaVu Sans as its font,
 * lets `draw` fill it with d3, and returns the SVG markup.
 */
export function renderD3(width: number, height: number, draw: (svg: SvgSelection) => void): string {
  const { document } = parseHTML('<!doctype html><html><head></head><body></body></html>');
  const root = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  document.body.appendChild(root);
  const svg: SvgSelection = d3
    .select(root as unknown as d3.BaseType)
    .attr('xmlns', 'http://www.w3.org/2000/svg')
    .attr('version', '1.1')
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('font-family', FONT_FAMILY)
    .attr('font-size', 11);
  svg.append('rect').attr('width', width).attr('height', height).attr('fill', 'white');
  draw(svg);
  return root.outerHTML;
}

/** Rounds a coordinate for the SVG text (keeps files small; 0.01 px is below any renderer's grain). */
export function px(value: number): number {
  return Math.round(value * 100) / 100;
}
