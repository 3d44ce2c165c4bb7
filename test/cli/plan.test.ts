import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { defaultPlanStrategies, type PlanCandidate } from '../../cli/commands/plan.js';
import { STRATEGY_NAMES } from '../../sim/plan/plan.js';
import { MemoryIo } from '../support/memory-io.js';

const CATALOGUE = `
currency: EUR
offers:
  - {name: h100 box, gpu: h100-sxm, price_per_gpu_hour: 3.5, interconnect: nvswitch, gpus_per_node: 8}
  - {name: a100 pcie box, gpu: a100-80g, price_per_gpu_hour: 1.5, interconnect: pcie, gpus_per_node: 8, gpu_counts: [1, 2, 4, 8]}
`;

const PROFILE = JSON.stringify({
  schema: 'kvr-calibration/profile@1',
  gpu: { name: 'h100-cal', peak_flops: '989 TFLOP/s', hbm_bandwidth: '3350 GB/s', memory: '80 GB', launch_overhead: '4 us', efficiency: { gemm: 0.8, attention: 0.6, memory: 0.85 }, link_bandwidth: '450 GB/s', pcie_bandwidth: '64 GB/s', calibrated: true },
  calibration: { tables: [], transfer_overhead_s: 0 },
  provenance: { device: 'test device', date: '2026-01-01' },
  fit: {
    ops: [
      { model: 'llama2-7b', op: 'attn', checks: 4, mean_abs_error: 0.02, max_abs_error: 0.05 },
      { model: 'llama2-7b', op: 'mlp', checks: 4, mean_abs_error: 0.01, max_abs_error: 0.03 },
    ],
    transfer_mean_abs_error: 0.01,
  },
});

async function run(argv: string[], files: Record<string, string> = {}) {
  const io = new MemoryIo({ '/p/cat.yaml': CATALOGUE, '/p/cal.json': PROFILE, ...files });
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err, io };
}

async function simulatedTtft(command: string): Promise<number> {
  // The printed command line, split as a shell would (quoted values keep their spaces).
  const args = [...command.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  expect(args.slice(0, 2)).toEqual(['kvr', 'simulate']);
  const { code, out, err } = await run([...args.slice(1), '--json']);
  expect([code, err]).toEqual([0, '']);
  return JSON.parse(out).ttft_s;
}

describe('kvr plan', () => {
  test('cheapest feasible configs, the Pareto frontier, a figure; the chosen answer is checkable with kvr simulate', async () => {
    const { code, out, err, io } = await run(['plan', '--model', 'llama2-7b', '--context', '16384', '--ttft', '0.6 s', '--catalogue', '/p/cat.yaml', '--strategies', 'single,tsp,kvr-e,kvr-p', '--jobs', '0', '--out', '/p/out/plan']);
    expect([code, err]).toEqual([0, '']);
    expect(out).toMatch(/^kvr plan: llama2-7b, 16384 tokens, target TTFT <= 600 ms at p100\n/);
    expect(out).toContain('cost per prefill = GPUs x price per GPU-hour x mean TTFT over the contexts / 3600 s');
    expect(out).toContain('in EUR');
    expect(out).toContain('TTFT band of h100-sxm: unknown: a datasheet preset, uncalibrated (shape-aware kernel efficiencies from published benchmarks, not measured on this GPU)');
    expect(out).toMatch(/cheapest feasible \(TTFT p100 <= 600 ms, every rank fits\):\nconfig +gpus +strategy/);
    expect(out).toMatch(/Pareto frontier of cost vs TTFT p100/);
    const check = /^check: (kvr simulate .*)$/m.exec(out)![1]!;
    expect(out).toContain('wrote /p/out/plan.csv, /p/out/plan.svg, /p/out/plan.vl.json');
    expect(io.files.get('/p/out/plan.svg')).toMatch(/^<svg/);
    const vl = JSON.parse(io.files.get('/p/out/plan.vl.json')!);
    expect(vl.data.values.length).toBeGreaterThan(0);
    expect(io.files.get('/p/out/plan.csv')!.split('\n')[0]).toMatch(/^model,offer,gpu,gpus,nodes,strategy,price_per_gpu_hour,ttft_s/);

    // The same through --json: the first row of the table is the cheapest that meets the target.
    const json = await run(['plan', '--model', 'llama2-7b', '--context', '16384', '--ttft', '0.6 s', '--catalogue', '/p/cat.yaml', '--strategies', 'single,tsp,kvr-e,kvr-p', '--jobs', '0', '--no-figure', '--out', '/p/out/plan2', '--json']);
    const result = JSON.parse(json.out);
    expect(result.schema).toBe('kvr-plan/result@1');
    const candidates = result.candidates as PlanCandidate[];
    // 2 offers: h100 at 1..8 GPUs (4 counts), a100 at 4 counts; single on 1 GPU, 3 strategies on the others.
    expect(candidates).toHaveLength(2 * (1 + 3 * 3));
    const feasible = candidates.filter((c) => c.meets_target).sort((a, b) => a.cost_per_prefill! - b.cost_per_prefill!);
    expect(feasible.length).toBeGreaterThan(0);
    expect(feasible.every((c) => c.fits && c.ttft_s! <= 0.6)).toBe(true);
    expect(check).toBe(feasible[0]!.command);
    expect(await simulatedTtft(check)).toBe(feasible[0]!.ttft_s);
    // Cost of a prefill: GPUs x price x TTFT / 3600.
    const c = feasible[0]!;
    expect(c.cost_per_prefill).toBeCloseTo((c.gpus * c.price_per_gpu_hour * c.ttft_s!) / 3600, 12);
    // The frontier: nothing that fits is both cheaper and faster than a frontier point.
    const fitting = candidates.filter((x) => x.fits && x.ttft_s !== null);
    for (const f of fitting.filter((x) => x.pareto)) {
      expect(fitting.some((x) => x.cost_per_prefill! < f.cost_per_prefill! && x.ttft_s! < f.ttft_s!)).toBe(false);
    }
    for (const x of fitting.filter((y) => !y.pareto)) {
      expect(fitting.some((f) => f.cost_per_prefill! <= x.cost_per_prefill! && f.ttft_s! <= x.ttft_s!)).toBe(true);
    }
  }, 120_000);

  test('a context distribution: the TTFT percentile picks the context, cost uses the mean', async () => {
    const argv = (context: string, extra: string[] = []) => ['plan', '--context', context, '--ttft', '5 s', '--catalogue', '/p/cat.yaml', '--strategies', 'kvr-e', '--jobs', '0', '--no-figure', '--out', '/p/x', '--json', ...extra];
    const p50 = JSON.parse((await run(argv('4096:0.5,16384:0.5', ['--percentile', '50']))).out).candidates as PlanCandidate[];
    const p100 = JSON.parse((await run(argv('4096:0.5,16384:0.5'))).out).candidates as PlanCandidate[];
    const at4k = JSON.parse((await run(argv('4096'))).out).candidates as PlanCandidate[];
    const at16k = JSON.parse((await run(argv('16384'))).out).candidates as PlanCandidate[];
    for (let i = 0; i < p50.length; i++) {
      expect(p50[i]!.ttft_s).toBe(at4k[i]!.ttft_s);
      expect(p50[i]!.context_at_percentile).toBe(4096);
      expect(p100[i]!.ttft_s).toBe(at16k[i]!.ttft_s);
      expect(p100[i]!.ttft_mean_s).toBeCloseTo((at4k[i]!.ttft_s! + at16k[i]!.ttft_s!) / 2, 12);
    }
    // Percentiles: mass between p50 and p95 sits at the p95 length; nothing is known above p95.
    const pct = JSON.parse((await run(argv('p50=4096,p95=16384'))).out);
    expect(pct.percentile).toBe(95);
    expect((pct.candidates as PlanCandidate[])[0]!.ttft_s).toBe(at16k[0]!.ttft_s);
    const { code, err } = await run(argv('p50=4096,p95=16384', ['--percentile', '99']));
    expect([code, err]).toEqual([2, 'kvr: --percentile: p99 is above the highest percentile --context gives (p95)\n']);
  }, 60_000);

  test("a calibrated profile gives a TTFT band, and the plan says whether the target holds at its upper edge", async () => {
    const catalogue = 'offers:\n  - {gpu: cal.json, price_per_gpu_hour: 3, interconnect: nvswitch, gpus_per_node: 8, gpu_counts: [4]}\n';
    const base = ['plan', '--context', '8192', '--catalogue', '/p/c2.yaml', '--strategies', 'kvr-e', '--jobs', '0', '--no-figure', '--out', '/p/y'];
    const first = JSON.parse((await run([...base, '--ttft', '10 s', '--json'], { '/p/c2.yaml': catalogue })).out);
    const only = first.candidates[0] as PlanCandidate;
    expect(only.band).toBe(0.05); // the largest max fit error of llama2-7b's ops
    expect(only.ttft_high_s).toBeCloseTo(only.ttft_s! * 1.05, 12);
    // A target between the TTFT and its upper edge: met nominally, missed at the edge.
    const target = `${(only.ttft_s! * 1.02 * 1000).toFixed(3)} ms`;
    const { code, out } = await run([...base, '--ttft', target], { '/p/c2.yaml': catalogue });
    expect(code).toBe(0);
    expect(out).toContain('TTFT band of /p/cal.json: ±5.0% (the max fit error');
    expect(out).toMatch(/±5\.0% +[\d.]+ ms MISS/);
    expect(out).toContain("the cheapest misses the target at its band's upper edge");
    const mean = JSON.parse((await run([...base, '--ttft', target, '--band', 'mean', '--json'], { '/p/c2.yaml': catalogue })).out);
    expect(mean.candidates[0].band).toBe(0.02);
    expect(mean.candidates[0].meets_at_upper_edge).toBe(true);
  }, 60_000);

  test('memory decides feasibility: replicated 70B weights fit no 80 GB GPU', async () => {
    const { code, out } = await run(['plan', '--model', 'llama2-70b', '--context', '8192', '--ttft', '10 s', '--catalogue', '/p/cat.yaml', '--strategies', 'kvr-e,tsp', '--jobs', '0', '--no-figure', '--out', '/p/z']);
    expect(code).toBe(0);
    expect(out).toContain('no configuration meets the target with memory to spare. None fits in memory at every context');
  }, 60_000);

  test('default strategies come from STRATEGY_NAMES (all but kvr and kvr-s)', () => {
    expect(defaultPlanStrategies()).toEqual(STRATEGY_NAMES.filter((s) => s !== 'kvr' && s !== 'kvr-s'));
  });

  test.each([
    [['plan'], 'kvr: --ttft: is required: the TTFT target, e.g. "2 s"\n'],
    [['plan', '--ttft', '2'], 'kvr: --ttft: needs a unit'],
    [['plan', '--ttft', '2 s', '--strategies', 'kvr'], 'kvr: --strategies: kvr needs a hand-made --partition'],
    [['plan', '--ttft', '2 s', '--strategies', 'warp'], 'kvr: --strategies: unknown strategy "warp"'],
    [['plan', '--ttft', '2 s', '--context', '4096:0'], 'kvr: --context: weights must be numbers > 0 (got "4096:0")\n'],
    [['plan', '--ttft', '2 s', '--context', 'p95=4096,p50=8192'], 'kvr: --context: percentiles must increase within (0, 100]'],
    [['plan', '--ttft', '2 s', '--percentile', '0'], 'kvr: --percentile: expected a number in (0, 100]'],
    [['plan', '--ttft', '2 s', '--band', 'p90'], 'kvr: --band: expected mean or max (got "p90")\n'],
    [['plan', '--ttft', '2 s', '--catalogue', '/p/missing.yaml'], 'kvr: --catalogue: cannot read "/p/missing.yaml"'],
  ])('%j', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(err.split('\n').filter(Boolean)).toHaveLength(1);
  });

  test('catalogue errors name the offer field', async () => {
    const bad = async (yaml: string) => (await run(['plan', '--ttft', '2 s', '--catalogue', '/p/b.yaml', '--jobs', '0'], { '/p/b.yaml': yaml })).err;
    expect(await bad('offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: pcie, gpus_per_node: 8, nic_bandwidth: "50 GB/s"}\n')).toBe(
      'kvr: catalogue.offers[0].nic_bandwidth: only nvswitch offers span nodes (the multi-node preset joins NVSwitch nodes); interconnect is pcie\n',
    );
    expect(await bad('offers:\n  - {gpu: x100, price_per_gpu_hour: 3, interconnect: pcie, gpus_per_node: 8}\n')).toMatch(/^kvr: catalogue.offers\[0\].gpu: unknown GPU "x100"/);
    expect(await bad('offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: pcie, gpus_per_node: 8, gpu_counts: [16]}\n')).toMatch(/^kvr: catalogue.offers\[0\].gpu_counts\[0\]: 16 GPUs is more than 8/);
    expect(await bad('offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: pcie, gpus_per_node: 8, bandwidth: fast}\n')).toMatch(/^kvr: catalogue.offers\[0\].bandwidth: /);
    expect(await bad('offers: []\n')).toBe('kvr: catalogue.offers: expected a non-empty list\n');
  });
});
