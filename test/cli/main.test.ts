import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[], files: Record<string, string> = {}) {
  const io = new MemoryIo(files);
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err, io };
}

const gpuFile = JSON.stringify({
  name: 'my-gpu',
  peak_flops: '100 TFLOP/s',
  hbm_bandwidth: '1 TB/s',
  memory: '40 GiB',
  launch_overhead: '0',
  efficiency: { gemm: 1, attention: 1, memory: 1 },
});

const topologyFile = JSON.stringify({
  name: 'slow-middle',
  nodes: [0, 1, 2, 3].map((i) => ({ id: `gpu${i}`, kind: 'gpu' })),
  links: [
    { a: 'gpu0', b: 'gpu1', bandwidth: '300 GB/s' },
    { a: 'gpu1', b: 'gpu2', bandwidth: '10 GB/s' },
    { a: 'gpu2', b: 'gpu3', bandwidth: '300 GB/s' },
  ],
});

describe('kvr simulate', () => {
  test('--json prints kvr-sim/result@1 with the exact field names of DESIGN §4', async () => {
    const { code, out, err } = await run(['simulate', '--model', 'llama2-7b', '--gpus', '4', '--context', '16384', '--strategy', 'kvr-e', '--json']);
    expect([code, err]).toEqual([0, '']);
    const result = JSON.parse(out);
    expect(result.schema).toBe('kvr-sim/result@1');
    for (const key of ['strategy', 'model', 'gpu', 'gpus', 'context', 'partition', 'ttft_s', 'flops_total', 'comm_bytes_total', 'ranks']) {
      expect(result).toHaveProperty(key);
    }
    for (const key of ['rank', 'tokens', 'flops', 'compute_s', 'wait_s', 'finish_s', 'sent_bytes', 'kv_cache_bytes', 'peak_mem_bytes']) {
      expect(result.ranks[0]).toHaveProperty(key);
    }
    expect(result.comm_bytes_total).toBe(24576 * 16384 * 32);
    expect(result.uncalibrated).toBe(true);
  });

  test('the table names the scenario, the TTFT, the memory verdict and the shape-aware preset\'s published sources', async () => {
    const { code, out } = await run(['simulate', '--gpus', '2', '--context', '4096']);
    expect(code).toBe(0);
    expect(out).toMatch(/^llama2-7b on 2 x a100-80g \(switch, 300 GB\/s\), 4096 tokens, kvr-e/);
    expect(out).toMatch(/TTFT \d/);
    expect(out).toMatch(/memory: fits on every rank/);
    expect(out).toMatch(/^gpu profile: a100-80g datasheet, shape-aware: kernel efficiencies from published benchmarks \(calibration\/profiles\/h200-pytorch\.json, arXiv 2407\.08608, .*arXiv 2307\.08691\), not measured on this GPU$/m);
    expect(out).toMatch(/^gpu source: NVIDIA A100 datasheet \(312 TFLOP\/s fp16 dense, no fp8, 2039 GB\/s.*\); shape-aware \(fused stack\): .*A100 GEMM plateau 0\.76/m);
    expect(out.split('\n').filter((line) => /^\d\s/.test(line))).toHaveLength(2);
  });

  test('ttft_s is the end of the logits op, makespan_s when every rank is idle (issue 13\'s front-loaded kvr case)', async () => {
    const { code, out, err } = await run([
      'simulate', '--model', 'llama2-7b', '--gpu', 'ideal', '--gpus', '2', '--context', '4096', '--strategy', 'kvr',
      '--partition', '2432,1664', '--topology', 'switch', '--bandwidth', '300 GB/s', '--latency', '0', '--json',
    ]);
    expect([code, err]).toEqual([0, '']);
    const result = JSON.parse(out);
    expect(result.ttft_s.toFixed(7)).toBe('0.3287094');
    expect(result.makespan_s.toFixed(6)).toBe('0.330504');
    const text = (await run(['simulate', '--gpu', 'ideal', '--gpus', '2', '--context', '4096', '--strategy', 'kvr', '--partition', '2432,1664', '--bandwidth', '300 GB/s', '--latency', '0'])).out;
    expect(text).toMatch(/^TTFT 328\.71 ms   all ranks idle 330\.50 ms   /m);
  });

  test('a plan that does not fit is reported, with exit 0', async () => {
    const { code, out } = await run(['simulate', '--strategy', 'single', '--context', '1048576']);
    expect(code).toBe(0);
    expect(out).toMatch(/memory: does NOT fit: rank 0 needs/);
  });

  test('--trace writes a Perfetto trace', async () => {
    const { code, io } = await run(['simulate', '--gpus', '2', '--context', '2048', '--trace', 'out.json']);
    expect(code).toBe(0);
    const trace = JSON.parse(io.files.get('out.json')!);
    expect(trace.traceEvents.some((e: { name: string }) => e.name === 'qkv')).toBe(true);
  });

  test('model, GPU and topology files are read; kvr takes an explicit partition', async () => {
    const model = JSON.stringify({ ...MODEL_PRESETS['llama2-7b'], name: 'my-llama' });
    const { code, out, err } = await run(
      ['simulate', '--model', 'm.json', '--gpu', 'g.json', '--topology', 't.json', '--context', '8000', '--strategy', 'kvr', '--partition', '2600,2100,1800,1500', '--json'],
      { 'm.json': model, 'g.json': gpuFile, 't.json': topologyFile },
    );
    expect([code, err]).toEqual([0, '']);
    const result = JSON.parse(out);
    expect([result.model, result.gpu, result.topology, result.gpus]).toEqual(['my-llama', 'my-gpu', 'slow-middle', 4]);
    expect(result.partition).toEqual([2600, 2100, 1800, 1500]);
  });

  test('--attention eager is slower than flash and says so in the JSON', async () => {
    const flash = JSON.parse((await run(['simulate', '--gpus', '2', '--context', '8192', '--json'])).out);
    const eager = JSON.parse((await run(['simulate', '--gpus', '2', '--context', '8192', '--attention', 'eager', '--json'])).out);
    expect(eager.attention).toBe('eager');
    expect(eager.ttft_s).toBeGreaterThan(flash.ttft_s);
  });

  test('the same command prints the same bytes twice', async () => {
    const argv = ['simulate', '--strategy', 'tsp', '--topology', 'ring', '--gpus', '6', '--context', '10000', '--json'];
    expect((await run(argv)).out).toBe((await run(argv)).out);
  });
});

describe('bad input: one line naming the field and what is allowed, exit 2', () => {
  test.each([
    [['simulate', '--model', 'llama9'], /^kvr: --model: unknown model "llama9" \(presets: llama2-7b, .*; test models: tiny-llama, tiny-falcon; hf:<repo id>; or a JSON file or folder with config\.json\)$/],
    [['simulate', '--gpu', 'b300'], /^kvr: --gpu: unknown GPU "b300" \(presets: a100-40g, a100-80g, h100-sxm, h200, h100-pcie, gh200, h20, b200, l40s, mi300x, ideal; a calibrated profile in kvr-out\/profiles\/ or calibration\/profiles\/; or a JSON file\)$/],
    [['simulate', '--topology', 'torus'], /^kvr: --topology: unknown topology "torus" \(presets: switch, ring, pcie, multi-node, pcie-2s; or a JSON file\)$/],
    [['simulate', '--strategy', 'ring-attn'], /^kvr: --strategy: unknown strategy "ring-attn" \(allowed: single, tsp, tsp-causal, kvr, kvr-e, kvr-s, kvr-p, ring-kv, tp, tp-sp, kvr-tp, ring-q, pp-chunked\)$/],
    [['simulate', '--strategy', 'kvr', '--gpus', '2', '--context', '100', '--partition', '50,49'], /^kvr: --partition: chunks must sum to the context 100 \(they sum to 99\)$/],
    [['simulate', '--strategy', 'kvr', '--gpus', '2', '--context', '100', '--partition', '100,0'], /^kvr: --partition: chunk 1 must be a positive integer/],
    [['simulate', '--strategy', 'kvr', '--gpus', '2', '--context', '100', '--partition', '120,-20'], /^kvr: --partition: chunk 1 must be a positive integer/],
    [['simulate', '--strategy', 'kvr', '--gpus', '2', '--context', '100'], /^kvr: --partition: is required by strategy kvr/],
    [['simulate', '--partition', '50,50', '--gpus', '2', '--context', '100'], /^kvr: --partition: only strategy kvr takes a partition/],
    [['simulate', '--gpus', '0'], /^kvr: --gpus: expected an integer in 1\.\.1024 \(got 0\)$/],
    [['simulate', '--gpus', 'eight'], /^kvr: --gpus: expected an integer/],
    [['simulate', '--gpus', '8', '--context', '7'], /^kvr: --context: expected an integer in 8\.\.16777216/],
    [['simulate', '--bandwidth', '0 GB/s'], /^kvr: --bandwidth: must be > 0/],
    [['simulate', '--bandwidth', '-3 GB/s'], /^kvr: --bandwidth: expected a bandwidth/],
    [['simulate', '--bandwidth', '300'], /^kvr: --bandwidth: needs a unit, e.g. "300 GB\/s"/],
    [['simulate', '--bandwidth', '300 parsecs'], /^kvr: --bandwidth: expected a bandwidth such as "300 GB\/s"/],
    [['simulate', '--latency', 'quick'], /^kvr: --latency: expected a time such as "2 us"/],
    [['simulate', '--gpu', 'ideal'], /^kvr: --bandwidth: is required: GPU ideal has no default NVLink bandwidth/],
    [['simulate', '--nic-bandwidth', '50 GB/s'], /^kvr: --nic-bandwidth: only applies to --topology multi-node/],
    [['simulate', '--strategy', 'single', '--gpus', '4'], /^kvr: --gpus: strategy single runs on one GPU/],
    [['simulate', '--model', 'missing.json'], /^kvr: --model: cannot read "missing.json": ENOENT/],
    [['simulate', '--model', 'bad.json'], /^kvr: --model: "bad.json" is not valid JSON: /],
    [['simulate', '--model', 'partial-model.json'], /^kvr: partial-model.json.hidden: is required$/],
    [['simulate', '--gpu', 'partial-gpu.json'], /^kvr: partial-gpu.json.efficiency: is required$/],
    [['simulate', '--topology', 'bad.json'], /^kvr: --topology: "bad.json" is not valid JSON/],
    [['simulate', '--topology', 't.json', '--bandwidth', '1 GB/s'], /^kvr: --bandwidth: only applies to topology presets/],
    [['simulate', '--topology', 't.json', '--gpus', '5'], /^kvr: --gpus: expected an integer in 1\.\.4/],
    [['simulate', '--trace', '/nonexistent/dir/t.json', '--gpus', '2', '--context', '64'], /^kvr: --trace: cannot write/],
    [['simulate', '--frobnicate'], /^kvr: unknown option '--frobnicate'/],
    [['simulate', '--gpus'], /^kvr: option '--gpus <n>' argument missing$/],
    [['simulate', 'extra'], /^kvr: too many arguments/],
    [['simulate-all'], /^kvr: unknown command 'simulate-all'/],
    [['simulate', '--attention', 'sparse'], /^kvr: --attention: unknown value "sparse" \(allowed: flash, eager\)$/],
    [['simulate', '--strategy', 'kvr-tp', '--gpus', '8', '--tp', '3'], /^kvr: --tp: must divide --gpus 8 into whole groups \(got 3\)$/],
    [['simulate', '--strategy', 'kvr-tp', '--gpus', '8'], /^kvr: --tp: is required by strategy kvr-tp: GPUs per tensor-parallel group/],
    [['simulate', '--strategy', 'kvr-tp', '--gpus', '8', '--tp', 'four'], /^kvr: --tp: expected an integer/],
    [['simulate', '--strategy', 'tp', '--tp', '2'], /^kvr: --tp: only applies to --strategy kvr-tp, ring-kv, ring-q, pp-chunked /],
    [['simulate', '--strategy', 'ring-kv', '--pp', '2'], /^kvr: --pp: only applies to --strategy pp-chunked \(strategy is ring-kv\)$/],
    [['simulate', '--strategy', 'pp-chunked', '--gpus', '4', '--pp', '40'], /^kvr: --pp: expected an integer in 1\.\.32/],
    [['simulate', '--strategy', 'pp-chunked', '--gpus', '4', '--pp', '2'], /^kvr: --pp: stages x tp must equal the 4 GPUs \(got 2 x 1 = 2\)$/],
    [['simulate', '--strategy', 'pp-chunked', '--gpus', '4', '--context', '4096', '--chunk', '5000'], /^kvr: --chunk: /],
    [['simulate', '--strategy', 'ring-q', '--gpus', '8', '--tp', '3'], /^kvr: --tp: must divide --gpus 8 into whole groups \(got 3\)$/],
    [['simulate', '--strategy', 'ring-kv', '--gpus', '8', '--context', '12'], /^kvr: --context: ring-kv cuts the context into 2 x 8 = 16 zig-zag chunks: needs at least 16 tokens \(got 12\)$/],
    [['simulate', '--strategy', 'tp', '--model', 'tiny-llama', '--gpus', '64', '--context', '64'], /^kvr: --gpus: tensor parallelism over 64 GPUs needs at least one attention head/],
    [['simulate', '--strategy', 'kvr-e', '--collective', 'direct'], /^kvr: --collective: only applies to strategies with collectives \(tsp, tsp-causal, tp, tp-sp, kvr-tp, ring-kv, ring-q, pp-chunked\); strategy is kvr-e$/],
    [['simulate', '--strategy', 'tsp', '--collective', 'nvls'], /^kvr: --collective: unknown value "nvls" \(allowed: auto, ring, tree, hierarchical, direct\)$/],
    [['simulate', '--oversubscription', '2'], /^kvr: --oversubscription: only applies to --topology multi-node \(topology is switch\)$/],
    [['simulate', '--topology', 'multi-node', '--oversubscription', '0.5'], /^kvr: --oversubscription: expected a ratio >= 1, e.g. 2 \(got "0.5"\)$/],
    [['simulate', '--topology', 'multi-node', '--socket-bandwidth', '50 GB/s'], /^kvr: --socket-bandwidth: only applies to --topology pcie-2s/],
    [['simulate', '--gpus-per-switch', '4'], /^kvr: --gpus-per-switch: only applies to --topology pcie or pcie-2s \(topology is switch\)$/],
    [['exec', '--strategy', 'ring-kv', '--gpus', '2', '--context', '64', '--model', 'tiny-llama', '--backend', 'cuda'], /^kvr: --strategy: ring-kv plans run on the cpu backend only; the cuda backend runs single, tsp, tsp-causal, kvr, kvr-e, kvr-s, kvr-p plans$/],
  ])('%j', async (argv, message) => {
    const files = {
      'bad.json': '{"name": "x",',
      'partial-model.json': '{"name": "x", "layers": 2}',
      'partial-gpu.json': '{"name": "x", "peak_flops": "1 TFLOP/s"}',
      't.json': topologyFile,
    };
    const { code, out, err } = await run(argv, files);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err.endsWith('\n')).toBe(true);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err.trimEnd()).toMatch(message);
  });
});

describe('kvr demo and help', () => {
  test('demo prints the paper setting with speedups over TSP', async () => {
    const { code, out } = await run(['demo']);
    expect(code).toBe(0);
    for (const fragment of ['llama2-7b', 'falcon-7b', '300 GB/s', '10 GB/s', '16384', 'kvr-e vs tsp', 'not measured on this GPU']) {
      expect(out).toContain(fragment);
    }
    expect(out.split('\n').filter((line) => /^(llama2-7b|falcon-7b)\s/.test(line))).toHaveLength(16);
    // Then one kvr compare table of every strategy for llama2-7b, 8 x a100-80g, 16k, 300 GB/s.
    expect(out).toMatch(/compare: llama2-7b on 8 x a100-80g \(switch, 300 GB\/s\), 16384 tokens, auto collectives/);
    for (const strategy of ['tsp-causal', 'tp', 'tp-sp', 'ring-kv', 'kvr-s', 'kvr-tp \\(tp 4\\)']) expect(out).toMatch(new RegExp(`^${strategy}\\s`, 'm'));
    // The GPU profile is named once, above both tables.
    expect(out.split('\n').filter((line) => line.startsWith('gpu profile:'))).toHaveLength(1);
  });

  test('demo --json rows: every KVR-E speedup is TSP TTFT over KVR-E TTFT', async () => {
    const { out } = await run(['demo', '--json']);
    const demo = JSON.parse(out);
    expect(demo.rows).toHaveLength(16);
    for (const row of demo.rows) expect(row.speedup_over_tsp['kvr-e']).toBe(row.ttft_s.tsp / row.ttft_s['kvr-e']);
    expect(demo.compare.schema).toBe('kvr-compare@3');
    expect(demo.compare.rows).toHaveLength(12);
  });

  test('help and no arguments print usage with exit 0', async () => {
    expect((await run([])).out).toMatch(/Usage: kvr/);
    const help = await run(['simulate', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--strategy <name>\s+single\|tsp\|tsp-causal\|kvr\|kvr-e/);
  });
});

describe('issue 18: context parallelism with TP inside, pass-Q and chunked pipeline prefill at scale', () => {
  const model405b = readFileSync(new URL('../../examples/llama3.1-405b.json', import.meta.url), 'utf8');
  // One pass of a whole sequential SwiGLU model over C tokens, causal attention, and one logit row (DESIGN §2).
  const flops = (m: { layers: number; hidden: number; heads: number; kv_heads: number; head_dim: number; ffn: number; vocab: number }, C: number) =>
    m.layers * (2 * C * m.hidden * (m.heads + 2 * m.kv_heads) * m.head_dim + 2 * m.heads * m.head_dim * C * (C + 1) + 2 * C * m.heads * m.head_dim * m.hidden + 6 * C * m.hidden * m.ffn) +
    2 * m.hidden * m.vocab;

  test.each(['ring-kv', 'ring-q'])('%s --tp 8 on 32 GPUs over 4 nodes, llama3.1-405b from examples/, 128k: runs, FLOPs by hand', async (strategy) => {
    const argv = ['simulate', '--strategy', strategy, '--tp', '8', '--gpus', '32', '--topology', 'multi-node', '--model', 'm.json', '--context', '131072', '--json'];
    const { code, out, err } = await run(argv, { 'm.json': model405b });
    expect([code, err]).toEqual([0, '']);
    const r = JSON.parse(out);
    expect(r.tensor_parallel).toBe(8);
    expect(r.partition).toEqual(new Array(32).fill(131072 / 4));
    expect(r.flops_total).toBe(flops(JSON.parse(model405b), 131072));
    expect(r.ring_choice.recommended).toBe('ring-kv');
  });

  test('pp-chunked --pp 4 on 4 H100 for llama2-70b at 128k: 16 chunks of 8192, FLOPs by hand, a quarter of the layers a stage', async () => {
    const argv = ['simulate', '--strategy', 'pp-chunked', '--pp', '4', '--gpus', '4', '--model', 'llama2-70b', '--gpu', 'h100-sxm', '--context', '131072', '--json'];
    const { code, out, err } = await run(argv);
    expect([code, err]).toEqual([0, '']);
    const r = JSON.parse(out);
    expect(r.pipeline).toEqual({ stages: 4, chunk_tokens: 8192, chunks: 16 });
    expect(r.flops_total).toBe(flops(MODEL_PRESETS['llama2-70b']!, 131072));
    // 20 layers of K,V (2 x 8 x 128 x 2 bytes a token and layer) for every token on every stage.
    for (const rank of r.ranks) expect(rank.kv_cache_bytes).toBe(131072 * 4096 * 20);
  });
});
