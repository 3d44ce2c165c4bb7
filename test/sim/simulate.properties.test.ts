import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import type { ModelSpec } from '../../sim/model/model-spec.js';
import { COLLECTIVE_STRATEGIES, type StrategyName } from '../../sim/plan/plan.js';
import { simulate, type Scenario } from '../../sim/simulate.js';
import { TOPOLOGY_PRESET_NAMES } from '../../sim/topology/presets.js';
import { TRACK, perfettoTrace } from '../../sim/trace/perfetto.js';
import type { Topology } from '../../sim/topology/topology.js';
import { propertyOptions } from '../support/property.js';
import { topology } from '../support/scenarios.js';

const modelArb: fc.Arbitrary<ModelSpec> = fc
  .record({
    layers: fc.integer({ min: 1, max: 3 }),
    hidden: fc.constantFrom(32, 64, 96),
    kvHeads: fc.constantFrom(1, 2),
    groups: fc.constantFrom(1, 2, 4),
    headDim: fc.constantFrom(8, 16),
    ffn: fc.constantFrom(64, 160),
    vocab: fc.constantFrom(100, 320),
    mlp: fc.constantFrom('swiglu' as const, 'gelu' as const),
    block: fc.constantFrom('sequential' as const, 'parallel' as const),
  })
  .map((r) => ({
    name: 'random',
    layers: r.layers,
    hidden: r.hidden,
    heads: r.kvHeads * r.groups,
    kv_heads: r.kvHeads,
    head_dim: r.headDim,
    ffn: r.ffn,
    vocab: r.vocab,
    dtype_bytes: 2,
    mlp: r.mlp,
    block: r.block,
    norm: r.block === 'parallel' ? ('layernorm' as const) : ('rmsnorm' as const),
    tied_embeddings: r.block === 'parallel',
  }));

/**
 * result.ts sums sent, received and comm_bytes_total in one loop, so comparing them with each other
 * proves little. This recounts them from the Perfetto trace instead (each transfer's send slice on
 * its source GPU, its recv slice on its destination, collectives drawn as the transfers they ran
 * as), rank by rank.
 */
function expectBytesOfTrace({ plan, run, result }: ReturnType<typeof simulate>): void {
  const sent = new Array<number>(plan.gpus).fill(0);
  const received = new Array<number>(plan.gpus).fill(0);
  for (const e of perfettoTrace(plan, run).traceEvents) {
    if (e.ph !== 'X' || e.cat !== 'comm') continue;
    const bytes = e.args!.bytes as number;
    if (e.tid === TRACK.send) sent[e.pid]! += bytes;
    else if (e.tid === TRACK.recv) received[e.pid]! += bytes;
  }
  expect(result.ranks.map((r) => r.sent_bytes)).toEqual(sent);
  expect(result.ranks.map((r) => r.recv_bytes)).toEqual(received);
  expect(result.comm_bytes_total).toBe(sent.reduce((a, b) => a + b, 0));
  expect(result.comm_bytes_total).toBe(received.reduce((a, b) => a + b, 0));
}

/** Random partition of `context` tokens into `gpus` positive chunks. */
function partitionArb(context: number, gpus: number): fc.Arbitrary<number[]> {
  // One rank takes everything (and a 1-token context leaves no room for a cut).
  if (gpus === 1) return fc.constant([context]);
  return fc
    .uniqueArray(fc.integer({ min: 1, max: context - 1 }), { minLength: gpus - 1, maxLength: gpus - 1 })
    .map((cuts) => {
      const bounds = [0, ...cuts.sort((a, b) => a - b), context];
      return bounds.slice(1).map((b, i) => b - bounds[i]!);
    });
}

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    model: modelArb,
    gpu: fc.constantFrom('ideal', 'a100-80g', 'h100-sxm'),
    gpus: fc.integer({ min: 1, max: 6 }),
    extraTokens: fc.integer({ min: 0, max: 3000 }),
    // Strategies with a fixed partition; kvr-s and kvr-p have their own properties.
    strategy: fc.constantFrom<StrategyName>('single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e'),
    topology: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.double({ min: 1e8, max: 1e12, noNaN: true }),
    latency: fc.constantFrom(0, 1e-6, 1e-5),
  })
  .chain((r) => {
    const gpus = r.strategy === 'single' ? 1 : r.gpus;
    const context = gpus + r.extraTokens;
    const base: Scenario = {
      model: r.model,
      gpu: GPU_PRESETS[r.gpu]!,
      topology: topology(r.topology, gpus, r.bandwidth, r.latency, { gpus_per_node: 2, nic_bandwidth: r.bandwidth / 4, nic_latency_s: r.latency }),
      gpus,
      context,
      strategy: r.strategy as StrategyName,
    };
    if (r.strategy !== 'kvr') return fc.constant(base);
    return partitionArb(context, gpus).map((partition) => ({ ...base, partition }));
  });

/** A copy of the topology with one link (or one direction of it) made faster. */
function withFasterLink(t: Topology, link: number, factor: number, direction: 'ab' | 'ba' | 'both'): Topology {
  return {
    ...t,
    links: t.links.map((l, i) =>
      i !== link
        ? l
        : {
            ...l,
            bandwidth_ab: direction === 'ba' ? l.bandwidth_ab : l.bandwidth_ab * factor,
            bandwidth_ba: direction === 'ab' ? l.bandwidth_ba : l.bandwidth_ba * factor,
          },
    ),
  };
}

/** Rounding in the event arithmetic may move equal times by an ulp or so, never more. */
const ROUNDING = 1e-12;

describe('simulator properties', () => {
  test('TTFT never rises when any link gets faster', () => {
    // On the presets' traffic patterns (chains and rings) no two flows share a directed link, so
    // the fluid network is monotone. With shared links, max-min fairness itself is not: a faster
    // link can hand one flow more of a second link at another flow's expense.
    fc.assert(
      fc.property(
        scenarioArb.filter((s) => s.topology.links.length > 0),
        fc.nat(),
        fc.double({ min: 1.01, max: 100, noNaN: true }),
        fc.constantFrom('ab' as const, 'ba' as const, 'both' as const),
        (s, pick, factor, direction) => {
          const before = simulate(s).result.ttft_s;
          const faster = withFasterLink(s.topology, pick % s.topology.links.length, factor, direction);
          const after = simulate({ ...s, topology: faster }).result.ttft_s;
          expect(after).toBeLessThanOrEqual(before * (1 + ROUNDING));
        },
      ),
      propertyOptions(150),
    );
  });

  // With a fixed collective algorithm and protocol. Under --collective auto the tuner may switch
  // protocol (LL -> LL128 -> Simple) as messages grow, as NCCL's does, and a slightly larger
  // context can then be faster (seen: tsp, 3 GPUs, 571 -> 572 tokens, LL -> LL128, -0.14%).
  test('TTFT never falls when the context grows (collectives forced to one ring)', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 500 }), fc.nat(), (drawn, more, pick) => {
        const s: Scenario = COLLECTIVE_STRATEGIES.includes(drawn.strategy) ? { ...drawn, collective: 'ring' } : drawn;
        const before = simulate(s).result.ttft_s;
        const grown: Scenario = { ...s, context: s.context + more };
        if (s.partition !== undefined) {
          const rank = pick % s.partition.length;
          grown.partition = s.partition.map((c, i) => (i === rank ? c + more : c));
        }
        expect(simulate(grown).result.ttft_s).toBeGreaterThanOrEqual(before * (1 - ROUNDING));
      }),
      propertyOptions(150),
    );
  });

  test("kvr's flops_total equals single's for every partition", () => {
    fc.assert(
      fc.property(
        scenarioArb.filter((s) => s.strategy === 'kvr'),
        (s) => {
          const single = simulate({ ...s, strategy: 'single', gpus: 1, partition: undefined }).result;
          expect(simulate(s).result.flops_total).toBe(single.flops_total);
        },
      ),
      propertyOptions(100),
    );
  });

  test('kvr with one rank equals single', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const one = { ...s, gpus: 1, topology: topology('switch', 1, 1e11) };
        const kvr = simulate({ ...one, strategy: 'kvr', partition: [s.context] }).result;
        const single = simulate({ ...one, strategy: 'single', partition: undefined }).result;
        expect({ ...kvr, strategy: 'single', partition_origin: single.partition_origin }).toEqual(single);
      }),
      propertyOptions(100),
    );
  });

  test('the same input gives the same output, bit for bit', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const first = simulate(s);
        const second = simulate(structuredClone(s));
        expect(JSON.stringify(second.result)).toBe(JSON.stringify(first.result));
        expect(Buffer.from(second.run.end.buffer).equals(Buffer.from(first.run.end.buffer))).toBe(true);
      }),
      propertyOptions(100),
    );
  });

  test('bytes sent and received per rank, and comm_bytes_total, are those of the transfers the run drew', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => expectBytesOfTrace(simulate(s))),
      propertyOptions(100),
    );
  });

  test('every rank finishes no later than the makespan, which is no earlier than TTFT (the last rank\'s lm_head), and never computes longer than it finishes', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { result } = simulate(s);
        expect(result.ttft_s).toBeLessThanOrEqual(result.makespan_s);
        expect(result.ranks[result.ranks.length - 1]!.finish_s).toBe(result.ttft_s);
        for (const rank of result.ranks) {
          expect(rank.finish_s).toBeLessThanOrEqual(result.makespan_s);
          expect(rank.compute_s).toBeLessThanOrEqual(rank.finish_s * (1 + ROUNDING));
        }
      }),
      propertyOptions(100),
    );
  });
});

/** Scenarios of the strategies of issue #7 (ring-kv, tp, tp-sp, kvr-tp), with either collective. */
const parallelArb: fc.Arbitrary<Scenario> = fc
  .record({
    model: modelArb,
    gpu: fc.constantFrom('ideal', 'a100-80g', 'h100-sxm'),
    gpus: fc.integer({ min: 1, max: 6 }),
    extraTokens: fc.integer({ min: 0, max: 2000 }),
    strategy: fc.constantFrom<StrategyName>('ring-kv', 'tp', 'tp-sp', 'kvr-tp'),
    collective: fc.constantFrom('ring' as const, 'direct' as const),
    tpPick: fc.nat(),
    topology: fc.constantFrom(...TOPOLOGY_PRESET_NAMES),
    bandwidth: fc.double({ min: 1e8, max: 1e12, noNaN: true }),
    latency: fc.constantFrom(0, 1e-6, 1e-5),
  })
  .map((r): Scenario => {
    // tp needs a head per GPU; kvr-tp a divisor of the GPUs with a head per group member.
    const gpus = r.strategy === 'tp' || r.strategy === 'tp-sp' ? Math.min(r.gpus, r.model.heads) : r.gpus;
    const divisors = Array.from({ length: gpus }, (_, i) => i + 1).filter((t) => gpus % t === 0 && t <= r.model.heads);
    const s: Scenario = {
      model: r.model,
      gpu: GPU_PRESETS[r.gpu]!,
      topology: topology(r.topology, gpus, r.bandwidth, r.latency, { gpus_per_node: 2, nic_bandwidth: r.bandwidth / 4, nic_latency_s: r.latency }),
      gpus,
      context: 2 * gpus + r.extraTokens,
      strategy: r.strategy,
    };
    if (r.strategy !== 'ring-kv') s.collective = r.collective;
    if (r.strategy === 'kvr-tp') {
      s.tp = divisors[r.tpPick % divisors.length]!;
      // A lattice of about 8 granules per group keeps the search short and always feasible.
      s.search = { method: 'fast', granularity: Math.max(1, Math.floor(s.context / (8 * (gpus / s.tp)))) };
    }
    return s;
  });

describe('simulator properties of ring-kv, tp, tp-sp and kvr-tp', () => {
  test('bytes sent and received per rank, and comm_bytes_total, are those of the transfers the run drew', () => {
    fc.assert(
      fc.property(parallelArb, (s) => expectBytesOfTrace(simulate(s))),
      propertyOptions(80),
    );
  });

  test('the same input gives the same output, bit for bit', () => {
    fc.assert(
      fc.property(parallelArb, (s) => {
        const first = simulate(s);
        const second = simulate(structuredClone(s));
        expect(JSON.stringify(second.result)).toBe(JSON.stringify(first.result));
        expect(Buffer.from(second.run.end.buffer).equals(Buffer.from(first.run.end.buffer))).toBe(true);
      }),
      propertyOptions(60),
    );
  });

  test("ring-kv's flops_total equals single's: the causal work is only distributed", () => {
    fc.assert(
      fc.property(
        parallelArb.filter((s) => s.strategy === 'ring-kv'),
        (s) => {
          const single = simulate({ ...s, strategy: 'single', gpus: 1, topology: topology('switch', 1, 1e11) }).result;
          expect(simulate(s).result.flops_total).toBe(single.flops_total);
        },
      ),
      propertyOptions(60),
    );
  });

  test("tp's flops_total equals single's when its GPUs divide the heads, KV heads and FFN; else KV projections are replicated, never less", () => {
    fc.assert(
      fc.property(
        parallelArb.filter((s) => s.strategy === 'tp' || s.strategy === 'tp-sp'),
        (s) => {
          const single = simulate({ ...s, strategy: 'single', gpus: 1, collective: undefined, topology: topology('switch', 1, 1e11) }).result;
          const flops = simulate(s).result.flops_total;
          const m = s.model;
          const divides = m.heads % s.gpus === 0 && m.kv_heads % s.gpus === 0 && m.ffn % s.gpus === 0;
          if (divides) expect(flops).toBe(single.flops_total);
          else expect(flops).toBeGreaterThanOrEqual(single.flops_total);
        },
      ),
      propertyOptions(60),
    );
  });

  test('one group of one GPU is single: ring-kv, tp and tp-sp on one GPU, and kvr-tp with tp 1 is kvr', () => {
    fc.assert(
      fc.property(parallelArb, (s) => {
        const one: Scenario = { ...s, gpus: 1, topology: topology('switch', 1, 1e11), tp: s.strategy === 'kvr-tp' ? 1 : undefined };
        const single = simulate({ ...one, strategy: 'single', collective: undefined, tp: undefined, search: undefined }).result;
        expect(simulate(one).result.ttft_s).toBe(single.ttft_s);
        if (s.strategy === 'kvr-tp' && s.gpus > 1 && s.context >= s.gpus) {
          const partition = simulate({ ...s, tp: 1 }).result.partition;
          const kvr = simulate({ ...s, strategy: 'kvr', tp: undefined, collective: undefined, search: undefined, partition }).result;
          expect(simulate({ ...s, tp: 1, partition }).result.ttft_s).toBe(kvr.ttft_s);
        }
      }),
      propertyOptions(40),
    );
  });

  test('every rank finishes no later than the makespan, no earlier than TTFT; re-sharding for decode never moves more than replicating', () => {
    fc.assert(
      fc.property(parallelArb, (s) => {
        const { result } = simulate(s);
        expect(result.ttft_s).toBeLessThanOrEqual(result.makespan_s);
        for (const rank of result.ranks) expect(rank.finish_s).toBeLessThanOrEqual(result.makespan_s);
        expect(result.decode.reshard_bytes).toBeLessThanOrEqual(result.decode.replicate_bytes);
        if (s.strategy === 'tp' || s.strategy === 'tp-sp') expect(result.decode.reshard_bytes).toBe(0);
      }),
      propertyOptions(60),
    );
  });
});
