import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { COMPARE_STRATEGIES } from '../../cli/commands/compare.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[]) {
  const io = new MemoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

const rowsOf = (out: string): string[] => out.split('\n').filter((line) => COMPARE_STRATEGIES.some((s) => line.startsWith(`${s} `)));

describe('kvr compare', () => {
  test('one table: every strategy with TTFT, speedup over the best baseline, bytes, peak memory, fits and decode re-shard', async () => {
    const { code, out, err } = await run(['compare', '--gpus', '4', '--context', '8192', '--tp', '2']);
    expect([code, err]).toEqual([0, '']);
    expect(out).toMatch(/^compare: llama2-7b on 4 x a100-80g \(switch, 300 GB\/s\), 8192 tokens, auto collectives\n/);
    expect(out).toMatch(/best baseline: (tsp|tsp-causal|tp|tp-sp|ring-kv|ring-q|pp-chunked) \(.*\), the fastest of tsp, tsp-causal, tp, tp-sp, ring-kv, ring-q, pp-chunked that fits/);
    const header = out.split('\n').find((line) => line.startsWith('strategy'))!;
    for (const column of ['TTFT', 'vs best baseline', 'moved', 'peak mem (max rank)', 'fits', 'decode re-shard (TP)']) expect(header).toContain(column);
    expect(rowsOf(out).map((line) => line.split(/\s+/)[0])).toEqual([...COMPARE_STRATEGIES]);
    expect(out).toMatch(/^kvr-tp \(tp 2\)\s/m);
  });

  test('the footer says what the GPU profile is: a shape-aware preset names the sources of its kernel efficiencies; a calibrated profile needs no note', async () => {
    const preset = await run(['compare', '--gpu', 'h100-sxm', '--gpus', '2', '--context', '4096']);
    expect(preset.code).toBe(0);
    expect(preset.out).toMatch(/^gpu profile: h100-sxm datasheet, shape-aware: kernel efficiencies from published benchmarks \(calibration\/profiles\/h200-pytorch\.json, arXiv 2407\.08608, https:\/\/mikamirai\.com\/blog\/gpu-memory-bandwidth\/, https:\/\/github\.com\/stas00\/ml-engineering\/\S+\), not measured on this GPU$/m);
    expect(preset.out).not.toMatch(/uncalibrated/);
    const calibrated = await run(['compare', '--gpu', 'h200-pytorch', '--gpus', '2', '--context', '4096']);
    expect(calibrated.code).toBe(0);
    expect(calibrated.out).not.toMatch(/^gpu profile:/m);
  });

  test('multi-node: the collectives column shows what the tuner chose for each collective (a ring per NIC across nodes)', async () => {
    const { code, out } = await run(['compare', '--topology', 'multi-node', '--gpus', '16', '--context', '8192']);
    expect(code).toBe(0);
    const header = out.split('\n').find((line) => line.startsWith('strategy'))!;
    expect(header).toMatch(/collectives$/);
    expect(out).toMatch(/^tp .*allreduce ring\/(simple|ll128|ll) 8ch$/m);
    expect(out).toMatch(/^tp-sp .*allgather ring\/\w+ 8ch, reducescatter ring\/\w+ 8ch$/m);
    expect(out).toMatch(/^tsp .*allgather ring\/\w+ 8ch$/m);
    // kvr-tp's groups are nodes: their all-reduces stay inside one, on one channel.
    expect(out).toMatch(/^kvr-tp \(tp 8\) .*allreduce ring\/\w+(, allreduce ring\/\w+)*$/m);
    expect(out).toMatch(/^kvr-e .* -$/m);
  });

  test('--json: kvr-compare@3; each speedup is the best baseline TTFT over the row TTFT', async () => {
    const { code, out } = await run(['compare', '--gpus', '4', '--context', '8192', '--json']);
    expect(code).toBe(0);
    const c = JSON.parse(out);
    expect(c.schema).toBe('kvr-compare@3');
    const best = c.rows.find((r: { strategy: string }) => r.strategy === c.best_baseline.strategy);
    for (const row of c.rows) expect(row.fits).toBe(true);
    for (const row of c.rows) expect(row.speedup_over_best_baseline).toBe(best.ttft_s / row.ttft_s);
    const fastest = c.rows.reduce((a: { ttft_s: number }, r: { ttft_s: number }) => (r.ttft_s < a.ttft_s ? r : a));
    expect(c.best).toEqual({ strategy: fastest.strategy, ttft_s: fastest.ttft_s });
    const baselines = c.rows.filter((r: { strategy: string; fits: boolean }) => ['tsp', 'tsp-causal', 'tp', 'tp-sp', 'ring-kv', 'ring-q', 'pp-chunked'].includes(r.strategy) && r.fits);
    expect(Math.min(...baselines.map((r: { ttft_s: number }) => r.ttft_s))).toBe(c.best_baseline.ttft_s);
    // Without --tp, off a multi-node topology, kvr-tp is skipped with the reason.
    expect(c.skipped).toEqual([{ strategy: 'kvr-tp', reason: 'give --tp N (GPUs per tensor-parallel group) to include it' }]);
    expect(c.rows.find((r: { strategy: string }) => r.strategy === 'kvr-e').decode.max_kv_cache_rank).toBe(3);
  });

  test('multi-node: kvr-tp groups a node; single is dropped when it does not fit one GPU; ring-kv needs 2 tokens per chunk', async () => {
    const big = await run(['compare', '--model', 'llama2-70b', '--gpu', 'a100-40g', '--topology', 'multi-node', '--gpus', '4', '--gpus-per-node', '2', '--context', '2048', '--json']);
    expect(big.code).toBe(0);
    const c = JSON.parse(big.out);
    expect(c.rows.map((r: { strategy: string }) => r.strategy)).not.toContain('single');
    expect(c.skipped[0].strategy).toBe('single');
    expect(c.skipped[0].reason).toMatch(/^does not fit on one GPU: needs .* more than its/);
    expect(c.rows.find((r: { strategy: string }) => r.strategy === 'kvr-tp').tensor_parallel).toBe(2);
    const short = JSON.parse((await run(['compare', '--gpus', '8', '--context', '12', '--json'])).out);
    expect(short.skipped.find((s: { strategy: string }) => s.strategy === 'ring-kv').reason).toMatch(/needs at least 16 tokens \(got 12\)/);
  });

  test('past the plan-op limit, the strategies simulate runs as recurrences are compared; the others are skipped with the limit', async () => {
    // A one-layer model on 1024 GPUs: tsp's plan would have over 2 million ops. Nodes of 64 GPUs
    // leave kvr-tp out (its group, a node, has more GPUs than the model has heads): its search is slow.
    const tiny = JSON.stringify({ name: 'tiny1', layers: 1, hidden: 64, heads: 8, kv_heads: 8, head_dim: 8, ffn: 160, vocab: 500, dtype_bytes: 2, mlp: 'swiglu', block: 'sequential', norm: 'rmsnorm' });
    const io = new MemoryIo({ 'tiny1.json': tiny });
    const code = await runCli(['compare', '--model', 'tiny1.json', '--gpus', '1024', '--topology', 'multi-node', '--gpus-per-node', '64', '--context', '65536', '--json', '--quiet'], io);
    expect([code, io.err]).toEqual([0, '']);
    const c = JSON.parse(io.out);
    const compared = c.rows.map((r: { strategy: string }) => r.strategy);
    for (const strategy of ['tsp', 'tsp-causal', 'ring-kv', 'kvr-e', 'kvr-s']) expect(compared).toContain(strategy);
    expect(c.skipped.find((s: { strategy: string }) => s.strategy === 'ring-q').reason).toMatch(/^ring-q on 1024 GPUs with 1 layer needs \d+ plan ops, .*limit 2000000 ops/);
    // pp-chunked without --tp would have a stage a GPU, 1024 stages for 1 layer: the reason says what to give.
    expect(c.skipped.find((s: { strategy: string }) => s.strategy === 'pp-chunked').reason).toBe("1024 pipeline stages (--gpus / --tp) would exceed the model's 1 layer: give --tp N with --gpus / N <= 1 to include it");
  });

  test('a strategy that does not fit gets no speedup, and neither it nor an unfit baseline can be best', async () => {
    // llama2-13b on 4 x a100-40g at 64k over 10 GB/s links: kvr-s (5.3721 s) beats the best baseline
    // that fits, ring-q (6.4273 s), but needs more than 40 GB.
    const argv = ['compare', '--model', 'llama2-13b', '--gpu', 'a100-40g', '--gpus', '4', '--context', '65536', '--bandwidth', '10 GB/s'];
    const c = JSON.parse((await run([...argv, '--json'])).out);
    const row = (s: string) => c.rows.find((r: { strategy: string }) => r.strategy === s);
    expect([row('kvr-s').fits, row('tsp').fits, row('ring-kv').fits, row('ring-q').fits]).toEqual([false, false, true, true]);
    expect(row('kvr-s').ttft_s).toBeLessThan(row('ring-q').ttft_s);
    expect(c.best_baseline.strategy).toBe('ring-q');
    expect(c.best).toEqual(c.best_baseline);
    for (const r of c.rows) {
      expect(r.speedup_over_best_baseline).toBe(r.fits ? c.best_baseline.ttft_s / r.ttft_s : null);
    }
    const { code, out } = await run(argv);
    expect(code).toBe(0);
    expect(out).toContain('best baseline: ring-q (6.4273 s), the fastest of tsp, tsp-causal, tp, tp-sp, ring-kv, ring-q, pp-chunked that fits\nbest: ring-q (6.4273 s), the fastest strategy that fits\n');
    expect(out).toMatch(/^kvr-s +5\.3721 s +does not fit +.* NO /m);
    expect(out).toMatch(/^ring-q +6\.4273 s +1\.00x +.* yes /m);
    expect(out).toMatch(/^ring-kv +6\.8130 s +0\.94x +.* yes /m);
    expect(out).toMatch(/^tp +11\.9956 s +0\.54x /m);
  });

  test('when nothing fits: no best baseline, no best, no speedups, and the header says so', async () => {
    const argv = ['compare', '--model', 'llama2-70b', '--gpu', 'a100-40g', '--gpus', '2', '--context', '2048'];
    const c = JSON.parse((await run([...argv, '--json'])).out);
    expect(c.rows.length).toBeGreaterThan(0);
    expect([c.best_baseline, c.best]).toEqual([null, null]);
    for (const r of c.rows) expect([r.fits, r.speedup_over_best_baseline]).toEqual([false, null]);
    const { out } = await run(argv);
    expect(out).toContain('best baseline: none: no baseline (tsp, tsp-causal, tp, tp-sp, ring-kv, ring-q, pp-chunked) fits in memory, so no speedups\nbest: none: no strategy fits in memory on these GPUs\n');
    expect(out).not.toMatch(/\d\.\d\dx/);
  });

  test('--collective direct reaches the strategies built on collectives', async () => {
    const ring = JSON.parse((await run(['compare', '--gpus', '4', '--context', '4096', '--json'])).out);
    const direct = JSON.parse((await run(['compare', '--gpus', '4', '--context', '4096', '--collective', 'direct', '--latency', '50 us', '--json'])).out);
    expect(direct.collective).toBe('direct');
    const ttft = (c: { rows: { strategy: string; ttft_s: number }[] }, s: string) => c.rows.find((r) => r.strategy === s)!.ttft_s;
    expect(ttft(direct, 'kvr-e')).toBeGreaterThan(ttft(ring, 'kvr-e')); // latency only
    expect(ttft(direct, 'tp')).not.toBe(ttft(ring, 'tp'));
  });

  test.each([
    [['compare', '--strategy', 'tsp'], /^kvr: --strategy: kvr compare runs every strategy; leave --strategy out/],
    [['compare', '--partition', '1,2'], /^kvr: --partition: kvr compare runs every strategy/],
    [['compare', '--gpus', '8', '--tp', '3'], /^kvr: --tp: must divide --gpus 8 into whole groups \(got 3\)$/],
    [['compare', '--collective', 'nvls'], /^kvr: --collective: unknown value "nvls" \(allowed: auto, ring, tree, hierarchical, direct\)$/],
    [['compare', '--gpus', 'x'], /^kvr: --gpus: expected an integer/],
  ])('%j: one line naming the flag, exit 2', async (argv, message) => {
    const { code, out, err } = await run(argv);
    expect([code, out]).toEqual([2, '']);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err.trimEnd()).toMatch(message);
  });
});
