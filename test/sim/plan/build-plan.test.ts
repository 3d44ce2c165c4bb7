import { describe, expect, test } from 'vitest';
import { buildPlan, checkPlanSize, estimateSimulationBytes, formatBytes, MAX_PLAN_OPS, MAX_SIMULATION_BYTES, planEdgeCount, planOpCount, planOpCounts, ringChannels } from '../../../sim/plan/build-plan.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { presetTopology } from '../../../sim/topology/presets.js';
import { compilePlan } from '../../../sim/engine/engine.js';
import { Router } from '../../../sim/topology/routing.js';
import { topology } from '../../support/scenarios.js';
import { expandCollectives } from '../../../sim/plan/expand.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import type { StrategyName } from '../../../sim/plan/plan.js';
import { falcon7b, llama7b } from '../../support/scenarios.js';

describe('buildPlan', () => {
  test('plans are plain JSON: they survive a round trip unchanged', () => {
    for (const strategy of ['single', 'tsp', 'tsp-causal', 'kvr-e', 'ring-kv', 'tp', 'tp-sp'] as const) {
      const plan = buildPlan({ strategy, model: llama7b, context: 4096, gpus: strategy === 'single' ? 1 : 4 });
      expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      expect(plan.schema).toBe('kvr-plan@1');
      plan.ops.forEach((op, i) => expect(op.id).toBe(i));
    }
  });

  test.each([
    ['single', llama7b, 1, {}],
    ['tsp', llama7b, 5, { collective: 'direct' }],
    ['kvr-e', llama7b, 4, {}],
    ['ring-kv', llama7b, 6, {}],
    ['tp', llama7b, 4, {}],
    ['tp-sp', falcon7b, 4, {}],
    ['kvr-tp', llama7b, 6, { tp: 3, partition: [2000, 2096] }],
    ['kvr-tp', falcon7b, 8, { tp: 2, collective: 'direct', partition: [1000, 1000, 1000, 1096] }],
  ] as const)('planOpCount(%s) is the number of ops the engine runs for its plan (collectives expanded)', (strategy, model, gpus, extra) => {
    const plan = buildPlan({ strategy: strategy as StrategyName, model, context: 4096, gpus, ...extra, partition: 'partition' in extra ? [...extra.partition] : undefined });
    const options = { ...('tp' in extra ? { tp: extra.tp } : {}), parallelBlock: model.block === 'parallel' };
    expect(expandCollectives(plan).ops).toHaveLength(planOpCount(strategy as StrategyName, model.layers, gpus, options));
  });

  test.each([
    ['single', llama7b, 1, {}],
    ['tsp', llama7b, 5, {}],
    ['kvr-e', llama7b, 4, {}],
    ['ring-kv', llama7b, 6, {}],
    ['ring-kv', llama7b, 8, { tp: 2 }],
    ['ring-q', falcon7b, 8, { tp: 4 }],
    ['tp', llama7b, 4, {}],
    ['tp-sp', llama7b, 4, {}],
    ['tp-sp', falcon7b, 4, {}],
    ['kvr-tp', llama7b, 6, { tp: 3, partition: [2000, 2096] }],
    ['pp-chunked', llama7b, 8, { tp: 2, chunk: 1000 }],
    ['pp-chunked', falcon7b, 3, { chunk: 1500 }],
  ] as const)('planOpCounts(%s) counts the ops the plan stores (a collective once) and those the engine runs', (strategy, model, gpus, extra) => {
    const plan = buildPlan({ strategy: strategy as StrategyName, model, context: 4096, gpus, ...extra, partition: 'partition' in extra ? [...extra.partition] : undefined });
    const options = {
      ...('tp' in extra ? { tp: extra.tp } : {}),
      ...('chunk' in extra ? { chunks: Math.ceil(4096 / extra.chunk) } : {}),
      parallelBlock: model.block === 'parallel',
    };
    const counts = planOpCounts(strategy as StrategyName, model.layers, gpus, options);
    expect(plan.ops).toHaveLength(counts.stored);
    expect(expandCollectives(plan).ops).toHaveLength(counts.engine);
    if (plan.ops.some((op) => op.kind === 'collective')) expect(counts.stored).toBeLessThan(counts.engine);
  });

  test.each([
    [{ strategy: 'ring' }, /^strategy: expected one of single, tsp, tsp-causal, kvr, kvr-e, kvr-s, kvr-p/],
    [{ gpus: 0 }, /^gpus: expected an integer in 1\.\.1024/],
    [{ context: 3, gpus: 4 }, /^context: expected an integer in 4\.\./],
    [{ strategy: 'single', gpus: 2 }, /^gpus: strategy single runs on one GPU/],
    [{ strategy: 'kvr' }, /^partition: is required by strategy kvr/],
    [{ strategy: 'kvr', partition: [100, 100] }, /^partition: chunks must sum to the context 4096/],
    [{ strategy: 'tsp', partition: [2048, 2048] }, /^partition: only strategy kvr takes a partition/],
    [{ strategy: 'tsp', gpus: 1024 }, /^gpus: tsp on 1024 GPUs with 32 layers needs 33652737 plan ops, about \d+ GB of memory to simulate \(limit 2000000 ops\)/],
    [{ strategy: 'ring-kv', gpus: 4, context: 7 }, /^context: ring-kv cuts the context into 2 x 4 = 8 zig-zag chunks: needs at least 8 tokens \(got 7\)/],
    [{ strategy: 'tp', gpus: 64 }, /^gpus: tensor parallelism over 64 GPUs needs at least one attention head and FFN column per GPU \(llama2-7b has 32 heads\)/],
    [{ strategy: 'kvr-tp', gpus: 8, partition: [2048, 2048] }, /^tp: is required by strategy kvr-tp/],
    [{ strategy: 'kvr-tp', gpus: 8, tp: 3, partition: [2048, 2048] }, /^tp: must be a whole divisor of the 8 GPUs \(got 3\)/],
    [{ strategy: 'kvr-tp', gpus: 8, tp: 4, partition: [4096] }, /^partition: needs one chunk per tensor-parallel group: 2 values \(got 1\)/],
    [{ strategy: 'kvr-e', collective: 'direct' }, /^collective: only applies to strategies with collectives \(tsp, tsp-causal, tp, tp-sp, kvr-tp, ring-kv, ring-q, pp-chunked\); strategy is kvr-e/],
    [{ strategy: 'tsp', collective: 'nvls' }, /^collective: expected one of auto, ring, tree, hierarchical, direct/],
    [{ strategy: 'tp', tp: 2 }, /^tp: only applies to strategies kvr-tp, ring-kv, ring-q, pp-chunked /],
  ])('rejects %j', (override, message) => {
    const request = { strategy: 'kvr-e', model: llama7b, context: 4096, gpus: 2, ...override } as Parameters<typeof buildPlan>[0];
    expect(() => buildPlan(request)).toThrow(message);
  });
});

describe('simulation memory estimate', () => {
  test('the plan-op refusal names the estimated memory of what the engine would hold', () => {
    const request = { strategy: 'tsp' as const, model: llama7b, context: 4096, gpus: 1024 };
    const estimate = estimateSimulationBytes('tsp', llama7b.layers, 1024);
    expect(estimate.ops).toBe(33652737);
    expect(() => buildPlan(request)).toThrow(`needs 33652737 plan ops, about ${formatBytes(estimate.bytes)} of memory to simulate`);
  });

  const small = { ...llama7b, layers: 2 };
  test.each([
    ['kvr-e', small, 16, {}],
    ['tsp', small, 16, {}],
    ['tsp', small, 16, { collective: 'direct' }],
    ['tsp-causal', small, 12, { collective: 'direct' }],
    ['ring-kv', small, 16, {}],
    ['tp', small, 16, {}],
    ['tp', small, 16, { collective: 'direct' }],
    ['tp-sp', { ...falcon7b, layers: 2 }, 16, { collective: 'direct' }],
    ['kvr-tp', small, 16, { tp: 4, collective: 'direct', partition: [1024, 1024, 1024, 1024] }],
    ['kvr-tp', small, 16, { tp: 2, partition: [512, 512, 512, 512, 512, 512, 512, 512] }],
    ['ring-kv', small, 16, { tp: 4 }],
    ['ring-kv', small, 16, { tp: 2, collective: 'direct' }],
    ['ring-q', small, 16, {}],
    ['ring-q', small, 16, { tp: 4 }],
    ['pp-chunked', small, 2, { chunk: 512 }],
    ['pp-chunked', small, 16, { tp: 8, chunk: 1024 }],
  ] as const)('planEdgeCount(%s) is an upper estimate, below 1.5x, of the dependency edges the engine compiles', (strategy, model, gpus, extra) => {
    const plan = buildPlan({ strategy: strategy as StrategyName, model, context: 4096, gpus, ...extra, partition: 'partition' in extra ? [...extra.partition] : undefined });
    const program = compilePlan(plan, new Router(topology('switch', gpus, 300e9)));
    const options = {
      ...('tp' in extra ? { tp: extra.tp } : {}),
      ...('collective' in extra ? { collective: extra.collective } : {}),
      ...('chunk' in extra ? { chunks: Math.ceil(4096 / extra.chunk) } : {}),
      parallelBlock: model.block === 'parallel',
    };
    const estimate = planEdgeCount(strategy as StrategyName, model.layers, gpus, options);
    expect(estimate).toBeGreaterThanOrEqual(program.succ.length);
    expect(estimate).toBeLessThanOrEqual(1.5 * program.succ.length);
  });

  test('a direct all-gather over 240 GPUs (p^3 edges a layer) is refused with its estimate, before any work', () => {
    const size = estimateSimulationBytes('tsp', 32, 240, { collective: 'direct' });
    expect(size.edges).toBe(32 * (240 ** 3 + 3 * 240) + 1);
    expect(size.bytes).toBeGreaterThan(MAX_SIMULATION_BYTES);
    const started = performance.now();
    expect(() => buildPlan({ strategy: 'tsp', model: llama7b, context: 1_000_000, gpus: 240, collective: 'direct' })).toThrow(
      /^gpus: tsp with the direct collective on 240 GPUs with 32 layers needs about 7\.6 GB of memory to simulate \(1866241 ops, 442391041 dependency edges; limit 2\.0 GB\); use fewer GPUs or --collective ring$/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    // The ring schedule of the same all-gather is p^2 edges a layer and runs.
    expect(estimateSimulationBytes('tsp', 32, 240).bytes).toBeLessThan(MAX_SIMULATION_BYTES);
  });
});

describe('the op limit counts the ops a plan stores', () => {
  test('pp-chunked --tp 8 at 1M tokens (2.7M transfers run, 356k ops stored) passes; its refusal at 512-token chunks says both counts', () => {
    const model = MODEL_PRESETS['llama2-70b']!;
    const request = { strategy: 'pp-chunked' as const, model, context: 1 << 20, gpus: 64, tp: 8 };
    expect(() => checkPlanSize(request)).not.toThrow();
    const size = estimateSimulationBytes('pp-chunked', model.layers, 64, { tp: 8, chunks: 128 });
    expect(size.ops).toBeLessThan(MAX_PLAN_OPS);
    expect(size.engineOps).toBeGreaterThan(MAX_PLAN_OPS);
    // 512-token chunks are too many: the refusal names the least doubled --chunk that fits, which passes.
    let message = '';
    try {
      checkPlanSize({ ...request, chunk: 512 });
    } catch (error) {
      message = (error as Error).message;
    }
    const hint = /^chunk: pp-chunked on 64 GPUs with 80 layers needs \d+ plan ops \(\d+ run, its collectives expanded\), about [\d.]+ GB of memory to simulate \(limit 2000000 ops\); use --chunk (\d+) or larger \((\d+) chunks: (\d+) ops\)$/.exec(message);
    expect(hint, message).not.toBeNull();
    const chunk = Number(hint![1]);
    expect(Number(hint![2])).toBe((1 << 20) / chunk);
    expect(() => checkPlanSize({ ...request, chunk })).not.toThrow();
    expect(() => checkPlanSize({ ...request, chunk: chunk / 2 })).toThrow();
  });
});

describe('ring-q past the op limit', () => {
  test('the refusal names the least --tp that fits, and that --tp passes the same check', () => {
    const request = { strategy: 'ring-q' as const, model: llama7b, context: 1 << 20, gpus: 192 };
    let message = '';
    try {
      checkPlanSize(request);
    } catch (error) {
      message = (error as Error).message;
    }
    const hint = /; use fewer GPUs, --tp (\d+) \((\d+) ring positions: (\d+) ops\) or strategy ring-kv$/.exec(message);
    expect(hint, message).not.toBeNull();
    const tp = Number(hint![1]);
    expect(Number(hint![2])).toBe(192 / tp);
    expect(Number(hint![3])).toBe(estimateSimulationBytes('ring-q', llama7b.layers, 192, { tp, channels: 1 }).ops);
    expect(() => checkPlanSize({ ...request, tp })).not.toThrow();
    // No smaller --tp fits.
    for (let t = 1; t < tp; t++) if (192 % t === 0) expect(estimateSimulationBytes('ring-q', llama7b.layers, 192, { tp: t, channels: 1 }).ops).toBeGreaterThan(MAX_PLAN_OPS);
  });

  test('no hint where no --tp fits', () => {
    expect(() => checkPlanSize({ strategy: 'ring-q', model: llama7b, context: 1 << 20, gpus: 1024 })).toThrow(/plan ops.*; use fewer GPUs$/);
  });
});

describe('estimates across nodes with auto collectives (a ring per NIC, merged per pair; tree; hierarchical)', () => {
  const gpus = 32;
  const topo = presetTopology('multi-node', { gpus, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
  const fabric = topologyFabric(topo, gpus);
  test.each([
    ['tp', 131072, undefined],
    ['tp-sp', 131072, undefined],
    ['tsp', 131072, undefined],
    ['tp', 2048, 'tree'],
    ['tp', 131072, 'hierarchical'],
  ] as const)('%s at %i tokens (%s): ops and edges are upper estimates, edges within 1.5x', (strategy, context, collective) => {
    const request = { strategy, model: { ...llama7b, layers: 2 }, context, gpus, fabric, ...(collective === undefined ? {} : { collective }) };
    const program = compilePlan(buildPlan(request), new Router(topo));
    let edges = 0;
    for (let i = 0; i < program.count; i++) edges += program.depCount[i]!;
    const channels = ringChannels(request);
    expect(planOpCount(strategy, 2, gpus, { channels })).toBeGreaterThanOrEqual(program.count);
    const estimate = planEdgeCount(strategy, 2, gpus, { channels });
    expect(estimate).toBeGreaterThanOrEqual(edges);
    if (collective === undefined) expect(estimate).toBeLessThanOrEqual(1.5 * edges);
  });
});
