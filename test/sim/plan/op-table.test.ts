import { afterEach, describe, expect, test, vi } from 'vitest';
import { buildPlan, type PlanRequest } from '../../../sim/plan/build-plan.js';
import { OpTable } from '../../../sim/plan/op-table.js';
import { hasOpTable, planOpTotal, planTable, withPlanFields, type Plan } from '../../../sim/plan/plan.js';
import { reshapeKvrPlan } from '../../../sim/plan/strategies/kvr.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import { runPlan } from '../../../sim/engine/engine.js';
import { buildResult } from '../../../sim/result/result.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { a100, falcon7b, llama7b, topology } from '../../support/scenarios.js';

const multiNode = topology('multi-node', 16, 300e9, 2e-6, { nic_latency_s: 5e-6 });

/** Plans of every strategy and of the fields that only some ops have (shards, merges, MoE work, ranges, protocols). */
const REQUESTS: [string, PlanRequest][] = [
  ['single', { strategy: 'single', model: llama7b, context: 2048, gpus: 1 }],
  ['tsp, 2 channels across nodes, LL128', { strategy: 'tsp', model: llama7b, context: 4096, gpus: 16, channels: 2, protocol: 'll128', fabric: topologyFabric(multiNode, 16) }],
  ['tsp-causal', { strategy: 'tsp-causal', model: llama7b, context: 4096, gpus: 4 }],
  ['kvr-e', { strategy: 'kvr-e', model: llama7b, context: 4096, gpus: 4 }],
  ['ring-kv (zig-zag ranges, merges)', { strategy: 'ring-kv', model: falcon7b, context: 4096, gpus: 4 }],
  ['ring-kv --tp 2 (protocols)', { strategy: 'ring-kv', model: llama7b, context: 4096, gpus: 16, tp: 2, fabric: topologyFabric(multiNode, 16) }],
  ['ring-q --tp 2', { strategy: 'ring-q', model: llama7b, context: 4096, gpus: 8, tp: 2 }],
  ['tp, tree with LL', { strategy: 'tp', model: llama7b, context: 4096, gpus: 16, collective: 'tree', protocol: 'll', fabric: topologyFabric(multiNode, 16) }],
  ['tp-sp (sequence shards)', { strategy: 'tp-sp', model: falcon7b, context: 4096, gpus: 4 }],
  ['tp, MoE with --ep', { strategy: 'tp', model: MODEL_PRESETS['mixtral-8x7b']!, context: 2048, gpus: 8, ep: 8, expertImbalance: 2 }],
  ['kvr-tp', { strategy: 'kvr-tp', model: llama7b, context: 4096, gpus: 8, tp: 2, partition: [1000, 1000, 1000, 1096] }],
  ['pp-chunked --tp 2', { strategy: 'pp-chunked', model: llama7b, context: 8192, gpus: 8, tp: 2, chunk: 3000 }],
];

afterEach(() => {
  vi.restoreAllMocks();
});

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

describe('plans that keep their ops as columns', () => {
  test.each(REQUESTS)('%s: a plain copy of the plan (its ops as objects) simulates to the same bits', (_, request) => {
    const plan = buildPlan(request);
    const plain: Plan = JSON.parse(JSON.stringify(plan)) as Plan;
    expect(hasOpTable(plan)).toBe(true);
    expect(hasOpTable(plain)).toBe(false);
    const topo = request.fabric === undefined ? topology('switch', request.gpus, 300e9, 2e-6) : multiNode;
    const router = scenarioRouter({ topology: topo, gpu: a100 });
    const durations = opDurations(plan, a100);
    expect(opDurations(plain, a100)).toEqual(durations);
    const run = runPlan(plan, durations, router);
    const plainRun = runPlan(plain, durations, router);
    expect(plainRun.end).toEqual(run.end);
    expect(plainRun.events).toBe(run.events);
    const origin = { kind: 'even' } as const;
    expect(buildResult(plain, plainRun, durations, a100, topo, origin)).toEqual(buildResult(plan, run, durations, a100, topo, origin));
  });

  test('simulate runs whole plans without writing out a single op object', () => {
    const written = vi.spyOn(OpTable.prototype, 'op');
    const scenarios: Scenario[] = [
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'ring-q', tp: 2 },
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'pp-chunked', tp: 2, chunk: 4096 },
      { model: llama7b, gpu: a100, topology: multiNode, gpus: 16, context: 16384, strategy: 'tp-sp' },
      { model: llama7b, gpu: a100, topology: topology('switch', 8, 300e9, 2e-6), gpus: 8, context: 16384, strategy: 'kvr-s' },
    ];
    for (const scenario of scenarios) {
      const sim = simulate(scenario);
      expect(sim.result.ttft_s).toBeGreaterThan(0);
      expect(hasOpTable(sim.plan)).toBe(true);
    }
    expect(written).not.toHaveBeenCalled();
  });

  test('its ops are a frozen snapshot, written anew after a reshape; assigning ops makes it a plain plan', () => {
    const plan = buildPlan({ strategy: 'kvr', model: llama7b, context: 4096, gpus: 2, partition: [2048, 2048] });
    const ops = plan.ops;
    expect(plan.ops).toBe(ops);
    expect(() => {
      (ops[0] as { flops: number }).flops = 1;
    }).toThrow(TypeError);
    expect(() => ops.push(ops[0]!)).toThrow(TypeError);
    reshapeKvrPlan(plan, [1024, 3072]);
    expect(plan.ops).not.toBe(ops);
    expect(plan.ops.find((op) => op.kind === 'compute' && op.rank === 1)).toMatchObject({ tokens: 3072, prefix: 1024 });
    const mine = plan.ops.map((op) => ({ ...op }));
    plan.ops = mine;
    expect(hasOpTable(plan)).toBe(false);
    expect(plan.ops).toBe(mine);
    expect(planOpTotal(plan)).toBe(mine.length);
    expect(() => reshapeKvrPlan(plan, [2048, 2048])).toThrow(/keeps its ops as objects/);
  });

  test('withPlanFields changes the header and keeps the columns, writing out no op', () => {
    const plan = buildPlan({ strategy: 'ring-q', model: llama7b, context: 4096, gpus: 4 });
    const written = vi.spyOn(OpTable.prototype, 'op');
    const other = withPlanFields(plan, { strategy: 'ring-kv' });
    expect(other.strategy).toBe('ring-kv');
    expect(planTable(other)).toBe(planTable(plan));
    expect(Object.keys(other)).toEqual(Object.keys(plan));
    expect(written).not.toHaveBeenCalled();
  });
});
