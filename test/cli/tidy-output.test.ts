import { describe, expect, test } from 'vitest';
import { formatBytesColumn, formatPartition, formatSecondsColumn } from '../../cli/format.js';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

describe('one unit per column', () => {
  test('times: the unit of the largest value, the decimals of the smallest non-zero one', () => {
    expect(formatSecondsColumn([1.282, 0.9607])).toEqual(['1.2820 s', '0.9607 s']);
    expect(formatSecondsColumn([0, 57.92e-6, 341.54e-6])).toEqual(['0.00 us', '57.92 us', '341.54 us']);
    expect(formatSecondsColumn([1.28235, 0.168034], 5)).toEqual(['1.28235 s', '0.16803 s']);
  });
  test('bytes: decimal (GB = 1e9 B) for traffic, binary (GiB = 2^30 B) for memory', () => {
    expect(formatBytesColumn([0, 1.342e9, 120.3e9], 'decimal')).toEqual(['0.0 GB', '1.3 GB', '120.3 GB']);
    expect(formatBytesColumn([80 * 2 ** 30, 2 ** 29], 'binary')).toEqual(['80.00 GiB', '0.50 GiB']);
  });
});

test('a partition of more than 8 chunks is summarised in the headline', () => {
  expect(formatPartition([5000, 4200, 3800, 3384])).toBe('5000,4200,3800,3384');
  expect(formatPartition(Array(64).fill(2048))).toBe('2048 x 64');
  expect(formatPartition([9, 8, 7, 6, 5, 4, 3, 2, 1])).toBe('9,8,7,...,2,1 (9 chunks, 1..9; all in --json)');
});

describe('--json carries the resolved scenario in base units', () => {
  test('simulate: model shape, GPU numbers, topology links with bandwidth and latency, defaults filled', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['simulate', '--gpus', '2', '--context', '4k', '--bandwidth', '10 GB/s', '--latency', '6 us', '--json'], io)).toBe(0);
    const { scenario } = JSON.parse(io.out);
    expect(scenario.model).toMatchObject({ name: 'llama2-7b', layers: 32, hidden: 4096, kv_heads: 32 });
    expect(scenario.gpu).toMatchObject({ name: 'a100-80g', peak_flops_per_s: 312e12, memory_bytes: 80 * 2 ** 30 });
    expect([scenario.gpus, scenario.context_tokens, scenario.strategy, scenario.attention]).toEqual([2, 4096, 'kvr-e', 'flash']);
    expect(scenario.topology.bandwidths_Bps).toEqual([10e9]);
    expect(scenario.topology.links[0]).toEqual({ a: 'gpu0', b: 'switch', bandwidth_ab_Bps: 10e9, bandwidth_ba_Bps: 10e9, latency_s: 3e-6 });
  });
  test('compare: kvr-compare@3 gives the links as numbers', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['compare', '--gpus', '2', '--context', '2048', '--bandwidth', '10 GB/s', '--json'], io)).toBe(0);
    const c = JSON.parse(io.out);
    expect(c.schema).toBe('kvr-compare@3');
    expect(c.links).toEqual({ bandwidths_Bps: [10e9], latencies_s: [1e-6], count: 2 });
    expect(c.scenario.collective).toBe('auto'); // the NCCL-style tuner is the default (issue 15)
  });
});
