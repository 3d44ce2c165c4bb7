import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compilePlan, executeProgram, type EngineRun } from '../../../sim/engine/engine.js';
import { runRecurrence, type RecurrenceRun } from '../../../sim/engine/layer-recurrence.js';
import { ComputePricer } from '../../../sim/hardware/compute-pricer.js';
import { GPU_PRESETS } from '../../../sim/hardware/gpu-presets.js';
import { opDurations } from '../../../sim/hardware/op-durations.js';
import type { ModelSpec } from '../../../sim/model/model-spec.js';
import { buildPlan, type PlanRequest } from '../../../sim/plan/build-plan.js';
import { topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { kvrTpLinks, planRecurrence } from '../../../sim/plan/plan-recurrence.js';
import { kvrTpFirstTokenRecurrence, kvrTpRecurrence } from '../../../sim/plan/strategies/kvr-tp-recurrence.js';
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
    // multi-node: leaf uplinks of half the node's NIC bandwidth (ring-kv --tp: a position's channels share them).
    oversubscription: fc.constantFrom(undefined, undefined, 2),
    // multi-node: rail-optimised leaves (the spine's uplinks, slack at oversubscription 1, carry every rail's cross traffic).
    rails: fc.constantFrom(false, false, true),
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
      ...(r.oversubscription === undefined ? {} : { oversubscription: r.oversubscription }),
      ...(r.rails ? { rails: true } : {}),
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

/**
 * Random tsp and ring-kv --tp plans on multi-node fabrics whose uplinks or NICs are shared
 * (oversubscribed leaves, fewer NICs than GPUs): the channels leaving a node (tsp's merged rings)
 * or entering a ring position (ring-kv --tp) then share links as bundles.
 */
const sharedFabricCaseArb = fc
  .record({
    // ring-kv --tp half the time: fewer of its cases share links (its all-reduces must not).
    strategy: fc.constantFrom('tsp' as const, 'tsp-causal' as const, 'ring-kv' as const, 'ring-kv' as const),
    layers: fc.integer({ min: 1, max: 6 }),
    nodes: fc.integer({ min: 2, max: 4 }),
    perNode: fc.constantFrom(2, 4, 8),
    tpOfNode: fc.constantFrom(1, 2),
    // Tokens a GPU: multiples of 8 split evenly into every channel's piece; else not.
    tokensPerGpu: fc.constantFrom(16, 64, 200, 37),
    nics: fc.constantFrom(undefined, 1, 2),
    oversubscription: fc.constantFrom(undefined, 2, 3),
    rails: fc.constantFrom(false, true),
    nicBandwidth: fc.constantFrom(1e9, 2.5e10),
    latency: fc.constantFrom(0, 2e-6),
    channels: fc.constantFrom(undefined, 2, 4),
    protocol: fc.constantFrom(undefined, 'simple' as const, 'll128' as const),
    collective: fc.constantFrom('ring' as const, 'auto' as const),
  })
  .map((r) => {
    const model: ModelSpec = { ...tinyModel, heads: 8, kv_heads: 4, layers: r.layers };
    const gpus = r.nodes * r.perNode;
    // ring-kv: a position of a node's GPUs (or half of them); tsp: no tensor parallelism.
    const tp = r.strategy === 'ring-kv' ? Math.max(2, r.perNode / r.tpOfNode) : 1;
    const context = r.tokensPerGpu * gpus;
    const topo = topology('multi-node', gpus, 3e11, r.latency, {
      gpus_per_node: r.perNode,
      nic_bandwidth: r.nicBandwidth,
      nic_latency_s: 5e-6,
      ...(r.nics === undefined ? {} : { nics_per_node: Math.min(r.nics, r.perNode) }),
      ...(r.oversubscription === undefined ? {} : { oversubscription: r.oversubscription }),
      ...(r.rails ? { rails: true } : {}),
    });
    const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context, strategy: r.strategy, ...(tp > 1 ? { tp } : {}) };
    const request: PlanRequest = {
      strategy: r.strategy,
      model,
      context,
      gpus,
      ...(tp > 1 ? { tp } : {}),
      fabric: topologyFabric(topo, gpus),
      collective: r.collective,
      ...(r.channels === undefined ? {} : { channels: r.channels }),
      ...(r.protocol === undefined ? {} : { protocol: r.protocol }),
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

/**
 * Random kvr-tp plans: groups of 2 or 4 GPUs on multi-node topologies whose nodes are mostly a
 * group (each group's own NVSwitch ports, a NIC a GPU: the recurrence holds) and sometimes two
 * groups or one NIC a node (the chain shares links with the all-reduces: no recurrence), random
 * group partitions, all-reduce algorithms, channels, protocols and blocks.
 */
const kvrTpCaseArb = fc
  .record({
    layers: fc.integer({ min: 1, max: 9 }),
    tp: fc.constantFrom(2, 4),
    groups: fc.integer({ min: 1, max: 8 }),
    tokensPerGroup: fc.integer({ min: 4, max: 900 }),
    extra: fc.integer({ min: 0, max: 23 }),
    nodeOfGroups: fc.constantFrom(1, 1, 1, 1, 2),
    oneNic: fc.constantFrom(false, false, false, false, false, true),
    // Leaf uplinks of 1/2 or 1/4 the node's NIC bandwidth: a group's hops share its node's uplink.
    oversubscription: fc.constantFrom(undefined, undefined, undefined, 2, 4),
    // NVLink at least as fast as a NIC (else the router sends a group's traffic through the NICs).
    bandwidth: fc.constantFrom(3e10, 3e11),
    nicBandwidth: fc.constantFrom(1e8, 1e9, 2.5e10),
    latency: fc.constantFrom(0, 2e-6),
    nicLatency: fc.constantFrom(0, 5e-6),
    gpu: fc.constantFrom(ideal, a100, GPU_PRESETS['h100-sxm']!),
    kvHeads: fc.constantFrom(1, 2, 4, 8),
    collective: fc.constantFrom(undefined, 'auto' as const, 'ring' as const, 'tree' as const, 'hierarchical' as const),
    channels: fc.constantFrom(undefined, 1, 2, 4),
    protocol: fc.constantFrom(undefined, 'simple' as const, 'll' as const, 'll128' as const),
    block: fc.constantFrom('sequential' as const, 'parallel' as const),
    weights: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 8, maxLength: 8 }),
    // Chunks of whole rows per member (each group's members then alike: one chain stands for all).
    wholeRows: fc.boolean(),
  })
  .map((r) => {
    const model: ModelSpec = { ...tinyModel, heads: 8, kv_heads: r.kvHeads, layers: r.layers, block: r.block, ...(r.block === 'parallel' ? { norm: 'layernorm' as const } : {}) };
    const gpus = r.groups * r.tp;
    const perNode = r.tp * r.nodeOfGroups;
    const tokens = r.tokensPerGroup * r.groups + (r.extra % r.groups);
    const rows = r.wholeRows ? r.tp : 1;
    const context = Math.floor(tokens / rows) * rows;
    const topo = topology('multi-node', Math.max(gpus, perNode), r.bandwidth, r.latency, {
      gpus_per_node: perNode,
      nic_bandwidth: r.nicBandwidth,
      nic_latency_s: r.nicLatency,
      ...(r.oneNic ? { nics_per_node: 1 } : {}),
      ...(r.oversubscription === undefined ? {} : { oversubscription: r.oversubscription }),
    });
    const partition = weightedPartition(context / rows, r.weights.slice(0, r.groups)).map((c) => c * rows);
    const scenario: Scenario = { model, gpu: r.gpu, topology: topo, gpus, context, strategy: 'kvr-tp', tp: r.tp, partition };
    const request: PlanRequest = {
      strategy: 'kvr-tp',
      model,
      context,
      gpus,
      tp: r.tp,
      partition,
      fabric: topologyFabric(topo, gpus),
      ...(r.collective === undefined ? {} : { collective: r.collective }),
      ...(r.channels === undefined ? {} : { channels: r.channels }),
      ...(r.protocol === undefined ? {} : { protocol: r.protocol }),
    };
    return { scenario, request };
  });

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

/**
 * Runs a case's plan on the engine and as a recurrence: the recurrence's times (bit for bit
 * without all-reduces, to 1e-12 with them), events, periodic shortcut (1e-9) and result (1e-9).
 * Says whether the recurrence was refused (none: no recurrence; refused: a layer broke it), ran
 * every layer, or took the periodic shortcut.
 */
/** Cases checked bit for bit on links the engine shares (tsp's bundles), over the test file. */
let sharedWithoutReduces = 0;

function checkAgainstEngine({ scenario, request }: { scenario: Scenario; request: PlanRequest }): 'none' | 'refused' | 'ran' | 'periodic' {
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
    return 'none';
  }
  const ttft = run.end[run.indexOf[logitsOpId(plan)]!]!;
  const whole = runRecurrence(recurrence, scenario.model.layers, { periodic: false });
  // ring-kv and kvr-tp with all-reduces: refused when one would overlap its group's previous one;
  // and any of them when a bundle's transfers (channels sharing links) would not leave together.
  if (whole === undefined) {
    expect(reduces || request.strategy === 'tsp' || request.strategy === 'tsp-causal').toBe(true);
    return 'refused';
  }
  const finish = new Array<number>(plan.gpus).fill(0);
  for (const op of plan.ops) if (op.kind === 'compute') finish[op.rank] = Math.max(finish[op.rank]!, run.end[run.indexOf[op.id]!]!);
  if (reduces) {
    // All-reduces are a representative run shifted to their start: the engine's to rounding.
    expectClose(whole.ttft, ttft, 1e-12, 'ttft');
    expectClose(whole.makespan, run.makespan, 1e-12, 'makespan');
    expectClose(Array.from(whole.finish), finish, 1e-12, 'finish');
  } else {
    // Bit for bit: on dedicated links (the engine's static schedule), and where a bundle of
    // channels shares links (tsp's channels leaving a node), whose flows the engine drains at one
    // constant fair rate.
    if (!program.dedicated) sharedWithoutReduces += 1;
    expect(whole.ttft).toBe(ttft);
    expect(whole.makespan).toBe(run.makespan);
    expect(Array.from(whole.finish)).toEqual(finish);
  }
  expect(whole.events).toBe(run.events);

  const fresh = planRecurrence(request, router, new ComputePricer(scenario.model, scenario.gpu, 'flash'))!;
  const shortcut = runRecurrence(fresh, scenario.model.layers)!;
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
  return shortcut.layersRun < scenario.model.layers ? 'periodic' : 'ran';
}

/**
 * A scenario whose engine shares links (the flow model, not the static schedule) run on the engine
 * and as its recurrence (every layer): both runs, for the caller to compare.
 */
function onSharedLinks(scenario: Scenario, request: PlanRequest): { ttft: number; run: EngineRun; whole: RecurrenceRun } {
  const plan = buildPlan(request);
  const router = scenarioRouter(scenario);
  const program = compilePlan(plan, router);
  expect(program.dedicated).toBe(false);
  const run = executeProgram(program, opDurations(plan, scenario.gpu, 'flash'));
  const recurrence = planRecurrence(request, router, new ComputePricer(scenario.model, scenario.gpu, 'flash'));
  expect(recurrence).toBeDefined();
  const whole = runRecurrence(recurrence!, scenario.model.layers, { periodic: false });
  expect(whole).toBeDefined();
  return { ttft: run.end[run.indexOf[logitsOpId(plan)]!]!, run, whole: whole! };
}

describe('layer recurrences (sim/engine/layer-recurrence.ts)', () => {
  test('a recurrence gives the engine times on random plans and topologies (bit for bit without all-reduces), its periodic shortcut to 1e-9, and the same result', () => {
    let defined = 0;
    let kvrDefined = 0;
    let periodic = 0;
    // ring-kv --tp cases whose engine shares links (a position's channels, bundled) that still ran.
    let bundled = 0;
    fc.assert(
      fc.property(recurrenceCaseArb, (c) => {
        const outcome = checkAgainstEngine(c);
        if (outcome === 'ran' || outcome === 'periodic') {
          defined += 1;
          if (c.request.strategy === 'kvr' || c.request.strategy === 'kvr-e') kvrDefined += 1;
          if ((c.request.tp ?? 1) > 1 && !compilePlan(buildPlan(c.request), scenarioRouter(c.scenario)).dedicated) bundled += 1;
        }
        if (outcome === 'periodic') periodic += 1;
      }),
      propertyOptions(120),
    );
    // The property says something only if the recurrence ran, and its shortcut was taken.
    expect(defined).toBeGreaterThan(40);
    expect(kvrDefined).toBeGreaterThan(10);
    expect(periodic).toBeGreaterThan(0);
    console.log(`ring-kv --tp on shared links, run as a recurrence: ${bundled}; tsp bundles bit for bit: ${sharedWithoutReduces}`);
  });

  test('on shared uplinks and NICs: tsp and ring-kv --tp run their bundles as recurrences, the engine\'s times (tsp bit for bit, ring-kv --tp to 1e-12) and result', () => {
    const outcomes = { none: 0, refused: 0, ran: 0, periodic: 0 };
    const before = sharedWithoutReduces;
    let sharedWithReduces = 0;
    fc.assert(
      fc.property(sharedFabricCaseArb, (c) => {
        const outcome = checkAgainstEngine(c);
        outcomes[outcome] += 1;
        if ((outcome === 'ran' || outcome === 'periodic') && (c.request.tp ?? 1) > 1 && !compilePlan(buildPlan(c.request), scenarioRouter(c.scenario)).dedicated) sharedWithReduces += 1;
      }),
      propertyOptions(80),
    );
    console.log(`shared fabrics: ${JSON.stringify(outcomes)}; tsp on shared links ${sharedWithoutReduces - before}, ring-kv --tp ${sharedWithReduces}`);
    expect(sharedWithoutReduces - before).toBeGreaterThan(5);
    expect(sharedWithReduces).toBeGreaterThan(5);
  });

  test('kvr-tp: the recurrence gives the engine times to 1e-12 on random group partitions, group sizes, all-reduce algorithms, channels, protocols and blocks, its shortcut to 1e-9, and the same result; the search\'s one-chain recurrence its first token\'s time bit for bit', () => {
    const outcomes = { none: 0, refused: 0, ran: 0, periodic: 0 };
    let oneChain = 0;
    // Cases whose groups' hops share a link (an uplink, a NIC) and still ran as a recurrence.
    let bundled = 0;
    fc.assert(
      fc.property(kvrTpCaseArb, (c) => {
        const outcome = checkAgainstEngine(c);
        outcomes[outcome] += 1;
        if (outcome === 'none') return;
        // The search's recurrence (one chain where each group's members are alike): the same
        // first token's time, bit for bit, and the same layers run (or the same refusal).
        const router = scenarioRouter(c.scenario);
        const links = kvrTpLinks(c.request, router, new ComputePricer(c.scenario.model, c.scenario.gpu, 'flash'))!;
        if (links.together.includes(1) && outcome !== 'refused') bundled += 1;
        const L = c.scenario.model.layers;
        for (const periodic of [false, true]) {
          const full = runRecurrence(kvrTpRecurrence(c.request.partition!, links), L, { periodic });
          const search = kvrTpFirstTokenRecurrence(c.request.partition!, links);
          if (search.gpus < c.request.gpus && periodic) oneChain += 1;
          const run = runRecurrence(search, L, { periodic });
          expect(run?.ttft).toBe(full?.ttft);
          expect(run?.layersRun).toBe(full?.layersRun);
          expect(run?.makespan).toBe(full?.makespan);
        }
      }),
      propertyOptions(100),
    );
    console.log(`kvr-tp outcomes: ${JSON.stringify(outcomes)}, one chain a group in ${oneChain}, hops sharing links in ${bundled}`);
    expect(oneChain).toBeGreaterThan(10);
    expect(bundled).toBeGreaterThan(5);
    // Most groups fill a node (their own NVSwitch ports, a NIC a GPU): the recurrence runs.
    expect(outcomes.ran + outcomes.periodic).toBeGreaterThan(40);
    expect(outcomes.periodic).toBeGreaterThan(0);
    // Groups of half a node share NVSwitch ports with the chain: no recurrence.
    expect(outcomes.none).toBeGreaterThan(0);
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
    [32, 8, 8, 'simple', { oversubscription: 2 }],
    [24, 8, 8, 'll128', { nics_per_node: 4 }],
    [16, 4, 4, 'll', { nics_per_node: 2, oversubscription: 4 }],
  ] as const)('tsp over %i GPUs in nodes of %i with %i channels (%s) on shared links %o: the channels leaving a node run as a bundle, bit for bit', (gpus, perNode, channels, protocol, fabric) => {
    for (const strategy of ['tsp', 'tsp-causal'] as const) {
      const model: ModelSpec = { ...tinyModel, layers: 4 };
      const topo = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: perNode, nic_latency_s: 5e-6, ...fabric });
      // Blocks of 160 tokens: pieces of equal size on every channel (the bundle's bytes are equal).
      const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context: gpus * 160, strategy };
      const request: PlanRequest = { strategy, model, context: scenario.context, gpus, fabric: topologyFabric(topo, gpus), collective: 'ring', channels, protocol };
      const { ttft, run, whole } = onSharedLinks(scenario, request);
      expect(whole.ttft).toBe(ttft);
      expect(whole.makespan).toBe(run.makespan);
      expect(whole.events).toBe(run.events);
      // Blocks whose pieces differ by a token: the bundle's sends carry unequal bytes, and the
      // recurrence stands down for the engine.
      const uneven: PlanRequest = { ...request, context: gpus * 160 + 3 };
      const refused = planRecurrence(uneven, scenarioRouter(scenario), new ComputePricer(model, a100, 'flash'));
      expect(refused === undefined || runRecurrence(refused, model.layers, { periodic: false }) === undefined).toBe(true);
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

  test.each([
    [32, 8, 8, 'auto', { oversubscription: 2 }],
    [16, 4, 4, 'ring', { nics_per_node: 2 }],
    [24, 8, 8, 'tree', { nics_per_node: 1, oversubscription: 4 }],
    [16, 2, 2, 'hierarchical', { oversubscription: 2 }],
  ] as const)('ring-kv over %i GPUs, --tp %i in nodes of %i, %s all-reduces, on shared links %o: a position\'s channels run as a bundle, the engine to 1e-12', (gpus, tp, perNode, collective, fabric) => {
    const model: ModelSpec = { ...tinyModel, heads: 8, kv_heads: 4, layers: 4 };
    const topo = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: perNode, nic_latency_s: 5e-6, ...fabric });
    const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context: gpus * 50 + 3, strategy: 'ring-kv', tp };
    const request: PlanRequest = { strategy: 'ring-kv', model, context: scenario.context, gpus, tp, fabric: topologyFabric(topo, gpus), collective };
    const { ttft, run, whole } = onSharedLinks(scenario, request);
    expectClose(whole.ttft, ttft, 1e-12, 'ttft');
    expectClose(whole.makespan, run.makespan, 1e-12, 'makespan');
    expect(whole.events).toBe(run.events);
  });

  test.each(['kvr-e', 'ring-kv', 'tsp'] as const)("%s on rail-optimised leaves: the spine's uplinks carry several channels but never bind (slack), so the recurrence runs: the engine's times bit for bit", (strategy) => {
    const model: ModelSpec = { ...tinyModel, layers: 3 };
    const gpus = 24;
    const topo = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: 8, nic_latency_s: 5e-6, rails: true });
    const scenario: Scenario = { model, gpu: a100, topology: topo, gpus, context: gpus * 64, strategy };
    const request: PlanRequest = { strategy, model, context: scenario.context, gpus, fabric: topologyFabric(topo, gpus), ...(strategy === 'tsp' ? { collective: 'ring' as const } : {}) };
    const { ttft, run, whole } = onSharedLinks(scenario, request);
    expect(whole.ttft).toBe(ttft);
    expect(whole.makespan).toBe(run.makespan);
    expect(whole.events).toBe(run.events);
    // Oversubscribed rails: the uplinks bind, and the channels of several nodes share them.
    const tight = topology('multi-node', gpus, 3e11, 2e-6, { gpus_per_node: 8, nic_latency_s: 5e-6, rails: true, oversubscription: 4 });
    expect(planRecurrence(request, scenarioRouter({ ...scenario, topology: tight }), new ComputePricer(model, a100, 'flash'))).toBeUndefined();
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
