import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { executePlan, timeOps, type Measurement } from '../../native/js/executor.js';
import { linkEmulationFor, type LinkEmulation } from '../../native/js/link-emulation.js';
import { runPlan } from '../../sim/engine/engine.js';
import { KvrInputError } from '../../sim/errors.js';
import { modelFromJson } from '../../sim/model/model-spec.js';
import { buildPlan } from '../../sim/plan/build-plan.js';
import type { Plan } from '../../sim/plan/plan.js';
import { Router } from '../../sim/topology/routing.js';
import { topologyFromJson, type Topology } from '../../sim/topology/topology.js';
import { rejection } from '../support/native-rejection.js';

// Only what the pacer guarantees is asserted: it never releases a transfer early, so lower bounds
// are tight. How late a transfer ends depends on the machine's load (vitest runs other CPU-bound
// files beside this one, on what may be a 2-core machine, and a thread whose transfer is done can
// wait milliseconds for a core), so per-transfer upper bounds are not asserted. (On an idle machine
// the pacer lands within ~0.2 ms of the fluid schedule.) The TTFT prediction test keeps a loose
// upper bound, SLACK_S + SLACK_RATIO, with retries: there the bound is the claim.
const SLACK_S = 5e-3;
const SLACK_RATIO = 0.25;
// Float round-off between the pacer's clock and the measured op times.
const EPSILON_S = 1e-6;

const tinyLlama = modelFromJson(
  JSON.parse(readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8')),
);
// K,V bytes of one token of tiny-llama in the plan's dtype: 2 (k, v) * kv_heads 2 * head_dim 64 * 2 bytes.
const KV_BYTES_PER_TOKEN = 512;

// Three GPUs on one switch; every GPU link is slow enough that 128 tokens of K,V (64 KiB) take
// 10 ms, and a route crosses two links (GPU -> switch -> GPU), so its latency is 2 * 0.5 ms.
const LINK_BANDWIDTH = (128 * KV_BYTES_PER_TOKEN) / 10e-3;
const LINK_LATENCY_S = 0.5e-3;
function starTopology(bandwidth: number): Topology {
  return topologyFromJson({
    name: 'slow-star',
    nodes: [
      { id: 'gpu0', kind: 'gpu' },
      { id: 'gpu1', kind: 'gpu' },
      { id: 'gpu2', kind: 'gpu' },
      { id: 'sw', kind: 'switch' },
    ],
    links: ['gpu0', 'gpu1', 'gpu2'].map((gpu) => ({ a: gpu, b: 'sw', bandwidth, latency: LINK_LATENCY_S })),
  });
}
const star = starTopology(LINK_BANDWIDTH);

function transferDurations(m: Measurement): number[] {
  return m.transfers.map((t) => t.end_s - t.start_s);
}

describe('linkEmulationFor', () => {
  test('routes every ordered pair of distinct ranks as the simulator does', () => {
    const router = new Router(star);
    const links = linkEmulationFor(star, 3);
    expect(links.capacity).toEqual(Array.from(router.capacities()));
    expect(links.routes.map((r) => [r.src, r.dst])).toEqual([
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 2],
      [2, 0],
      [2, 1],
    ]);
    for (const route of links.routes) {
      const expected = router.route(route.src, route.dst);
      expect(route.resources).toEqual(Array.from(expected.resources));
      expect(route.latency_s).toBeCloseTo(2 * LINK_LATENCY_S, 12);
    }
    // The routes into rank 2 share the switch -> gpu2 resource: what lets two flows contend.
    const into2 = links.routes.filter((r) => r.dst === 2).map((r) => r.resources[r.resources.length - 1]);
    expect(into2[0]).toBe(into2[1]);
  });

  test('more ranks than the topology has GPUs is an input error', () => {
    expect(() => linkEmulationFor(star, 4)).toThrow(KvrInputError);
  });
});

describe('CPU backend with emulated links', () => {
  test('each transfer of a 2-rank KV-Runahead plan takes latency + bytes / bandwidth', async () => {
    const plan = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 256, gpus: 2 });
    const { measurement } = await executePlan(plan, { warmup: 0, repeats: 1, links: linkEmulationFor(star, 2) });
    expect(measurement.transfers).toHaveLength(tinyLlama.layers);
    for (const transfer of measurement.transfers) {
      expect(transfer.bytes).toBe(128 * KV_BYTES_PER_TOKEN);
      const ideal = 2 * LINK_LATENCY_S + transfer.bytes / LINK_BANDWIDTH; // 11 ms
      const duration = transfer.end_s - transfer.start_s;
      expect(duration).toBeGreaterThanOrEqual(ideal - EPSILON_S);
    }
  });

  test('two concurrent transfers sharing one link each take at least twice as long as one alone, less their lag', async () => {
    // tsp on 2 ranks: in every layer, once both ranks' qkv are done, rank 0 sends to 1 and 1 to 0
    // at the same time. Separate resources: each runs at full rate. One resource for both
    // directions: they share it, as two flows into one GPU would.
    const plan = buildPlan({ strategy: 'tsp', model: tinyLlama, context: 256, gpus: 2 });
    const bandwidth = (128 * KV_BYTES_PER_TOKEN) / 20e-3; // 20 ms alone
    const alone = 20e-3;
    const route = (src: number, dst: number, resource: number) => ({ src, dst, latency_s: 0, resources: [resource] });
    const separate: LinkEmulation = { capacity: [bandwidth, bandwidth], routes: [route(0, 1, 0), route(1, 0, 1)] };
    const shared: LinkEmulation = { capacity: [bandwidth], routes: [route(0, 1, 0), route(1, 0, 0)] };
    const options = { warmup: 0, repeats: 1 };
    const apart = (await executePlan(plan, { ...options, links: separate })).measurement;
    const together = (await executePlan(plan, { ...options, links: shared })).measurement;

    for (const duration of transferDurations(apart)) expect(duration).toBeGreaterThanOrEqual(alone - EPSILON_S);
    for (let layer = 0; layer < tinyLlama.layers; layer++) {
      const pair = together.transfers.filter((t) => t.layer === layer);
      expect(pair).toHaveLength(2);
      // Fluid model: flows starting `lag` apart on one link of capacity B, S bytes each, both take
      // 2S/B - lag (the link is never idle and the first runs alone for `lag`); a lag of S/B or
      // more (a rank held up by load) leaves them apart, S/B each. Unshared, they would take S/B.
      const lag = Math.abs(pair[0]!.start_s - pair[1]!.start_s);
      for (const t of pair) expect(t.end_s - t.start_s).toBeGreaterThanOrEqual(Math.max(alone, 2 * alone - lag) - EPSILON_S);
    }
  });

  test("the simulator's engine, given the run's compute times, predicts the emulated TTFT", async () => {
    // The CPU computes far slower than the GPU the simulator costs ops for, so the prediction
    // replays the plan through the simulator's engine (its queues, dependencies and link model)
    // with the compute durations this run measured: what is left to compare is the link model.
    // Two ranks, not three: with more busy rank threads than cores, paced threads queue for a core.
    // Links 4x slower than above make the plan transfer-dominated (2 x 41 ms on the critical path),
    // so the hand-offs between ops, slow on a loaded machine, weigh little; and a run that a burst
    // of load still pushes past the bound is retried, up to three runs.
    const slow = starTopology(LINK_BANDWIDTH / 4);
    const plan = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 256, gpus: 2 });
    const lmHead = plan.ops.find((op) => op.kind === 'compute' && op.name === 'lm_head')!;
    let measured = Infinity;
    let predicted = 0;
    for (let attempt = 0; attempt < 3 && measured > predicted * (1 + SLACK_RATIO) + SLACK_S; attempt++) {
      const { measurement } = await executePlan(plan, { warmup: 0, repeats: 1, links: linkEmulationFor(slow, 2) });
      const durations = new Float64Array(plan.ops.length);
      for (const op of measurement.ranks.flatMap((r) => r.ops)) durations[op.id] = op.end_s - op.start_s;
      measured = measurement.ttft_s;
      predicted = runPlan(plan, durations, new Router(slow)).end[lmHead.id]!;
      expect(predicted).toBeGreaterThan(2 * 41e-3);
      // The replay hands off between ops instantly and its transfers are ideal: a run is never faster.
      expect(measured).toBeGreaterThanOrEqual(predicted - 1e-4);
    }
    expect(measured).toBeLessThanOrEqual(predicted * (1 + SLACK_RATIO) + SLACK_S);
  });
});

describe('bad link emulations are coded rejections', () => {
  const plan = buildPlan({ strategy: 'tsp', model: tinyLlama, context: 64, gpus: 2 });
  const good = linkEmulationFor(star, 2);
  const once = { warmup: 0, repeats: 1 };

  test.each<[string, LinkEmulation, RegExp]>([
    ['a route missing for a transfer', { ...good, routes: good.routes.filter((r) => r.src === 0) }, /^links: no route for transfers from rank 1 to rank 0$/],
    ['a zero capacity', { ...good, capacity: [0, ...good.capacity.slice(1)] }, /^links\.capacity\[0\]: expected a positive number of bytes\/s \(got 0\)$/],
    ['a negative capacity', { ...good, capacity: [...good.capacity.slice(1), -1] }, /^links\.capacity\[5\]: expected a positive number/],
    ['a resource out of range', { ...good, routes: [{ ...good.routes[0]!, resources: [9] }] }, /^links\.routes\[0\]\.resources\[0\]: resource 9 is out of range: links\.capacity has 6 entries$/],
    ['a resource twice in a route', { ...good, routes: [{ ...good.routes[0]!, resources: [1, 1] }] }, /^links\.routes\[0\]\.resources\[1\]: resource 1 appears twice/],
    ['a negative latency', { ...good, routes: [{ ...good.routes[0]!, latency_s: -1 }] }, /^links\.routes\[0\]\.latency_s: expected a finite number of seconds >= 0/],
    ['a duplicate route', { ...good, routes: [...good.routes, good.routes[0]!] }, /^links\.routes\[2\]: a second route from rank 0 to rank 1 \(the first is links\.routes\[0\]\)$/],
    ['a route to itself', { ...good, routes: [{ ...good.routes[0]!, dst: 0 }] }, /^links\.routes\[0\]\.dst: a route from rank 0 to itself$/],
    ['a misspelt field', { ...good, routes: [{ src: 0, dst: 1, latency: 0, resources: [0] } as never] }, /^links\.routes\[0\]: unknown field "latency"/],
  ])('%s', async (_name, links, message) => {
    const error = await rejection(executePlan(plan, { ...once, links }));
    expect(error.code).toBe('invalid-argument');
    expect(error.message).toMatch(message);
    expect(error.where).toMatch(/\.cpp:\d+$/);
  });

  test('timeOps rejects them too', async () => {
    const error = await rejection(timeOps(plan, [0], { ...once, links: { ...good, capacity: [] } }));
    expect(error.code).toBe('invalid-argument');
    expect(error.message).toMatch(/^links\.routes\[0\]\.resources\[0\]: resource \d+ is out of range/);
  });

  test('without transfers over a pair, no route is needed for it', async () => {
    const single = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 64, gpus: 2 });
    const links = { ...good, routes: good.routes.filter((r) => r.src === 0) };
    const { measurement } = await executePlan(single, { ...once, links });
    expect(measurement.transfers).toHaveLength(tinyLlama.layers);
  });
});
