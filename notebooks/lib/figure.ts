/**
 * One figure on disk: `<name>.svg` and `<name>.png` (the picture), `<name>.vl.json` (the Vega-Lite
 * spec with its data inline, openable in the Vega editor), `<name>.csv` and `<name>.json` (the
 * data rows). The same figure gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite } from './render-vega.js';
import { svgToPng } from './render-png.js';

/** A flat data row: what one mark stands for. */
export type Row = Record<string, string | number | boolean | null>;

/** What a notebook's `figure(options)` returns: enough to draw, save or embed the figure. */
export interface Figure {
  /** File stem, e.g. "ttft-vs-context". */
  name: string;
  /** Vega-Lite spec; its data is `data` (set by writeFigure) unless the spec has its own. */
  spec: TopLevelSpec;
  data: Row[];
  /** A ready SVG (d3 figures); if absent the spec is rendered. */
  svg?: string;
  /** What the figure shows, one or two sentences. */
  caption: string;
  /** Key numbers in a line or two, computed from the data (printed by the notebook runner). */
  findings: string[];
}

export interface FigureInput {
  spec: TopLevelSpec;
  data: Row[];
  svg?: string;
  caption: string;
}

export interface WrittenFigure {
  name: string;
  paths: { svg: string; png: string; vl: string; csv: string; json: string };
  /** e.g. "ttft-vs-context: 768 rows, 1020x870 SVG -> out/ttft-vs-context.{svg,png,vl.json,csv,json}" */
  summary: string;
}

const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The spec as written to `<name>.vl.json` and rendered: schema, caption and data inline. */
export function completeSpec(input: FigureInput): TopLevelSpec {
  const spec = input.spec as TopLevelSpec & { data?: unknown };
  return {
    $schema: VEGA_LITE_SCHEMA,
    description: input.caption,
    ...spec,
    ...(spec.data === undefined ? { data: { values: input.data } } : {}),
  } as TopLevelSpec;
}

/** Renders a figure to SVG: the given one, else its spec through Vega. */
export async function figureSvg(input: FigureInput): Promise<string> {
  return input.svg ?? (await renderVegaLite(completeSpec(input)));
}

export async function writeFigure(outDir: string, name: string, input: FigureInput): Promise<WrittenFigure> {
  const spec = completeSpec(input);
  const svg = input.svg ?? (await renderVegaLite(spec));
  const png = svgToPng(svg);
  const paths = {
    svg: join(outDir, `${name}.svg`),
    png: join(outDir, `${name}.png`),
    vl: join(outDir, `${name}.vl.json`),
    csv: join(outDir, `${name}.csv`),
    json: join(outDir, `${name}.json`),
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(paths.svg, svg);
  writeFileSync(paths.png, png);
  writeFileSync(paths.vl, `${JSON.stringify(spec, null, 2)}\n`);
  writeFileSync(paths.csv, toCsv(input.data));
  writeFileSync(paths.json, `${JSON.stringify(input.data, null, 1)}\n`);
  return {
    name,
    paths,
    summary: `${name}: ${input.data.length} rows, ${svgSize(svg)} SVG -> ${join(outDir, name)}.{svg,png,vl.json,csv,json}`,
  };
}

/** "WxH" of an SVG's root element. */
function svgSize(svg: string): string {
  const open = svg.slice(0, svg.indexOf('>'));
  const width = /\swidth="([\d.]+)"/.exec(open)?.[1];
  const height = /\sheight="([\d.]+)"/.exec(open)?.[1];
  return `${width ?? '?'}x${height ?? '?'}`;
}

/** RFC 4180 CSV with a header of every key, in order of first appearance. */
export function toCsv(rows: Row[]): string {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
    }
  }
  const cell = (value: Row[string] | undefined): string => {
    if (value === undefined || value === null) return '';
    const text = String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [columns.map((c) => cell(c)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\n')}\n`;
}
