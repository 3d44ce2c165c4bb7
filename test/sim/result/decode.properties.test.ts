import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { buildPlan, type PlanRequest } from '../../../sim/plan/build-plan.js';
import type { StrategyName } from '../../../sim/plan/plan.js';
import { decodeReadiness, kvHoldings, kvTransfers, type Rect } from '../../../sim/result/decode.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { Router } from '../../../sim/topology/routing.js';
import type { Topology, TopologyLink, TopologyNode } from '../../../sim/topology/topology.js';
import { tensorShards } from '../../../sim/plan/tensor-shard.js';
import { kvMoves, movesSeconds } from '../../support/reference-decode.js';
import { propertyOptions } from '../../support/property.js';
import { ideal, topology } from '../../support/scenarios.js';

/** GPUs hung off a random graph of switches: unequal links (per direction), parallel links, and explicit routes. */
function randomGraph(gpus: number, switches: number, seed: number): Topology {
  const random = mulberry32(seed);
  const nextInt = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const nodes: TopologyNode[] = [
    ...Array.from({ length: gpus }, (_, i): TopologyNode => ({ id: `gpu${i}`, kind: 'gpu' })),
    ...Array.from({ length: switches }, (_, i): TopologyNode => ({ id: `sw${i}`, kind: 'switch' })),
  ];
  const links: TopologyLink[] = [];
  const rate = () => nextInt(1, 64) * 1e9;
  const link = (a: number, b: number) => links.push({ a, b, bandwidth_ab: rate(), bandwidth_ba: rate(), latency_s: nextInt(0, 5) * 1e-6 });
  for (let s = 1; s < switches; s++) link(gpus + nextInt(0, s - 1), gpus + s); // a spanning tree
  for (let e = nextInt(0, switches); e > 0; e--) link(gpus + nextInt(0, switches - 1), gpus + nextInt(0, switches - 1));
  const home: number[] = [];
  for (let g = 0; g < gpus; g++) {
    home.push(gpus + nextInt(0, switches - 1));
    link(g, home[g]!);
    if (nextInt(0, 3) === 0) link(g, gpus + nextInt(0, switches - 1));
  }
  // Explicit routes: half the pairs (g, g+1) get a slow second link from g+1 to g's home switch
  // and a route over it, which the fastest-path search would often not take.
  const routes: { nodes: number[] }[] = [];
  for (let g = 0; g + 1 < gpus; g += 2) {
    if (nextInt(0, 1) === 0) continue;
    links.push({ a: home[g]!, b: g + 1, bandwidth_ab: 1e8, bandwidth_ba: 1e8, latency_s: 7e-6 });
    routes.push({ nodes: [g, home[g]!, g + 1] });
  }
  return { name: 'random', nodes, links, routes };
}

const planArb = fc
  .record({
    strategy: fc.constantFrom<StrategyName>('single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'ring-kv', 'tp', 'tp-sp', 'kvr-tp'),
    model: fc.constantFrom('llama2-7b', 'llama2-70b', 'falcon-7b', 'llama3-8b'),
    gpus: fc.integer({ min: 1, max: 12 }),
    context: fc.integer({ min: 64, max: 6000 }),
    tpIndex: fc.nat(),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
  })
  .map(({ strategy, model, gpus, context, tpIndex, cuts }) => {
    const spec = { ...MODEL_PRESETS[model]!, layers: 2 };
    const tps = Array.from({ length: gpus }, (_, i) => i + 1).filter((t) => gpus % t === 0);
    const tp = strategy === 'kvr-tp' ? tps[tpIndex % tps.length]! : undefined;
    const parts = strategy === 'kvr' ? gpus : strategy === 'kvr-tp' ? gpus / tp! : 0;
    // A random partition with every chunk >= 1: sorted distinct cut points.
    const points = [...new Set(cuts.slice(0, Math.max(0, parts - 1)).map((u) => 1 + Math.floor(u * (context - parts))))].sort((a, b) => a - b);
    const partition = parts === 0 ? undefined : chunksFrom(points.map((x, i) => x + i), context, parts);
    const request: PlanRequest = { strategy, model: spec, context, gpus: strategy === 'single' ? 1 : gpus, tp, partition };
    return request;
  });

function chunksFrom(points: number[], context: number, parts: number): number[] {
  const bounds = [0, ...points, context];
  const chunks = bounds.slice(1).map((b, i) => b - bounds[i]!);
  while (chunks.length < parts) {
    const big = chunks.indexOf(Math.max(...chunks));
    const half = Math.floor(chunks[big]! / 2);
    chunks.splice(big, 1, chunks[big]! - half, half);
  }
  return chunks;
}

function topologyArb(gpus: number): fc.Arbitrary<Topology> {
  return fc.oneof(
    fc.record({ name: fc.constantFrom(...TOPOLOGY_PRESET_NAMES), bandwidth: fc.integer({ min: 1, max: 500 }), latency: fc.integer({ min: 0, max: 5 }) }).map(({ name, bandwidth, latency }) =>
      topology(name, gpus, bandwidth * 1e9, latency * 1e-6, { gpus_per_node: 4 }),
    ),
    fc.record({ switches: fc.integer({ min: 1, max: 5 }), seed: fc.integer() }).map(({ switches, seed }) => randomGraph(gpus, switches, seed)),
  );
}

/** A small seeded generator (mulberry32), so a drawn graph is a function of its drawn seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('kvTransfers (link loads summed per source) equals one route lookup per message', () => {
  test('random plans and topologies: same bytes, bit for bit, and the same seconds to 1e-12', () => {
    const caseArb = planArb.chain((request) => fc.tuple(fc.constant(request), topologyArb(request.gpus), fc.boolean()));
    fc.assert(
      fc.property(caseArb, ([request, graph, extraLatency]) => {
        const plan = buildPlan(request);
        const p = plan.gpus;
        const router = new Router(graph, extraLatency ? 3e-6 : 0);
        const oracleRouter = new Router(graph, extraLatency ? 3e-6 : 0);
        const holdings = kvHoldings(plan);
        const shards = tensorShards(plan.model, p);
        const needs: Rect[][] = [
          shards.map((s) => ({ t0: 0, t1: plan.context, h0: s.first_kv_head, h1: s.first_kv_head + s.kv_heads })),
          shards.map(() => ({ t0: 0, t1: plan.context, h0: 0, h1: plan.model.kv_heads })),
        ];
        for (const needed of needs) {
          const moves = kvMoves(plan, holdings, needed);
          const fast = kvTransfers(plan, holdings, needed, router);
          expect(fast.bytes).toBe(moves.reduce((total, move) => total + move.bytes, 0));
          const seconds = movesSeconds(moves, oracleRouter);
          expect(Math.abs(fast.seconds - seconds)).toBeLessThanOrEqual(1e-12 * seconds);
        }
        const d = decodeReadiness(plan, ideal, router, plan.kv_tokens.map(() => 0));
        expect(d.reshard_bytes).toBe(kvMoves(plan, holdings, needs[0]!).reduce((t, m) => t + m.bytes, 0));
      }),
      propertyOptions(300),
    );
  });
});

describe('kvTransfers on arbitrary holdings (nested, overlapping, empty rectangles)', () => {
  test('the same bytes as one message per pair, bit for bit: the index of held rectangles misses no pair that subtracts', () => {
    const rectArb = (tokens: number, heads: number) =>
      fc
        .tuple(fc.integer({ min: 0, max: tokens }), fc.integer({ min: 0, max: tokens }), fc.integer({ min: 0, max: heads }), fc.integer({ min: 0, max: heads }))
        .map(([a, b, c, d]): Rect => ({ t0: Math.min(a, b), t1: Math.max(a, b), h0: Math.min(c, d), h1: Math.max(c, d) }));
    const caseArb = fc.integer({ min: 2, max: 9 }).chain((p) =>
      fc.record({
        p: fc.constant(p),
        held: fc.array(fc.array(rectArb(400, 8), { maxLength: 3 }), { minLength: p, maxLength: p }),
        served: fc.array(fc.record({ rank: fc.integer({ min: 0, max: p - 1 }), rect: rectArb(400, 8) }), { maxLength: 2 * p }),
        // Wants of few kinds (ranks alike share one), as the re-shard's and the replica's are.
        kinds: fc.array(rectArb(400, 8), { minLength: 1, maxLength: 3 }),
        kindOf: fc.array(fc.nat(), { minLength: p, maxLength: p }),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ p, held, served, kinds, kindOf }) => {
        const model = { ...MODEL_PRESETS['llama2-7b']!, kv_heads: 8, layers: 2 };
        const plan = buildPlan({ strategy: 'kvr-e', model, context: 400 * p, gpus: p });
        const holdings = { held, primary: served };
        const needed = kindOf.map((k) => kinds[k % kinds.length]!);
        const expected = kvMoves(plan, holdings, needed).reduce((total, move) => total + move.bytes, 0);
        const router = new Router(topology('switch', p, 1e11));
        expect(kvTransfers(plan, holdings, needed, router).bytes).toBe(expected);
      }),
      propertyOptions(300),
    );
  });
});
