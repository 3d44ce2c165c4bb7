import { describe, expect, test } from 'vitest';
import { buildPartitionTable } from '../../../sim/partition/build-table.js';
import { fastSearch } from '../../../sim/partition/fast-search.js';
import { makeLattice } from '../../../sim/partition/lattice.js';
import { partitionTableFromJson } from '../../../sim/partition/partition-table.js';
import { predictPartition } from '../../../sim/partition/predict-partition.js';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { validatePartitionTable } from '../../../sim/partition/validate-table.js';
import type { Scenario } from '../../../sim/simulate.js';
import { a100, llama7b, topology } from '../../support/scenarios.js';

const search = { method: 'fast' as const, granularity: 64 };

function scenario(gpus: number, context: number, bandwidth: number): Scenario {
  return { model: llama7b, gpu: a100, topology: topology('switch', gpus, bandwidth, 2e-6), gpus, context, strategy: 'kvr-p' };
}

const tableContexts = [2048, 6144, 10240, 16384, 24576];
const table = buildPartitionTable(
  [4, 8].flatMap((gpus) => [300e9, 10e9].flatMap((bw) => tableContexts.map((c) => scenario(gpus, c, bw)))),
  search,
  'test',
);

const halfSpeedGpu2 = (() => {
  const t = topology('switch', 4, 300e9, 2e-6);
  return { ...t, links: t.links.map((l, i) => (i === 2 ? { ...l, bandwidth_ab: 150e9, bandwidth_ba: 150e9 } : l)) };
})();

describe('partition table', () => {
  test('records the searched partition of every scenario, and survives JSON', () => {
    expect(table.entries).toHaveLength(2 * 2 * 5);
    expect(partitionTableFromJson(JSON.parse(JSON.stringify(table)))).toEqual(table);
    const entry = table.entries.find((e) => e.gpus === 8 && e.bandwidth === 300e9 && e.context === 10240)!;
    expect(entry.ttft_s).toBeLessThanOrEqual(entry.ttft_kvr_e_s);
  });

  test.each([
    [{ ...table, schema: 'v0' }, /^t.schema: expected "kvr-partition-table@2"/],
    [{ ...table, schema: 'kvr-partition-table@1', attention: undefined }, /^t.schema: is "kvr-partition-table@1", which does not record the attention implementation, model and GPU digests or hops; rebuild it with kvr partition build-table$/],
    [{ ...table, attention: 'sdpa' }, /^t.attention: expected one of flash, eager/],
    [{ ...table, gpu_digest: undefined }, /^t: missing required key "gpu_digest"|^t.gpu_digest: /],
    [{ ...table, entries: [{ ...table.entries[0]!, hop_bandwidths: [1] }] }, /^t.entries\[0\].hop_bandwidths: needs one value per hop: 3 for 4 GPUs \(got 1\)$/],
    [{ ...table, entries: [{ ...table.entries[0]!, bandwidth: 1e9 }] }, /^t.entries\[0\].bandwidth: must be the slowest of hop_bandwidths$/],
    [{ ...table, entries: [] }, /^t.entries: needs at least one entry/],
    [{ ...table, entries: [{ ...table.entries[0]!, partition: [1, 2] }] }, /^t.entries\[0\].partition: needs one chunk per GPU/],
    [{ ...table, search: 'random' }, /^t.search: expected one of fast, grid, exhaustive/],
  ])('rejects malformed tables (%#)', (input, message) => {
    expect(() => partitionTableFromJson(input, 't')).toThrow(message);
  });
});

describe('predictPartition', () => {
  test('interpolate reproduces the table at its own contexts', () => {
    const entry = table.entries.find((e) => e.gpus === 4 && e.bandwidth === 10e9 && e.context === 6144)!;
    expect(predictPartition(scenario(4, 6144, 10e9), 'interpolate', table)).toEqual(entry.partition);
  });

  test('model is where the fast searcher starts, so KVR-S is never slower than KVR-P (model)', () => {
    for (const [gpus, context, bandwidth] of [[4, 5000, 300e9], [8, 12288, 10e9], [6, 30000, 50e9]] as const) {
      const s = scenario(gpus, context, bandwidth);
      const evaluator = new TtftEvaluator(s);
      const predicted = predictPartition(s, 'model');
      expect(predicted.reduce((a, b) => a + b)).toBe(context);
      const searched = fastSearch(evaluator, makeLattice(context, gpus, 64));
      expect(searched.ttft_s).toBeLessThanOrEqual(evaluator.ttft(predicted));
    }
  });

  test.each([
    [scenario(2, 8192, 300e9), /^table: has no entries for 2 GPUs \(it has 4, 8\)/],
    [scenario(4, 8192, 400e9), /^table: link bandwidth 400 GB\/s is outside the table's range 10 GB\/s\.\.300 GB\/s for 4 GPUs/],
    [{ ...scenario(4, 8192, 300e9), model: { ...llama7b, name: 'other' } }, /^table: was built for model llama2-7b, not other/],
    [{ ...scenario(4, 8192, 300e9), topology: topology('switch', 4, 300e9, 5e-6) }, /^table: was built for hop latency 2 us, not 5 us/],
    [{ ...scenario(4, 8192, 300e9), attention: 'eager' as const }, /^table: was built for attention flash, not eager; build one with kvr partition build-table$/],
    [{ ...scenario(4, 8192, 300e9), model: { ...llama7b, layers: 31 } }, /^table: was built for a model llama2-7b of another shape: digest [0-9a-f]{16}, not [0-9a-f]{16}; /],
    [{ ...scenario(4, 8192, 300e9), gpu: { ...a100, peak_flops: 2 * a100.peak_flops } }, /^table: was built for a gpu a100-80g with other costs: digest [0-9a-f]{16}, not [0-9a-f]{16}; /],
    [{ ...scenario(4, 8192, 300e9), gpu: { ...a100, profile: 'calibrated' as const } }, /^table: was built for gpu a100-80g \(datasheet\), not a100-80g \(calibrated\)/],
    [
      // The same topology name and latency, but GPU 2's link at half speed: hops 300, 150, 150 GB/s.
      { ...scenario(4, 8192, 300e9), topology: halfSpeedGpu2 },
      /^table: was built for a 4-GPU chain with hops of 1x,1x,1x the slowest, latencies 2 us,2 us,2 us, not hops of 2x,1x,1x the slowest, latencies 2 us,2 us,2 us; /,
    ],
  ])('interpolate refuses scenarios the table does not cover (%#)', (s, message) => {
    expect(() => predictPartition(s, 'interpolate', table)).toThrow(message);
  });

  test('records every input its answer depends on: attention, model and GPU digests, each entry\'s hops', () => {
    expect([table.attention, table.model_digest, table.gpu_digest]).toEqual(['flash', expect.stringMatching(/^[0-9a-f]{16}$/), expect.stringMatching(/^[0-9a-f]{16}$/)]);
    const entry = table.entries.find((e) => e.gpus === 4 && e.bandwidth === 10e9)!;
    expect(entry.hop_bandwidths).toEqual([10e9, 10e9, 10e9]);
    expect(entry.hop_latencies_s).toEqual([2e-6, 2e-6, 2e-6]);
    const eager = buildPartitionTable([{ ...scenario(4, 6144, 10e9), attention: 'eager' }], search, 'test');
    expect(eager.attention).toBe('eager');
    // Eager attention moves the searched partition: a flash table would predict the wrong one.
    expect(eager.entries[0]!.partition).not.toEqual(table.entries.find((e) => e.gpus === 4 && e.bandwidth === 10e9 && e.context === 6144)!.partition);
    expect(predictPartition({ ...scenario(4, 6144, 10e9), attention: 'eager' }, 'interpolate', eager)).toEqual(eager.entries[0]!.partition);
    expect(() => buildPartitionTable([scenario(4, 6144, 10e9), { ...scenario(4, 2048, 10e9), attention: 'eager' }], search, 'test')).toThrow(
      /^table: scenarios of one table must share model, GPU, attention, topology and latency$/,
    );
  });

  test('interpolate needs a table', () => {
    expect(() => predictPartition(scenario(4, 8192, 300e9), 'interpolate')).toThrow(/^table: the interpolate predictor needs a partition table/);
  });

  test('on held-out contexts the model predictor is within 0.3% of KVR-S on average and 1% at worst', () => {
    const heldOut = [4096, 8192, 12288, 20480].flatMap((c) => [4, 8].flatMap((gpus) => [300e9, 10e9].map((bw) => scenario(gpus, c, bw))));
    const report = validatePartitionTable(table, heldOut, search);
    expect(report.rows).toHaveLength(16);
    expect(report.summary.model.mean_gap).toBeLessThanOrEqual(0.003);
    expect(report.summary.model.max_gap).toBeLessThanOrEqual(0.01);
    console.log(`held-out gaps: model mean ${report.summary.model.mean_gap}, max ${report.summary.model.max_gap}; interpolate mean ${report.summary.interpolate.mean_gap}, max ${report.summary.interpolate.max_gap}`);
  });
});
