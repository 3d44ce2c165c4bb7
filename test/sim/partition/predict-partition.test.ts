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

describe('partition table', () => {
  test('records the searched partition of every scenario, and survives JSON', () => {
    expect(table.entries).toHaveLength(2 * 2 * 5);
    expect(partitionTableFromJson(JSON.parse(JSON.stringify(table)))).toEqual(table);
    const entry = table.entries.find((e) => e.gpus === 8 && e.bandwidth === 300e9 && e.context === 10240)!;
    expect(entry.ttft_s).toBeLessThanOrEqual(entry.ttft_kvr_e_s);
  });

  test.each([
    [{ ...table, schema: 'v0' }, /^t.schema: expected "kvr-partition-table@1"/],
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
  ])('interpolate refuses scenarios the table does not cover (%#)', (s, message) => {
    expect(() => predictPartition(s, 'interpolate', table)).toThrow(message);
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
