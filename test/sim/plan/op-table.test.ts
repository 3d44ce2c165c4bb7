import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { OpTable } from '../../../sim/plan/op-table.js';
import { planTable } from '../../../sim/plan/table-plan.js';
import { llama7b } from '../../support/scenarios.js';
import { PLAN_REQUESTS as REQUESTS } from '../../support/plan-requests.js';

describe('OpTable', () => {
  test.each(REQUESTS)('%s: the ops read back from their objects are the same columns, and written out again the same objects', (_, request) => {
    const plan = buildPlan(request);
    const table = planTable(plan);
    const copy = OpTable.fromOps(plan.ops);
    expect(copy.count).toBe(table.count);
    for (const column of ['kind', 'name', 'flags', 'payload', 'protocol', 'rank', 'dst', 'layer', 'step', 'heads', 'kvHeads', 'shard', 'rangeList', 'latency', 'tokens', 'prefix', 'keys', 'amount'] as const) {
      expect(copy[column].subarray(0, table.count), column).toEqual(table[column].subarray(0, table.count));
    }
    expect(copy.depOffset.subarray(0, table.count + 1)).toEqual(table.depOffset.subarray(0, table.count + 1));
    expect(copy.deps.subarray(0, table.depOffset[table.count])).toEqual(table.deps.subarray(0, table.depOffset[table.count]));
    expect(copy.ops()).toEqual(plan.ops);
    // The plan JSON keeps its key order: ops after last_rank, each op's keys as the plan has them.
    expect(JSON.stringify({ ...plan, ops: copy.ops() })).toBe(JSON.stringify(plan));
  });

  test('op objects keep the key order plan files have always had (each kind\'s keys in one fixed order)', () => {
    // As PlanBuilder wrote them before the op table (export-plan output is byte-identical since).
    const ORDER = {
      compute: ['id', 'kind', 'name', 'rank', 'layer', 'tokens', 'prefix', 'keys', 'causal', 'flops', 'deps', 'shard', 'merge', 'moe'],
      transfer: ['id', 'kind', 'name', 'src', 'dst', 'layer', 'token_start', 'token_end', 'bytes', 'deps', 'step', 'ranges', 'payload', 'kv_heads', 'heads', 'protocol', 'protocol_hop_scale', 'protocol_base_s'],
      collective: ['id', 'kind', 'name', 'algorithm', 'layer', 'ranks', 'blocks', 'bytes_per_token', 'bytes', 'start', 'deps', 'channels', 'node_size', 'protocol'],
    };
    const seen = new Set<string>();
    for (const [, request] of REQUESTS) {
      for (const op of buildPlan(request).ops) {
        const keys = Object.keys(op);
        const order = ORDER[op.kind].filter((key) => keys.includes(key));
        expect(keys).toEqual(order);
        for (const key of keys) seen.add(`${op.kind}.${key}`);
      }
    }
    // Every optional key turned up somewhere (so the order of each was checked).
    for (const [kind, keys] of Object.entries(ORDER)) for (const key of keys) expect(seen.has(`${kind}.${key}`), `${kind}.${key}`).toBe(true);
  });

  test('a built plan holds its columns at their size, about 90 bytes an op', () => {
    const plan = buildPlan({ strategy: 'tsp', model: llama7b, context: 16384, gpus: 16 });
    const table = planTable(plan);
    expect(table.capacity).toBe(table.count);
    expect(table.bytes() / table.count).toBeGreaterThan(70);
    expect(table.bytes() / table.count).toBeLessThan(110);
  });
});
