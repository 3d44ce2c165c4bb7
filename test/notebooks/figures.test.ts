import { describe, expect, test } from 'vitest';
import { FIGURES, FIGURE_NAMES, NOTEBOOKS } from '../../notebooks/index.js';
import type { Row } from '../../notebooks/lib/figure.js';
import { model } from '../../notebooks/lib/setting.js';
import { figure as beyondPaper } from '../../notebooks/beyond-paper.js';
import { figure as kvrpGap, heldOutContexts } from '../../notebooks/kvrp-gap.js';
import { figure as partitions } from '../../notebooks/partitions.js';
import { figure as robustness } from '../../notebooks/robustness.js';
import { figure as speedup } from '../../notebooks/speedup.js';
import { drawTimeline, figure as timeline, timelineCases } from '../../notebooks/timeline.js';
import { figure as ttftVsContext, figureByGpus } from '../../notebooks/ttft-vs-context.js';
import { PLOT_FIGURES } from '../../cli/commands/plot.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { simulate } from '../../sim/simulate.js';
import { topology } from '../support/scenarios.js';

const llama = model('llama2-7b');
/** Reduced grids: a handful of small simulations per figure. */
const small = { models: [llama], gpus: [2], bandwidths: [300e9], contexts: [1024, 2048] };

const values = (rows: Row[], key: string) => [...new Set(rows.map((r) => r[key]))];

describe('figure functions on reduced grids', () => {
  test('ttft-vs-context: one TTFT per model x GPUs x link x context x strategy', () => {
    const fig = ttftVsContext({ ...small, bandwidths: [300e9, 10e9] });
    expect(fig.name).toBe('ttft-vs-context');
    expect(fig.data).toHaveLength(1 * 1 * 2 * 2 * 4);
    expect(values(fig.data, 'strategy')).toEqual(['TSP', 'KVR-E', 'KVR-S', 'KVR-P']);
    expect(values(fig.data, 'link')).toEqual(['300 GB/s', '10 GB/s']);
    for (const row of fig.data) expect(row.ttft_ms).toBeGreaterThan(0);
    // KV-Runahead's searched partition never loses to TSP here.
    const at = (strategy: string, link: string) => fig.data.find((r) => r.strategy === strategy && r.link === link && r.context === 2048)!.ttft_ms as number;
    expect(at('KVR-S', '10 GB/s')).toBeLessThan(at('TSP', '10 GB/s'));
    expect(JSON.stringify(fig.spec)).toContain('simulated, a100-80g datasheet profile, published kernel efficiencies (uncalibrated)');
    expect(fig.findings.length).toBeGreaterThan(0);
  });

  test('ttft-vs-gpus: rows per GPU count for one model', () => {
    const fig = figureByGpus({ ...small, gpus: [2, 4], contexts: [1024] });
    expect(values(fig.data, 'panel')).toEqual(['llama2-7b · 2 GPUs', 'llama2-7b · 4 GPUs']);
    expect(fig.data).toHaveLength(2 * 1 * 1 * 4);
  });

  test('speedup: KVR-E and KVR-S over TSP per cell', () => {
    const fig = speedup(small);
    expect(fig.data).toHaveLength(2 * 2);
    expect(values(fig.data, 'strategy')).toEqual(['KVR-E', 'KVR-S']);
    // Each cell against its own simulations, set up here from the presets (not through the
    // notebook's scenario helper), and pinned: TSP 44.24 / 82.94 ms; at 1k KVR-E = KVR-S (the even
    // split is the search's answer) 42.76 ms, 1.035x; at 2k KVR-E 78.96 ms (1.050x), KVR-S 78.74 ms
    // (1088,960: 1.053x). 1% tolerance: deterministic values, room for small changes of the TTFT
    // definition (issue #13).
    const pinned: Record<string, [number, number, number]> = {
      '1024 KVR-E': [44.2357, 42.7593, 1.0345],
      '1024 KVR-S': [44.2357, 42.7593, 1.0345],
      '2048 KVR-E': [82.9438, 78.9558, 1.0505],
      '2048 KVR-S': [82.9438, 78.7359, 1.0534],
    };
    for (const row of fig.data) {
      const context = row.context as number;
      const s = (strategy: 'tsp' | 'kvr-e' | 'kvr-s') =>
        simulate({ model: MODEL_PRESETS['llama2-7b']!, gpu: GPU_PRESETS['a100-80g']!, topology: topology('switch', 2, 300e9, 2e-6), gpus: 2, context, strategy }).result.ttft_s * 1e3;
      const tsp = s('tsp');
      const kvr = s(row.strategy === 'KVR-E' ? 'kvr-e' : 'kvr-s');
      expect(row.tsp_ttft_ms as number).toBeCloseTo(tsp, 3);
      expect(row.ttft_ms as number).toBeCloseTo(kvr, 3);
      expect(row.speedup as number).toBeCloseTo(tsp / kvr, 4);
      const [tspMs, kvrMs, x] = pinned[`${context} ${row.strategy as string}`]!;
      expect(Math.abs(tsp / tspMs - 1)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(kvr / kvrMs - 1)).toBeLessThanOrEqual(0.01);
      expect(Math.abs((row.speedup as number) / x - 1)).toBeLessThanOrEqual(0.01);
    }
  });

  test('kvrp-gap: both predictors on the held-out midpoints of the table', () => {
    expect(heldOutContexts([1024, 2048, 4096])).toEqual([1536, 3072]);
    const fig = kvrpGap({ models: [llama], gpus: [2], bandwidths: [300e9], tableContexts: [1024, 2048, 4096] });
    expect(values(fig.data, 'context')).toEqual([1536, 3072]);
    expect(values(fig.data, 'predictor')).toHaveLength(2);
    expect(fig.data).toHaveLength(2 * 2);
    for (const row of fig.data) expect(row.gap_percent).toBeGreaterThan(-50);
  });

  test('partitions: one bar segment per rank, shares summing to 100%', () => {
    const fig = partitions({ ...small, gpus: [2, 4] });
    // by-context at 4 GPUs (2 contexts x 4 ranks) + by-gpus at 2k (2 + 4 ranks)
    expect(fig.data).toHaveLength(2 * 4 + 2 + 4);
    const bar = fig.data.filter((r) => r.view === 'by-context' && r.context === 2048);
    expect(bar.map((r) => r.rank)).toEqual([0, 1, 2, 3]);
    expect(bar.reduce((s, r) => s + (r.tokens as number), 0)).toBe(2048);
    expect(bar.reduce((s, r) => s + (r.share_percent as number), 0)).toBeCloseTo(100, 3);
  });

  test('timeline: the Gantt SVG has one bar per compute op of both simulations', () => {
    const options = { models: [llama], gpus: [2], bandwidths: [10e9], contexts: [1024] };
    const fig = timeline(options);
    const { cases } = timelineCases(options);
    const computeOps = cases.reduce((n, c) => n + c.simulation.plan.ops.filter((op) => op.kind === 'compute').length, 0);
    const transfers = cases.reduce((n, c) => n + c.simulation.plan.ops.filter((op) => op.kind === 'transfer').length, 0);
    expect(computeOps).toBe(2 * (2 * llama.layers * 4 + 1));
    expect(fig.svg!.match(/class="op compute /g)).toHaveLength(computeOps);
    expect(fig.svg!.match(/class="op transfer"/g)).toHaveLength(transfers);
    expect(fig.data.filter((r) => r.kind === 'compute')).toHaveLength(computeOps);
    expect(drawTimeline(cases, 't', 's')).toBe(drawTimeline(cases, 't', 's'));
    for (const row of fig.data) expect(row.end_ms as number).toBeGreaterThanOrEqual(row.start_ms as number);
  });

  test('robustness: each slow hop and background rate, relative to the uniform ring', () => {
    const fig = robustness({ models: [llama], gpus: [4], contexts: [1024], backgroundRates: [0, null] });
    const slow = fig.data.filter((r) => r.panel === 'slow');
    expect(values(slow, 'disturbance')).toEqual(['0-1', '1-2', '2-3', '3-0']);
    expect(slow).toHaveLength(4 * 3);
    const background = fig.data.filter((r) => r.panel === 'background');
    expect(values(background, 'disturbance')).toEqual(['0', 'fair']);
    for (const row of background.filter((r) => r.disturbance === '0')) expect(row.relative_ttft).toBeCloseTo(1, 9);
    // A slow hop never makes TSP faster.
    for (const row of slow.filter((r) => r.strategy === 'TSP')) expect(row.relative_ttft as number).toBeGreaterThanOrEqual(1);
  });

  test('beyond-paper: KVR-S only up to searchMaxGpus, KVR-P everywhere', () => {
    const fig = beyondPaper({ models: [model('llama3-8b')], gpus: [16, 24], contexts: [32768], searchMaxGpus: 16 });
    expect(fig.data.filter((r) => r.gpus === 16).map((r) => r.strategy)).toEqual(['TSP', 'KVR-P', 'KVR-S']);
    expect(fig.data.filter((r) => r.gpus === 24).map((r) => r.strategy)).toEqual(['TSP', 'KVR-P']);
    for (const row of fig.data) expect(row.speedup_over_tsp as number).toBeGreaterThan(0);
  });
});

describe('registry', () => {
  test('every figure belongs to a notebook and kvr plot offers them all', () => {
    const notebooks = NOTEBOOKS.map((n) => n.name);
    for (const name of FIGURE_NAMES) expect(notebooks).toContain(FIGURES[name]!.notebook);
    expect([...PLOT_FIGURES].sort()).toEqual([...FIGURE_NAMES].sort());
  });
});
