import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { afterAll, describe, expect, test } from 'vitest';
import { completeSpec, toCsv, writeFigure } from '../../notebooks/lib/figure.js';
import { FONT_FAMILY, fontFiles, textWidth } from '../../notebooks/lib/fonts.js';
import { renderD3 } from '../../notebooks/lib/render-d3.js';
import { rasterize, svgToPng } from '../../notebooks/lib/render-png.js';
import { renderVegaLite } from '../../notebooks/lib/render-vega.js';

/** A tiny fixed chart: two lines, a legend, axis titles with units. */
const TINY: TopLevelSpec = {
  title: { text: 'Tiny', subtitle: 'fixed data' },
  data: {
    values: [
      { context: 1024, ttft_ms: 10, strategy: 'TSP' },
      { context: 2048, ttft_ms: 25, strategy: 'TSP' },
      { context: 1024, ttft_ms: 8, strategy: 'KVR-S' },
      { context: 2048, ttft_ms: 17, strategy: 'KVR-S' },
    ],
  },
  width: 160,
  height: 90,
  mark: 'line',
  encoding: {
    x: { field: 'context', type: 'quantitative', title: 'context (tokens)' },
    y: { field: 'ttft_ms', type: 'quantitative', title: 'TTFT (ms)' },
    color: { field: 'strategy', type: 'nominal' },
  },
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const temp = mkdtempSync(join(tmpdir(), 'kvr-render-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('rendering without a browser', () => {
  test('the same spec gives the same SVG bytes and the same PNG bytes', async () => {
    const first = await renderVegaLite(TINY);
    const second = await renderVegaLite(TINY);
    expect(second).toBe(first);
    expect(first.startsWith('<svg')).toBe(true);
    expect(first).toContain(`font-family="${FONT_FAMILY}"`);
    const png = svgToPng(first);
    expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(svgToPng(second).equals(png)).toBe(true);
  });

  test('the SVG of a tiny fixed spec is stable', async () => {
    expect(await renderVegaLite(TINY)).toMatchSnapshot();
  });

  test('text is drawn with the packaged DejaVu Sans (no system fonts)', () => {
    const text = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><text x="4" y="20" font-family="DejaVu Sans" font-size="16">TTFT 1.4x</text></svg>';
    const blank = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"></svg>';
    const dark = (svg: string) => {
      const { pixels } = rasterize(svg, { scale: 1 });
      let count = 0;
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 128) count++;
      return count;
    };
    expect(dark(blank)).toBe(0);
    expect(dark(text)).toBeGreaterThan(50);
    expect(existsSync(fontFiles().regular)).toBe(true);
  });

  test('text widths come from the font: DejaVu Sans "M" is 1767/2048 em, bold is wider', () => {
    expect(textWidth('M', 2048)).toBeCloseTo(1767, 6);
    expect(textWidth('TTFT (ms)', 12, true)).toBeGreaterThan(textWidth('TTFT (ms)', 12));
    expect(textWidth('', 12)).toBe(0);
  });

  test('d3 draws into a server-side DOM and returns SVG markup', () => {
    const svg = renderD3(50, 20, (root) => {
      root.append('rect').attr('class', 'bar').attr('x', 1).attr('width', 10).attr('height', 5);
      root.append('text').attr('x', 2).attr('y', 15).text('a < b & c');
    });
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('class="bar"');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svgToPng(svg).subarray(0, 8)).toEqual(PNG_SIGNATURE);
  });
});

describe('writeFigure', () => {
  test('writes the SVG, PNG, Vega-Lite spec with data inline, CSV and JSON data', async () => {
    const { data, ...spec } = TINY as TopLevelSpec & { data: { values: Record<string, string | number>[] } };
    const rows = data.values;
    const written = await writeFigure(join(temp, 'figs'), 'tiny', { spec: spec as TopLevelSpec, data: rows, caption: 'A tiny figure.' });
    for (const path of Object.values(written.paths)) expect(existsSync(path)).toBe(true);
    expect(written.paths.svg).toBe(join(temp, 'figs', 'tiny.svg'));
    expect(readFileSync(written.paths.png).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    const vl = JSON.parse(readFileSync(written.paths.vl, 'utf8'));
    expect(vl.$schema).toMatch(/vega-lite\/v6/);
    expect(vl.description).toBe('A tiny figure.');
    expect(vl.data.values).toEqual(rows);
    expect(JSON.parse(readFileSync(written.paths.json, 'utf8'))).toEqual(rows);
    expect(readFileSync(written.paths.csv, 'utf8').split('\n')[0]).toBe('context,ttft_ms,strategy');
    expect(written.summary).toMatch(/^tiny: 4 rows, \d+x\d+ SVG -> .*tiny\.\{svg,png,vl\.json,csv,json\}$/);
    // Same figure, same bytes.
    const again = await writeFigure(join(temp, 'again'), 'tiny', { spec: spec as TopLevelSpec, data: rows, caption: 'A tiny figure.' });
    for (const key of ['svg', 'png', 'vl', 'csv', 'json'] as const) {
      expect(readFileSync(again.paths[key]).equals(readFileSync(written.paths[key]))).toBe(true);
    }
  });

  test('a given SVG (d3 figures) is written as is; the spec keeps its own data', async () => {
    const svg = renderD3(40, 10, () => undefined);
    const spec = { data: { values: [{ a: 1 }] }, mark: 'point' } as TopLevelSpec;
    expect(completeSpec({ spec, data: [{ a: 2 }], caption: '' })).toMatchObject({ data: { values: [{ a: 1 }] } });
    const written = await writeFigure(temp, 'given', { spec, data: [{ a: 2 }], svg, caption: '' });
    expect(readFileSync(written.paths.svg, 'utf8')).toBe(svg);
  });

  test('CSV quotes what needs quoting and leaves missing cells empty', () => {
    expect(toCsv([{ a: 'x,y', b: 1 }, { a: 'say "hi"', c: true }, { b: null }])).toBe('a,b,c\n"x,y",1,\n"say ""hi""",,true\n,,\n');
  });
});
