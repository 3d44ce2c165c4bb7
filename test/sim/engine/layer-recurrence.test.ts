import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compilePlan, executeProgram } from '../../../sim/engine/engine.js';
import { runRecurrence } from '../../../sim/engine/layer-recurrence.js';
import { ComputePricer } from '../../../sim/hardware/compute-pricer.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import type { ModelSpec } from '../../../sim/model/model-spec.js';
import { buildPlan, type PlanRequest } from '../../../sim/plan/build-plan.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { planRecurrence } from '../../../sim/plan/plan-recurrence.js';
import { logitsOpId } from '../../../sim/plan/plan.js';
import { buildRecurrenceResult } from '../../../sim/result/recurrence-result.js';
import { buildResult } from '../../../sim/result/result.js';
import { scenarioRouter } from '../../../sim/scenario-router.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { propertyOptions } from '../../support/property.js';
import { a100, ideal, tinyModel, topology } from '../../support/scenarios.js';

/** Random ring-kv, tsp, tsp-causal and KV-Runahead plans on random topologies, GPUs, partitions and collective settings. */
const recurrenceCaseArb = fc
  .record({
    strategy: fc.constantFrom('ring-kv' as const, 'tsp' as const, 'tsp-causal' as const, 'kvr' as const, 'kvr-e' as const),
    layers: fc.integer({ min: 1, max: 9 }),
    gpus: fc.constantFrom(1, 2, 3, 4, 6, 8, 12, 16, 24),
    // ring-kv needs 2 tokens a GPU (two zig-zag chunks).
    tokensPerGpu: fc.integer({ min: 2, max: 700 }),
    extra: fc.integer({ min: 0, max: 23 }),
    preset: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    gpusPerNode: fc.constantFrom(2, 4, 8),
    nicsPerNode: fc.constantFrom(undefined, 1, 2),
    bandwidth: fc.constantFrom(1e8, 1e9, 3e10, 3e11),
    latency: fc.constantFrom(0, 2e-6),
    gpu: fc.constantFrom(ideal, a100, GPU_PRESETS['h100-sxm']!),
    collective: fc.constantFrom(undefined, 'ring' as const, 'auto' as const),
    channels: fc.constantFrom(undefined, 1, 2, 4),
    protocol: fc.constantFrom(undefined, 'simple' as const, 'll' as const, 'll128' as const),
    tp: fc.constantFrom(1, 1, 2, 4),
    block: fc.constantFrom('sequential' as const, 'parallel' as const),
    // kvr: each rank's share of the context (at least one token each).
    weights: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 24, maxLength: 24 }),
  })
  .map((r) => {
    const model: ModelSpec = { ...tinyModel, layers: r.layers, block: r.block, ...(r.block === 'parallel' ? { norm: 'layernorm' as const } : {}) };
    // ring-kv with tensor parallelism: t GPUs a ring position (t divides the GPUs).
    const tp = r.strategy === 'ring-kv' && r.gpus % r.tp === 0 ? r.tp : 1;
    const context = r.tokensPerGpu * r.gpus + (r.extra % r.gpus);
    const topo = topology(r.preset, Math.max(r.gpus, 2), r.bandwidth, r.latency, {
      gpus_per_node: r.gpusPerNode,
      ...(r.nicsPerNode === undefined ? {} : { nics_per_node: Math.min(r.nicsPerNode, r.gpusPerNode) }),
    });
    const kvr = r.strategy === 'kvr' || r.strategy === 'kvr-e';
    const partition = r.strategy === 'kvr' ? weightedPartition(context, r.weights.slice(0, r.gpus)) : undefined;
    const scenario: Scenario = { model, gpu: r.gpu, topology: topo, gpus: r.gpus, context, strategy: r.strategy, ...(tp > 1 ? { tp } : {}), ...(partition === undefined ? {} : { partition }) };
    const request: PlanRequest = {
      strategy: r.strategy,
      model,
      context,
      gpus: r.gpus,
      ...(tp > 1 ? { tp } : {}),
      ...(partition === undefined ? {} : { partition }),
      fabric: topologyFabric(topo, r.gpus),
      // KV-Runahead has no collectives to set.
      ...(r.collective === undefined || kvr ? {} : { collective: r.collective }),
      ...(r.channels === undefined || kvr ? {} : { channels: r.channels }),
      ...(r.protocol === undefined || kvr ? {} : { protocol: r.protocol }),
    };
    return { scenario, request };
  });

/** `context` tokens split in proportion to `weights`, at least one a rank, the rest to the last. */
function weightedPartition(context: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const chunks = weights.map((w) => 1 + Math.floor(((context - weights.length) * w) / total));
  chunks[chunks.length - 1]! += context - chunks.reduce((a, b) => a + b, 0);
  return chunks;
}

/** Every number of `a` within `tolerance` (relative; or 1e-15 absolute) of `b`'s, and everything else equal. */
function expectClose(a: unknown, b: unknown, tolerance: number, path = 'result'): void {
  if (typeof a === 'number' && typeof b === 'number') {
    // Relative, but for differences of sums that come out near zero (a rank's wait: finish - compute).
    const gap = a === b || Math.abs(a - b) < 1e-15 ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
    if (!(gap <= tolerance)) expect.fail(`${path}: ${a} vs ${b}`);
    return;
  }
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    expect(a, path).toEqual(b);
    return;
  }
  expect(Object.keys(a).sort(), path).toEqual(Object.keys(b).sort());
  for (const key of Object.keys(a)) expectClose((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], tolerance, `${path}.${key}`);
}

describe('layer recurrences (sim/engine/layer-recurrence.ts)', () => {
  test('a recurrence gives the engine times on random plans and topologies (bit for bit without all-reduces), its periodic shortcut to 1e-9, and the same result', () => {
    let defined = 0;
    let kvrDefined = 0;
    let periodic = 0;
    fc.assert(
      fc.property(recurrenceCaseArb, ({ scenario, request }) => {
        const plan = buildPlan(request);
        const durations = opDurations(plan, scenario.gpu, 'flash');
        const router = scenarioRouter(scenario);
        const program = compilePlan(plan, router);
        const run = executeProgram(program, durations);
        const recurrence = planRecurrence(request, router, new ComputePricer(scenario.model, scenario.gpu, 'flash'));
        const reduces = (request.tp ?? 1) > 1;
        if (recurrence === undefined) {
          // Only where the engine shares links, or (tsp) a collective the recurrence does not take.
          if (request.strategy !== 'tsp' && request.strategy !== 'tsp-causal' && !reduces) expect(program.dedicated).toBe(false);
          return;
        }
        const ttft = run.end[run.indexOf[logitsOpId(plan)]!]!;
        const whole = runRecurrence(recurrence, scenario.model.layers, { periodic: false });
        // ring-kv with all-reduces: refused when one would overlap its position's previous one.
        if (whole === undefined) return expect(reduces).toBe(true);
        defined += 1;
        if (request.strategy === 'kvr' || request.strategy === 'kvr-e') kvrDefined += 1;
        const finish = new Array<number>(plan.gpus).fill(0);
        for (const op of plan.ops) if (op.kind === 'compute') finish[op.rank] = Math.max(finish[op.rank]!, run.end[run.indexOf[op.id]!]!);
        if (reduces) {
          // All-reduces are a representative run shifted to their start: the engine's to rounding.
          expectClose(whole.ttft, ttft, 1e-12, 'ttft');
          expectClose(whole.makespan, run.makespan, 1e-12, 'makespan');
          expectClose(Array.from(whole.finish), finish, 1e-12, 'finish');
        } else {
          // Used only where the engine's static schedule holds, and then bit for bit.
          expect(program.dedicated).toBe(true);
          expect(whole.ttft).toBe(ttft);
          expect(whole.makespan).toBe(run.makespan);
          expect(Array.from(whole.finish)).toEqual(finish);
        }
        expect(whole.events).toBe(run.events);

        const fresh = planRecurrence(request, router, new ComputePricer(scenario.model, scenario.gpu, 'flash'))!;
        const shortcut = runRecurrence(fresh, scenario.model.layers)!;
        if (shortcut.layersRun < scenario.model.layers) periodic += 1;
        expectClose(shortcut.ttft, ttft, 1e-9, 'ttft');
        expectClose(shortcut.makespan, run.makespan, 1e-9, 'makespan');
        expect(shortcut.events).toBe(run.events);

        // The result from the recurrence is the result from the plan (sums to rounding).
        const pricer = new ComputePricer(scenario.model, scenario.gpu, 'flash');
        const again = planRecurrence(request, router, pricer)!;
        const origin = { kind: 'even' as const };
        const fromRecurrence = buildRecurrenceResult(again, runRecurrence(again, scenario.model.layers, { periodic: false })!, pricer.notes, scenario.gpu, scenario.topology, origin, 'flash', router);
        const fromPlan = buildResult(plan, run, durations, scenario.gpu, scenario.topology, origin, 'flash', router);
        expectClose(fromRecurrence.result, fromPlan, 1e-9);
      }),
      propertyOptions(120),
    );
    // The property says something only if the recurrence ran, and its shortcut was taken.
    expect(defined).toBeGreaterThan(40);
    expect(kvrDefined).toBeGreaterThan(10);
    expect(periodic).toBeGreaterThan(0);
  });

  test.each([
    [16, 4, 4, 'simple'],
    [24, 8, 8, 'll128'],
    [12, 4, 2, 'll'],
  ] as const)('tsp over %i GPUs in nodes of %i with %i channels (%s): the merged rings, bit for bit', (gpus, perNode, channels, protocol) => {
    for (const strategy of ['tsp', 'tsp-causal'] as const) {
      const model: ModelSpec = { ...tinyModel, layers: 4 };
      const topo = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: perNode, nic_latency_s: 5e-6 });
      const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context: gpus * 100 + 7, strategy };
      const request: PlanRequest = { strategy, model, context: scenario.context, gpus, fabric: topologyFabric(topo, gpus), collective: 'ring', channels, protocol };
      const plan = buildPlan(request);
      expect(plan.channels).toBe(channels);
      const router = scenarioRouter(scenario);
      const run = executeProgram(compilePlan(plan, router), opDurations(plan, a100, 'flash'));
      const recurrence = planRecurrence(request, router, new ComputePricer(model, a100, 'flash'))!;
      expect(recurrence).toBeDefined();
      const whole = runRecurrence(recurrence, model.layers, { periodic: false })!;
      expect(whole.ttft).toBe(run.end[run.indexOf[logitsOpId(plan)]!]!);
      expect(whole.makespan).toBe(run.makespan);
      expect(whole.events).toBe(run.events);
    }
  });

  test.each([
    [32, 8, 8, 'auto', 'sequential'],
    [16, 4, 4, 'ring', 'sequential'],
    [24, 8, 8, 'tree', 'parallel'],
    [16, 2, 2, 'hierarchical', 'sequential'],
  ] as const)('ring-kv over %i GPUs, --tp %i in nodes of %i, %s all-reduces, %s block: the engine to 1e-12, same events and result', (gpus, tp, perNode, collective, block) => {
    const model: ModelSpec = { ...tinyModel, heads: 8, kv_heads: 4, layers: 4, block, ...(block === 'parallel' ? { norm: 'layernorm' as const } : {}) };
    const topo = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: perNode, nic_latency_s: 5e-6 });
    const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context: gpus * 50 + 3, strategy: 'ring-kv', tp };
    const request: PlanRequest = { strategy: 'ring-kv', model, context: scenario.context, gpus, tp, fabric: topologyFabric(topo, gpus), collective };
    const plan = buildPlan(request);
    const durations = opDurations(plan, a100, 'flash');
    const router = scenarioRouter(scenario);
    const run = executeProgram(compilePlan(plan, router), durations);
    const pricer = new ComputePricer(model, a100, 'flash');
    const recurrence = planRecurrence(request, router, pricer)!;
    expect(recurrence).toBeDefined();
    const whole = runRecurrence(recurrence, model.layers, { periodic: false })!;
    expectClose(whole.ttft, run.end[run.indexOf[logitsOpId(plan)]!]!, 1e-12, 'ttft');
    expect(whole.events).toBe(run.events);
    const origin = { kind: 'even' as const };
    const fromRecurrence = buildRecurrenceResult(recurrence, whole, pricer.notes, a100, topo, origin, 'flash', router).result;
    expectClose(fromRecurrence, buildResult(plan, run, durations, a100, topo, origin, 'flash', router), 1e-9);
  });

  test('simulate runs a big ring-kv plan as a recurrence: same TTFT as the plan run whole, without building it', () => {
    const model: ModelSpec = { ...tinyModel, layers: 20 };
    const scenario: Scenario = { model, gpu: ideal, topology: topology('multi-node', 32, 3e11, 2e-6), gpus: 32, context: 32 * 64, strategy: 'ring-kv' };
    const sim = simulate(scenario);
    // 20 layers of 32 x 32 attention steps and 32 x 31 sends: past the size where plans are built.
    const whole = sim.plan;
    const run = sim.run;
    expect(whole.ops.length).toBeGreaterThan(20_000);
    // Its layers turn periodic, and the shortcut agrees to rounding.
    expectClose(sim.result.ttft_s, run.end[run.indexOf[logitsOpId(whole)]!]!, 1e-12, 'ttft');
    expect(sim.result.events).toBe(run.events);
  });

  test('ring-kv on 1024 GPUs at 1M tokens (two million ops a layer) runs without building its plan', () => {
    const model: ModelSpec = { ...tinyModel, layers: 2 };
    const scenario: Scenario = { model, gpu: ideal, topology: topology('multi-node', 1024, 3e11, 2e-6), gpus: 1024, context: 1 << 20, strategy: 'ring-kv' };
    const result = simulate(scenario).result;
    expect(result.ttft_s).toBeGreaterThan(0);
    // Every rank receives every other rank's block, every layer: (C - own tokens) x K,V bytes.
    const kvBytes = 2 * model.kv_heads * model.head_dim * model.dtype_bytes;
    expect(result.ranks[5]!.recv_bytes).toBe(model.layers * (scenario.context - 1024) * kvBytes);
  });
});
