import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compilePlan, programBytes, runEvents } from '../../../sim/engine/engine.js';
import { runStaticSchedule } from '../../../sim/engine/static-schedule.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { logitsOpId, type Plan, type PlanOp } from '../../../sim/plan/plan.js';
import { firstTokenTime } from '../../../sim/result/result.js';
import { presetTopology } from '../../../sim/topology/presets.js';
import { Router } from '../../../sim/topology/routing.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { propertyOptions } from '../../support/property.js';
import { ideal, llama7b, tinyModel, topology } from '../../support/scenarios.js';

/** Engine durations: the plan's, spread over its expanded ops (a collective's transfers get 0). */
function engineDurations(plan: Plan, program: ReturnType<typeof compilePlan>, durations: Float64Array): Float64Array {
  const out = new Float64Array(program.count);
  for (let i = 0; i < program.count; i++) if (!program.isTransfer[i]) out[i] = durations[program.layout.planOf[i]!]!;
  return out;
}

/** Both runs of one compiled plan must agree to the bit: times, makespan and event count. */
function expectSameRun(plan: Plan, router: Router, durations: Float64Array): void {
  const program = compilePlan(plan, router);
  expect(program.dedicated).toBe(true);
  const duration = engineDurations(plan, program, durations);
  const bytes = programBytes(plan, program);
  const fast = runStaticSchedule(program, duration, bytes);
  const events = runEvents(program, duration, bytes);
  expect(fast.start).toEqual(events.start);
  expect(fast.flowStart).toEqual(events.flowStart);
  expect(fast.end).toEqual(events.end);
  expect(fast.makespan).toBe(events.makespan);
  expect(fast.events).toBe(events.events);
  if (plan.ops.some((op) => op.kind === 'compute' && op.name === 'lm_head')) {
    expect(firstTokenTime(plan, fast, logitsOpId(plan))).toBe(firstTokenTime(plan, events, logitsOpId(plan)));
  }
}

describe('runStaticSchedule: the one-pass run of a plan whose transfers never share a link', () => {
  test('random plans over a ring of sends (each rank sends only to the next): same bits as the event loop', () => {
    // On a switch each GPU's uplink and downlink then carry one channel: the program is dedicated.
    const arbitraryPlan = fc
      .record({
        gpus: fc.integer({ min: 2, max: 5 }),
        latency: fc.constantFrom(0, 1e-6, 0.25),
        specs: fc.array(
          fc.record({
            transfer: fc.boolean(),
            rank: fc.nat(),
            bytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1e9 })),
            duration: fc.oneof(fc.constant(0), fc.double({ min: 1e-9, max: 10, noNaN: true })),
            deps: fc.array(fc.nat(), { maxLength: 3 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
      })
      .map(({ gpus, latency, specs }) => {
        const ops: PlanOp[] = specs.map((spec, id) => {
          const deps = id === 0 ? [] : [...new Set(spec.deps.map((d) => d % id))];
          const rank = spec.rank % gpus;
          return spec.transfer
            ? { id, kind: 'transfer', name: 'send', src: rank, dst: (rank + 1) % gpus, layer: 0, token_start: 0, token_end: 1, bytes: spec.bytes, deps }
            : { id, kind: 'compute', name: 'mlp', rank, layer: 0, tokens: 1, prefix: 0, keys: 1, causal: true, flops: 0, deps };
        });
        const plan: Plan = { schema: 'kvr-plan@1', strategy: 'kvr', model: tinyModel, context: gpus, gpus, partition: new Array(gpus).fill(1), kv_tokens: new Array(gpus).fill(1), last_rank: gpus - 1, ops };
        const durations = Float64Array.from(specs, (spec) => spec.duration);
        return { plan, durations, router: new Router(topology('switch', gpus, 7e9, latency)) };
      });
    fc.assert(
      fc.property(arbitraryPlan, ({ plan, durations, router }) => expectSameRun(plan, router, durations)),
      propertyOptions(300),
    );
  });

  test.each([
    ['kvr-e', 'switch', undefined],
    ['tsp', 'ring', 'ring'],
    ['tp', 'multi-node', 'ring'],
    ['tp-sp', 'multi-node', 'ring'],
    ['ring-kv', 'multi-node', undefined],
  ] as const)('%s on %s: same bits as the event loop', (strategy, preset, collective) => {
    const gpus = 16;
    const plan = buildPlan({ strategy, model: { ...llama7b, layers: 3 }, context: 8192, gpus, ...(collective === undefined ? {} : { collective }) });
    const topo = presetTopology(preset, { gpus, bandwidth: 300e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
    expectSameRun(plan, new Router(topo), opDurations(plan, GPU_PRESETS['h100-sxm']!, 'flash'));
  });

  test.each(['tp', 'tp-sp', 'tsp'] as const)('%s on multi-node with auto collectives (a ring per NIC, merged per pair, with protocols): dedicated, same bits as the event loop', (strategy) => {
    const gpus = 16;
    const topo = presetTopology('multi-node', { gpus, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
    const plan = buildPlan({ strategy, model: { ...llama7b, layers: 3 }, context: 65536, gpus, fabric: topologyFabric(topo, gpus) });
    const channels = plan.ops.some((op) => op.kind === 'collective' && op.channels === 8) || plan.channels === 8;
    expect(channels).toBe(true);
    expectSameRun(plan, new Router(topo), opDurations(plan, GPU_PRESETS['h100-sxm']!, 'flash'));
  });

  test('kvr 2432,1664 (front-loaded): the same TTFT, the end of lm_head (0.3287094 s), before the makespan', () => {
    const plan = buildPlan({ strategy: 'kvr', model: llama7b, context: 4096, gpus: 2, partition: [2432, 1664] });
    const router = new Router(topology('switch', 2, 300e9, 0));
    const durations = opDurations(plan, ideal, 'flash');
    expectSameRun(plan, router, durations);
    const program = compilePlan(plan, router);
    const fast = runStaticSchedule(program, durations, programBytes(plan, program));
    expect(firstTokenTime(plan, fast).toFixed(7)).toBe('0.3287094');
    expect(fast.makespan.toFixed(6)).toBe('0.330504');
  });
});
