import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

const temp = mkdtempSync(join(tmpdir(), 'kvr-plot-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = new MemoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('kvr plot', () => {
  test('writes the figure files for the scenario flags', async () => {
    const out = join(temp, 'timeline');
    const { code, out: stdout, err } = await run(['plot', 'timeline', '--out', out, '--gpus', '2', '--context', '1024', '--bandwidth', '10 GB/s']);
    expect([code, err]).toEqual([0, '']);
    expect(stdout).toMatch(/^wrote timeline: \d+ rows, 1100x\d+ SVG -> /);
    expect(stdout).toMatch(/TSP: TTFT [\d.]+ ms/);
    for (const ext of ['svg', 'png', 'vl.json', 'csv', 'json']) expect(existsSync(join(out, `timeline.${ext}`))).toBe(true);
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toContain('links 10 GB/s');
  });

  test('a Vega-Lite figure on other models and a smaller grid', async () => {
    const out = join(temp, 'speedup');
    const { code, err } = await run(['plot', 'speedup', '--out', out, '--model', 'llama3-8b', '--gpus', '2', '--context', '1024', '--bandwidth', '300 GB/s']);
    expect([code, err]).toEqual([0, '']);
    const rows = JSON.parse(readFileSync(join(out, 'speedup.json'), 'utf8'));
    expect(rows.map((r: { model: string }) => r.model)).toEqual(['llama3-8b', 'llama3-8b']);
  });

  test('an unknown figure: one line listing the figures, exit 2', async () => {
    const { code, out, err } = await run(['plot', 'pie-chart', '--out', temp]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(/^kvr: figure: unknown figure "pie-chart" \(figures: ttft-vs-context, ttft-vs-gpus, speedup, kvrp-gap, partitions, timeline, robustness, beyond-paper, strategies-at-scale\)\n$/);
  });

  test.each([
    [['plot'], /^kvr: missing required argument 'figure'\n$/],
    [['plot', 'speedup', '--gpus', 'two'], /^kvr: --gpus: expected an integer/],
    [['plot', 'speedup', '--bandwidth', '0'], /^kvr: --bandwidth: must be > 0/],
    [['plot', 'speedup', '--model', 'gpt-9'], /^kvr: --model: unknown model "gpt-9"/],
  ])('bad input %j is one line and exit 2', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err).toMatch(message);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
