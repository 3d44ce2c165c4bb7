import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[]) {
  const io = new MemoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

const MUST_SHOW = ['collective', '--op', 'all-reduce', '--gpus', '16', '--topology', 'multi-node', '--gpus-per-node', '8', '--nic-bandwidth', '50 GB/s', '--gpu', 'h100-sxm', '--sizes', '1G', '--json'];

describe('kvr collective', () => {
  test('all-reduce of 1 GiB over 2 nodes of 8 H100 with a 50 GB/s NIC per GPU: busbw 300-450 GB/s (8 NICs a node at once)', async () => {
    const { code, out } = await run(MUST_SHOW);
    expect(code).toBe(0);
    const c = JSON.parse(out);
    expect(c.schema).toBe('kvr-collective@1');
    const row = c.rows[0];
    expect(row).toMatchObject({ size_bytes: 2 ** 30, algorithm: 'ring', channels: 8, protocol: 'simple' });
    expect(row.busbw_GBps).toBeGreaterThan(300);
    expect(row.busbw_GBps).toBeLessThan(450);
    expect(row.busbw_GBps).toBeCloseTo((row.algbw_GBps * 2 * 15) / 16, 9);
  });

  test('--collective ring --channels 1: every crossing through one NIC, the single-NIC figure, and it says so', async () => {
    const { code, out } = await run([...MUST_SHOW, '--collective', 'ring', '--channels', '1']);
    expect(code).toBe(0);
    const c = JSON.parse(out);
    expect(c.rows[0]).toMatchObject({ algorithm: 'ring', channels: 1 });
    expect(c.rows[0].busbw_GBps).toBeGreaterThan(45);
    expect(c.rows[0].busbw_GBps).toBeLessThanOrEqual(50);
    expect(c.notes.join(' ')).toMatch(/single NIC/);
  });

  test('multi-node presets: 4 NICs shared by 8 GPUs, or nodes of 4 GPUs, halve the inter-node bandwidth; a rail-optimised leaf with a full spine changes nothing', async () => {
    const busbw = async (extra: string[]) => JSON.parse((await run([...MUST_SHOW, ...extra])).out).rows[0];
    const full = await busbw([]);
    const shared = await busbw(['--nics-per-node', '4']);
    const small = await busbw(['--gpus-per-node', '4']);
    const rails = await busbw(['--leaf', 'rails']);
    expect(shared.channels).toBe(4);
    expect(shared.busbw_GBps / full.busbw_GBps).toBeGreaterThan(0.45);
    expect(shared.busbw_GBps / full.busbw_GBps).toBeLessThan(0.55);
    expect(small.busbw_GBps / full.busbw_GBps).toBeGreaterThan(0.45);
    expect(small.busbw_GBps / full.busbw_GBps).toBeLessThan(0.55);
    expect(rails.busbw_GBps).toBeCloseTo(full.busbw_GBps, 6);
  });

  test('blocks of 2^31 bytes and more keep their size: 8 GiB over 4 GPUs (2 GiB a rank) on one PCIe switch runs at the link, as 4 GiB does', async () => {
    const { code, out } = await run(['collective', '--gpus', '4', '--topology', 'pcie', '--gpus-per-switch', '4', '--bandwidth', '24 GB/s', '--sizes', '4G,8G', '--json']);
    expect(code).toBe(0);
    const [four, eight] = JSON.parse(out).rows;
    // Ring all-reduce: busbw tends to the link's 24 GB/s; doubling the size roughly doubles the time.
    expect(eight.busbw_GBps).toBeGreaterThan(23.9);
    expect(eight.busbw_GBps).toBeLessThanOrEqual(24);
    expect(eight.time_s / four.time_s).toBeCloseTo(2, 3);
  });

  test('a table like nccl-tests: size, time, algbw, busbw, and what ran', async () => {
    const { code, out } = await run(['collective', '--gpus', '8', '--gpu', 'h100-sxm', '--sizes', '1K,1G', '--op', 'all-gather']);
    expect(code).toBe(0);
    expect(out).toMatch(/^# all-gather on switch, h100-sxm; busbw = algbw x \(n-1\)\/n/);
    expect(out).toMatch(/^size +time \(us\) +algbw \(GB\/s\) +busbw \(GB\/s\) +algorithm +protocol +channels$/m);
    expect(out).toMatch(/^1K .* ring +ll +1$/m);
    expect(out).toMatch(/^1G .* ring +simple +1$/m);
  });

  test.each([
    [['collective', '--op', 'broadcast'], /^kvr: --op: .*all-reduce, all-gather, reduce-scatter, all-to-all, send-recv/],
    [['collective', '--sizes', '1X'], /^kvr: --sizes: expected sizes such as 1M, 64M:4G/],
    [['collective', '--collective', 'nvls'], /^kvr: --collective: .*auto, ring, tree, hierarchical, direct/],
    [['collective', '--topology', 'multi-node', '--leaf', 'x'], /^kvr: --leaf: unknown value "x" \(allowed: shared, rails\)$/],
    [['collective', '--topology', 'multi-node', '--nics-per-node', '3'], /^kvr: --nics-per-node: must divide --gpus-per-node 8/],
  ])('%j: one line naming the flag, exit 2', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err.trim()).toMatch(message);
  });
});
