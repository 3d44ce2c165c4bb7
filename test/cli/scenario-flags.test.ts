import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[]) {
  const io = new MemoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('scenario flags: links', () => {
  test.each([
    [['--strategy', 'single']],
    [['--strategy', 'kvr-e', '--gpus', '1']],
    [['--strategy', 'single', '--topology', 'pcie']],
  ])('one GPU needs no link: %j on the ideal GPU (no default link) runs without --bandwidth', async (flags) => {
    const { code, out, err } = await run(['simulate', '--gpu', 'ideal', '--context', '4096', ...flags, '--json']);
    expect([code, err]).toEqual([0, '']);
    const result = JSON.parse(out);
    expect(result.gpus).toBe(1);
    expect(result.comm_bytes_total).toBe(0);
    // llama2-7b at 4096 tokens: 5.7450818437120e13 FLOPs at 100 TFLOP/s.
    expect(result.flops_total).toBe(57450818437120);
    expect(result.ttft_s).toBeCloseTo(0.5745081843712, 12);
  });

  test('the table says the one GPU has no links', async () => {
    const { code, out } = await run(['simulate', '--gpu', 'ideal', '--strategy', 'single', '--context', '4096']);
    expect(code).toBe(0);
    expect(out).toMatch(/^llama2-7b on 1 x ideal \(switch, no links\), 4096 tokens, single\n/);
  });

  test.each([
    [['--gpus', '2']],
    [['--strategy', 'tsp']],
    [['--strategy', 'kvr-e', '--gpus', '4', '--topology', 'pcie']],
  ])('several GPUs on a GPU with no default link still need --bandwidth: %j', async (flags) => {
    const { code, out, err } = await run(['simulate', '--gpu', 'ideal', '--context', '4096', ...flags]);
    expect([code, out]).toEqual([2, '']);
    expect(err).toMatch(/^kvr: --bandwidth: is required: GPU ideal has no default (NVLink|PCIe) bandwidth \(e\.g\. "300 GB\/s"\)\n$/);
  });

  test('a bad --latency is still refused on one GPU', async () => {
    const { code, err } = await run(['simulate', '--gpu', 'ideal', '--strategy', 'single', '--latency', 'soon']);
    expect(code).toBe(2);
    expect(err).toMatch(/^kvr: --latency: /);
  });
});
