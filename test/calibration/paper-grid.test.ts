import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import {
  PAPER_CONTEXTS,
  PAPER_GRID_COSTS,
  PAPER_MODELS,
  PAPER_RANKS,
  planPaperGrid,
  simulatorPredictor,
  type PaperGridPlan,
  type Predictor,
} from '../../calibration/paper-grid.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { MemoryIo } from '../support/memory-io.js';
import { defaultProfilePath } from '../../cli/project-root.js';
import type { ValidationReport } from '../../calibration/validate.js';

// The plan of the paper's grid (issue 16 item 7): which runs, on which GPUs, in what order, within
// what budget. The runs themselves need an 8-GPU host (native/scripts/gpu-node-validate.sh).

/** Every case takes 1 s at 8k tokens and over, 0.1 s below; 20 GB a rank. */
const flat: Predictor = (_model, _strategy, _gpus, context) => ({ ttft_s: context >= 8192 ? 1 : 0.1, peak_mem_bytes: 20e9 });
const plan = (gpus: number, budget: number, predict: Predictor = flat, memory = 80e9): PaperGridPlan =>
  planPaperGrid({ gpus, gpu: 'a100-80g' }, { budget_s: budget, out: 'runs' }, predict, memory, 300e9);
const validateRuns = (p: PaperGridPlan) => p.runs.filter((r) => r.kind === 'validate');

describe('planPaperGrid', () => {
  test('an 8-GPU host with time to spare runs the calibration, then all 60 (model, GPUs, link, context) runs of the grid', () => {
    const p = plan(8, 1e6);
    expect(p.runs[0]).toMatchObject({ index: 1, id: 'calibrate', kind: 'calibrate', devices: [0, 1] });
    expect(validateRuns(p)).toHaveLength(PAPER_MODELS.length * PAPER_RANKS.length * 2 * PAPER_CONTEXTS.length);
    expect(p.skipped).toEqual([]);
    expect(p.runs.map((r) => r.index)).toEqual(p.runs.map((_, i) => i + 1));
    expect(new Set(p.runs.map((r) => r.id)).size).toBe(p.runs.length);
    expect(p.expected_s).toBeCloseTo(p.full_grid_expected_s, 6);
  });

  test('rank r runs on GPU r: a run on p GPUs uses GPUs 0..p-1, with tsp, kvr-e, kvr-s and kvr-p', () => {
    for (const r of validateRuns(plan(8, 1e6))) {
      const p = Number(/-p(\d)-/.exec(r.id)![1]);
      expect(r.devices).toEqual(Array.from({ length: p }, (_, i) => i));
      expect(r.strategies).toEqual(['tsp', 'kvr-e', 'kvr-s', 'kvr-p']);
      expect(r.argv).toEqual(expect.arrayContaining(['--ranks', String(p), '--contexts', String(r.context), '--single', 'none', '--out', `runs/${r.id}`]));
      expect(r.argv[r.argv.indexOf('--links') + 1]).toBe(r.link === 'native' ? 'native' : '10 GB/s');
    }
  });

  test('order: native links at 4k and 16k, then paced 10 GB/s at 4k and 16k, then native 1k/2k/8k, then paced; cheapest first within a tier', () => {
    const runs = validateRuns(plan(8, 1e6));
    const tiers = runs.map((r) => r.tier);
    expect(tiers).toEqual([...tiers].sort((a, b) => a - b));
    expect([...new Set(tiers)]).toEqual([1, 2, 3, 4]);
    for (const r of runs) {
      expect(r.link).toBe(r.tier % 2 === 1 ? 'native' : 'paced');
      expect([4096, 16384].includes(r.context!)).toBe(r.tier <= 2);
    }
    for (let i = 1; i < runs.length; i++) {
      if (runs[i]!.tier === runs[i - 1]!.tier) expect(runs[i]!.expected_s).toBeGreaterThanOrEqual(runs[i - 1]!.expected_s);
    }
    // Ties keep the built order (llama2-7b before falcon-7b, fewer GPUs first, shorter context first).
    expect(runs.slice(0, 4).map((r) => r.id)).toEqual(['llama2-7b-p2-nvlink-4096', 'falcon-7b-p2-nvlink-4096', 'llama2-7b-p4-nvlink-4096', 'falcon-7b-p4-nvlink-4096']);
  });

  test('a run expects its process, a set-up per case and GPU, and (warm-up + repeats) x each predicted TTFT', () => {
    const r = validateRuns(plan(8, 1e6)).find((x) => x.id === 'llama2-7b-p8-10gbps-16384')!;
    const C = PAPER_GRID_COSTS;
    expect(r.expected_s).toBeCloseTo(C.process_s + 4 * (C.case_s + 8 * C.case_per_gpu_s) + 4 * (1 + 3) * 1, 6);
    expect(r.predicted_ttft_s).toEqual({ tsp: 1, 'kvr-e': 1, 'kvr-s': 1, 'kvr-p': 1 });
    expect(r.bandwidth).toBe(10e9);
    expect(validateRuns(plan(8, 1e6)).find((x) => x.link === 'native')!.bandwidth).toBe(300e9);
  });

  test.each([
    [1, 0, []],
    [2, 20, [2]],
    [4, 40, [2, 4]],
    [8, 60, [2, 4, 8]],
  ])('a host of %i GPU(s) plans %i validation runs, on %j GPUs; the rest are skipped with the reason', (gpus, count, ranks) => {
    const p = plan(gpus, 1e6);
    expect(p.runs[0]!.id).toBe('calibrate');
    expect(p.runs[0]!.devices).toEqual(gpus >= 2 ? [0, 1] : [0]);
    expect(validateRuns(p)).toHaveLength(count);
    expect([...new Set(validateRuns(p).map((r) => r.devices.length))].sort()).toEqual(ranks);
    expect(p.skipped).toHaveLength(60 - count);
    for (const s of p.skipped) expect(s.why).toMatch(new RegExp(`^needs [248] GPUs, the host has ${gpus}`));
    expect(Math.max(...validateRuns(p).flatMap((r) => r.devices), -1)).toBeLessThan(gpus);
  });

  test.each([60, 200, 500, 1000, 5000])('a budget of %i s: the planned runs fit it, in the same order as the full plan; what is left out says why', (budget) => {
    const full = plan(8, 1e6).runs.map((r) => r.id);
    const p = plan(8, budget);
    const spent = p.runs.reduce((sum, r) => sum + r.expected_s, 0);
    expect(spent).toBeLessThanOrEqual(budget);
    expect(p.expected_s).toBeCloseTo(spent, 6);
    expect(p.runs.map((r) => r.id)).toEqual(full.filter((id) => p.runs.some((r) => r.id === id)));
    expect(p.runs.length + p.skipped.length).toBe(61);
    for (const s of p.skipped) expect(s.why).toMatch(/^(over budget: expected [\d.]+ s, [\d.]+ s left|no calibration run fits the budget)/);
    // Nothing skipped for the budget would have fitted in what was left when its turn came.
    const calibrate = plan(8, 1e6).runs[0]!.expected_s;
    if (budget < calibrate) expect(p.runs).toEqual([]);
    else expect(p.runs[0]!.id).toBe('calibrate');
  });

  test('ranks that do not fit the GPU are skipped, naming the memory', () => {
    const big: Predictor = (model, strategy, gpus, context) => ({ ...flat(model, strategy, gpus, context, 0), peak_mem_bytes: context === 16384 && gpus === 2 ? 50e9 : 20e9 });
    const p = plan(8, 1e6, big, 40e9);
    expect(p.skipped.map((s) => s.id).sort()).toEqual(['falcon-7b-p2-10gbps-16384', 'falcon-7b-p2-nvlink-16384', 'llama2-7b-p2-10gbps-16384', 'llama2-7b-p2-nvlink-16384']);
    expect(p.skipped[0]!.why).toBe("a rank needs 50.0 GB, more than the GPU's 40.0 GB");
  });

  test('with the simulator on an 8x A100-80GB host, the whole grid is expected to take 20-40 minutes after set-up', () => {
    const gpu = GPU_PRESETS['a100-80g']!;
    const p = planPaperGrid({ gpus: 8, gpu: 'a100-80g' }, { budget_s: 1e6, out: 'runs' }, simulatorPredictor(gpu, MODEL_PRESETS), gpu.memory_bytes!, gpu.link_bandwidth!);
    expect(p.skipped).toEqual([]);
    expect(p.expected_s).toBeGreaterThan(20 * 60);
    expect(p.expected_s).toBeLessThan(40 * 60);
    const headline = p.runs.find((r) => r.id === 'llama2-7b-p8-10gbps-16384')!;
    expect(headline.predicted_ttft_s['kvr-s']!).toBeLessThan(headline.predicted_ttft_s.tsp!);
  });
});

describe('kvr validate --paper-grid', () => {
  test('prints the plan as JSON and runs nothing', async () => {
    const io = new MemoryIo();
    expect(await runCli(['validate', '--paper-grid', '--host-gpus', '4', '--budget-s', '400', '--gpu', 'h100-sxm', '--out', 'o'], io)).toBe(0);
    const p = JSON.parse(io.out) as PaperGridPlan;
    expect(p).toMatchObject({ schema: 'kvr-paper-grid/plan@1', host: { gpus: 4, gpu: 'h100-sxm' }, budget_s: 400 });
    expect(p.runs[0]!.argv.slice(0, 5)).toEqual(['calibrate', '--backend', 'cuda', '--name', 'h100-sxm']);
    expect(p.runs.every((r) => r.devices.every((d) => d < 4))).toBe(true);
    expect(validateRuns(p).find((r) => r.link === 'native')!.bandwidth).toBe(450e9);
    expect(io.files.size).toBe(0);
  });

  test('--strategies and --links choose the strategies and the paced rate of the multi-rank cases (cpu, tiny model)', async () => {
    const io = new MemoryIo();
    const calibrated = ['calibrate', '--model', 'tiny-llama', '--tokens', '16,64', '--prefixes', '0,64', '--link-tokens', '16', '--repeats', '1', '--warmup', '0', '--out', 'p.json'];
    expect(await runCli(calibrated, io)).toBe(0);
    io.files.set(defaultProfilePath('grid-test'), io.files.get('p.json')!);
    const argv = ['validate', '--gpu', 'grid-test', '--single', 'none', '--ranks', '2', '--contexts', '96', '--strategies', 'kvr-p,tsp', '--links', '2 GB/s', '--repeats', '1', '--out', 'v'];
    expect(await runCli(argv, io), io.err).toBe(0);
    const report = JSON.parse(io.files.get('v/report.json')!) as ValidationReport;
    expect(report.rows.map((r) => [r.strategy, r.gpus, r.bandwidth, r.links])).toEqual([['kvr-p', 2, 2e9, 'paced'], ['tsp', 2, 2e9, 'paced']]);
  });

  test.each([
    [['validate', '--paper-grid'], /^kvr: --host-gpus: is required with --paper-grid/],
    [['validate', '--paper-grid', '--host-gpus', '0'], /^kvr: --host-gpus: expected an integer in 1\.\.64/],
    [['validate', '--paper-grid', '--host-gpus', '8', '--budget-s', 'lots'], /^kvr: --budget-s: expected an integer/],
    [['validate', '--paper-grid', '--host-gpus', '8', '--ranks', '2'], /^kvr: --paper-grid: plans the paper's fixed grid; it takes no --ranks$/],
    [['validate', '--host-gpus', '8'], /^kvr: --host-gpus: only with --paper-grid$/],
    [['validate', '--strategies', 'tsp,ring'], /^kvr: --strategies: expected a comma-separated list of/],
    [['validate', '--links', 'native'], /^kvr: --links: native links are the GPUs' own \(NVLink through NCCL\): only with --backend cuda$/],
    [['validate', '--links', 'fast'], /^kvr: --links: /],
  ])('%j: one line, exit 2', async (argv, message) => {
    const io = new MemoryIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err.trimEnd().split('\n')).toHaveLength(1);
    expect(io.err.trimEnd()).toMatch(message);
  });
});
