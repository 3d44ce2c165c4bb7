import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[]) {
  const io = new MemoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

const base = ['simulate', '--model', 'tiny-llama', '--gpu', 'ideal', '--strategy', 'kvr-e', '--gpus', '2', '--context', '1024', '--bandwidth', '10 GB/s', '--json'];

describe('--dtype, --ffn-dtype, --kv-dtype', () => {
  test('the JSON result records the dtypes; fp16 by default', async () => {
    const plain = JSON.parse((await run(base)).out);
    expect(plain.precision).toEqual({ dtype: 'fp16', ffn_dtype: 'fp16', kv_dtype: 'fp16' });
    const fp8 = JSON.parse((await run([...base, '--dtype', 'fp8'])).out);
    expect(fp8.precision).toEqual({ dtype: 'fp8', ffn_dtype: 'fp8', kv_dtype: 'fp8' });
    // Bytes halve: K,V sends, KV cache, weights.
    expect(fp8.comm_bytes_total).toBe(plain.comm_bytes_total / 2);
    expect(fp8.ranks[1].kv_cache_bytes).toBe(plain.ranks[1].kv_cache_bytes / 2);
    expect(fp8.ranks[0].weights_bytes).toBe(plain.ranks[0].weights_bytes / 2);
    // The ideal GPU's FLOP time at the fp8 peak: compute halves exactly.
    expect(fp8.ranks[0].compute_s).toBe(plain.ranks[0].compute_s / 2);
  });

  test('--kv-dtype alone: the sends halve, the weights and compute do not', async () => {
    const plain = JSON.parse((await run(base)).out);
    const kv = JSON.parse((await run([...base, '--kv-dtype', 'fp8'])).out);
    expect(kv.precision).toEqual({ dtype: 'fp16', ffn_dtype: 'fp16', kv_dtype: 'fp8' });
    expect(kv.comm_bytes_total).toBe(plain.comm_bytes_total / 2);
    expect(kv.ranks[0].weights_bytes).toBe(plain.ranks[0].weights_bytes);
    expect(kv.ranks[0].compute_s).toBe(plain.ranks[0].compute_s);
  });

  test('bf16 costs what fp16 costs', async () => {
    const fp16 = JSON.parse((await run(base)).out);
    const bf16 = JSON.parse((await run([...base, '--dtype', 'bf16'])).out);
    expect(bf16.ttft_s).toBe(fp16.ttft_s);
    expect(bf16.precision.dtype).toBe('bf16');
  });

  test.each([
    [['--dtype', 'int4'], 'kvr: --dtype: unknown value "int4" (allowed: fp16, bf16, fp8)\n'],
    [['--ffn-dtype', 'fp4'], 'kvr: --ffn-dtype: unknown value "fp4" (allowed: fp16, bf16, fp8)\n'],
    [['--kv-dtype', 'int8'], 'kvr: --kv-dtype: unknown value "int8" (allowed: fp16, bf16, fp8)\n'],
    [['--gpu', 'a100-80g', '--dtype', 'fp8'], 'kvr: --dtype: fp8 needs a GPU with an fp8 tensor-core peak; GPU a100-80g has none (allowed there: fp16, bf16)\n'],
    [['--gpu', 'a100-40g', '--ffn-dtype', 'fp8'], 'kvr: --ffn-dtype: fp8 needs a GPU with an fp8 tensor-core peak; GPU a100-40g has none (allowed there: fp16, bf16)\n'],
  ])('bad input %j: one line, exit 2', async (extra, message) => {
    const { code, err, out } = await run([...base, ...extra]);
    expect(code).toBe(2);
    expect(err).toBe(message);
    expect(out).toBe('');
  });

  test('an fp8 KV cache runs on an A100 (storage, not compute)', async () => {
    const { code } = await run([...base.filter((a) => a !== '--json'), '--gpu', 'a100-80g', '--kv-dtype', 'fp8']);
    expect(code).toBe(0);
  });
});

describe('kvr simulate --gpu h100-sxm says where its defaults come from', () => {
  test('the datasheet, the FlashAttention-3 paper, the fitted H200 profile and the matmul (MAMF) table', async () => {
    const { code, out } = await run(['simulate', '--gpu', 'h100-sxm', '--strategy', 'single', '--context', '4096']);
    expect(code).toBe(0);
    expect(out).toMatch(
      /^gpu source: NVIDIA H100 SXM datasheet \(989 TFLOP\/s fp16 dense, 1979 fp8 dense.*https:\/\/www\.nvidia\.com\/en-us\/data-center\/h100\/\).*calibration\/profiles\/h200-pytorch\.json.*FlashAttention-3, arXiv 2407\.08608.*Maximum Achievable Matmul FLOPS/m,
    );
  });

  test('a100-80g cites FlashAttention-2 for its attention', async () => {
    const { code, out } = await run(['simulate', '--gpu', 'a100-80g', '--strategy', 'single', '--context', '4096']);
    expect(code).toBe(0);
    expect(out).toMatch(/^gpu source: NVIDIA A100 datasheet .*A100 square causal attention 0\.73 of peak \(FlashAttention-2, arXiv 2307\.08691/m);
  });

  test('a shape-aware preset prints no band (nothing measured) and its stack', async () => {
    const { code, out } = await run(['simulate', '--gpu', 'mi300x', '--strategy', 'single', '--context', '4096', '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(out);
    expect(result.ttft_band).toBeUndefined();
    expect(result.stack).toBe('fused');
    expect(result.uncalibrated).toBe(true);
  });
});

describe('every scenario entry point takes the dtypes', () => {
  const io = (files: Record<string, string> = {}) => new MemoryIo(files);

  test('kvr compare --dtype fp8: every strategy in fp8, recorded once', async () => {
    const m = io();
    expect(await runCli(['compare', '--model', 'tiny-llama', '--gpu', 'h100-sxm', '--gpus', '2', '--context', '1024', '--dtype', 'fp8', '--json'], m)).toBe(0);
    const comparison = JSON.parse(m.out);
    expect(comparison.precision).toEqual({ dtype: 'fp8', ffn_dtype: 'fp8', kv_dtype: 'fp8' });
  });

  test('kvr partition --kv-dtype fp8 records the dtypes', async () => {
    const m = io();
    expect(await runCli(['partition', '--model', 'tiny-llama', '--gpu', 'ideal', '--gpus', '2', '--context', '512', '--bandwidth', '10 GB/s', '--kv-dtype', 'fp8', '--json'], m)).toBe(0);
    expect(JSON.parse(m.out).precision).toEqual({ dtype: 'fp16', ffn_dtype: 'fp16', kv_dtype: 'fp8' });
  });

  test('sweep axes dtype and kv_dtype: a column each; fp8 on an A100 is an error row, not a failed sweep', async () => {
    const spec = 'axes:\n  model: [tiny-llama]\n  gpu: [h100-sxm, a100-80g]\n  gpus: [2]\n  context: [1024]\n  strategy: [kvr-e]\n  dtype: [fp16, fp8]\n';
    const m = io({ '/w/spec.yaml': spec });
    expect(await runCli(['sweep', '/w/spec.yaml', '--jobs', '0', '--out', '/w/spec'], m)).toBe(0);
    const rows = m.files.get('/w/spec.jsonl')!.trim().split('\n').map((l: string) => JSON.parse(l));
    expect(rows.map((r: { gpu: string; dtype: string }) => `${r.gpu} ${r.dtype}`)).toEqual(['h100-sxm fp16', 'h100-sxm fp8', 'a100-80g fp16', 'a100-80g fp8']);
    expect(rows[1].ttft_s).toBeLessThan(rows[0].ttft_s);
    expect(rows[3].error).toMatch(/fp8 needs a GPU with an fp8 tensor-core peak; GPU a100-80g has none/);
    expect(m.files.get('/w/spec.csv')!.split('\n')[0]).toMatch(/,dtype,ffn_dtype,kv_dtype,/);
  });

  test('kvr plan --dtype fp8: rows on GPUs without fp8 are errors; each row reproduces with --dtype fp8', async () => {
    const catalogue = 'offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: nvswitch, gpus_per_node: 8, gpu_counts: [2]}\n  - {gpu: a100-80g, price_per_gpu_hour: 1, interconnect: nvswitch, gpus_per_node: 8, gpu_counts: [2]}\n';
    const m = io({ '/p/cat.yaml': catalogue });
    expect(await runCli(['plan', '--model', 'tiny-llama', '--catalogue', '/p/cat.yaml', '--ttft', '1 s', '--context', '1024', '--strategies', 'kvr-e', '--dtype', 'fp8', '--jobs', '0', '--json'], m)).toBe(0);
    const plan = JSON.parse(m.out);
    expect(plan.precision).toEqual({ dtype: 'fp8', ffn_dtype: 'fp8', kv_dtype: 'fp8' });
    const byGpu = Object.fromEntries(plan.candidates.map((c: { gpu: string }) => [c.gpu, c]));
    expect(byGpu['a100-80g'].error).toMatch(/fp8 needs a GPU with an fp8 tensor-core peak/);
    expect(byGpu['h100-sxm'].error).toBeNull();
    expect(byGpu['h100-sxm'].command).toMatch(/--dtype fp8$/);
    expect(await runCli(['plan', '--ttft', '1 s', '--dtype', 'fp4'], io())).toBe(2);
  });

  test('the native executor runs fp16 only: kvr exec and export-plan refuse fp8, and export a plain model', async () => {
    const scenario = ['--model', 'tiny-llama', '--gpu', 'ideal', '--strategy', 'kvr-e', '--gpus', '2', '--context', '64', '--bandwidth', '10 GB/s'];
    for (const command of ['exec', 'export-plan']) {
      const m = io();
      expect(await runCli([command, ...scenario, '--kv-dtype', 'fp8'], m)).toBe(2);
      expect(m.err).toBe('kvr: --kv-dtype: the native executor runs fp16 and bf16 only (allowed: fp16, bf16); simulate fp8 with kvr simulate\n');
    }
    const m = io();
    expect(await runCli(['export-plan', ...scenario, '--dtype', 'bf16'], m)).toBe(0);
    expect(JSON.parse(m.out).model.precision).toBeUndefined();
  });
});
