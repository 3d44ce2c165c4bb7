import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { kvHoldings, kvTransfers } from '../../../sim/result/decode.js';
import { kvMoves, movesSeconds } from '../../support/reference-decode.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { Router } from '../../../sim/topology/routing.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { ideal, llama7b, topology } from '../../support/scenarios.js';

const L = llama7b.layers;
const kvb = 2 * llama7b.kv_heads * llama7b.head_dim * llama7b.dtype_bytes;

function scenario(strategy: Scenario['strategy'], gpus: number, context: number, bandwidth: number, extra: Partial<Scenario> = {}): Scenario {
  return { model: llama7b, gpu: ideal, topology: topology('switch', gpus, bandwidth), gpus, context, strategy, ...extra };
}

describe('decode readiness', () => {
  test('kvr-e leaves the whole cache on its last rank; TP decode needs each later chunk, for its heads, on every earlier rank', () => {
    const [p, C, B] = [4, 8192, 100e9];
    const d = simulate(scenario('kvr-e', p, C, B)).result.decode;
    expect([d.layout, d.tp, d.max_kv_cache_rank, d.max_kv_cache_bytes]).toEqual(['tp', p, 3, C * kvb * L]);
    // Rank r lacks chunks r+1..p-1 (c tokens each): 3 + 2 + 1 chunks in all.
    const c = C / p;
    expect(d.reshard_bytes).toBe((6 * c * kvb * L) / p);
    expect(d.replicate_bytes).toBe(6 * c * kvb * L);
    // Route-bottleneck time on the switch: the last rank's link carries its chunk to three ranks.
    expect(d.reshard_s).toBeCloseTo((3 * c * kvb * L) / p / B, 12);
    expect(d.decode_kv_bytes_per_rank).toBe((C * kvb * L) / p);
  });

  test('tsp and tp are already laid out for TP decode; ring-kv gathers every other rank\'s chunks', () => {
    const [p, C] = [4, 8192];
    expect(simulate(scenario('tsp', p, C, 1e11)).result.decode.reshard_bytes).toBe(0);
    const tp = simulate(scenario('tp', p, C, 1e11)).result.decode;
    expect([tp.reshard_bytes, tp.reshard_s, tp.replicate_bytes]).toEqual([0, 0, (p - 1) * C * kvb * L]);
    const ring = simulate(scenario('ring-kv', p, C, 1e11)).result.decode;
    expect(ring.reshard_bytes).toBe(((p - 1) * C * kvb * L) / p);
  });

  test('kvr-tp: group k holds its prefix for its positions\' KV heads; chunks are served by the group that made them', () => {
    const plan = buildPlan({ strategy: 'kvr-tp', model: llama7b, context: 4000, gpus: 4, tp: 2, partition: [2500, 1500] });
    const holdings = kvHoldings(plan);
    expect(holdings.held[1]).toEqual([{ t0: 0, t1: 2500, h0: 16, h1: 32 }]);
    expect(holdings.held[2]).toEqual([{ t0: 0, t1: 4000, h0: 0, h1: 16 }]);
    expect(holdings.primary.map(({ rank, rect }) => [rank, rect.t0, rect.t1, rect.h0, rect.h1])).toEqual([
      [0, 0, 2500, 0, 16],
      [1, 0, 2500, 16, 32],
      [2, 2500, 4000, 0, 16],
      [3, 2500, 4000, 16, 32],
    ]);
    // TP over 4: rank r needs KV heads [8r, 8r+8) of all 4000 tokens.
    const moves = kvMoves(plan, holdings, [0, 1, 2, 3].map((r) => ({ t0: 0, t1: 4000, h0: 8 * r, h1: 8 * r + 8 })));
    const perTokenHead = 2 * llama7b.head_dim * llama7b.dtype_bytes * L;
    // Rank 0 (heads 0-15 of tokens 0-2499) lacks tokens 2500-3999 of heads 0-7; rank 1 (heads
    // 16-31 of 0-2499) lacks heads 8-15 of everything; rank 2 (0-15 of all) lacks 16-23; rank 3
    // (16-31 of all) has heads 24-31 already.
    expect(moves).toEqual([
      { src: 2, dst: 0, bytes: 1500 * 8 * perTokenHead },
      { src: 0, dst: 1, bytes: 2500 * 8 * perTokenHead },
      { src: 2, dst: 1, bytes: 1500 * 8 * perTokenHead },
      { src: 1, dst: 2, bytes: 2500 * 8 * perTokenHead },
      { src: 3, dst: 2, bytes: 1500 * 8 * perTokenHead },
    ]);
    const needs = [0, 1, 2, 3].map((r) => ({ t0: 0, t1: 4000, h0: 8 * r, h1: 8 * r + 8 }));
    const router = new Router(topology('switch', 4, 100e9));
    // Each rank's downlink carries what it receives: rank 1 gets 2500 + 1500 tokens of 8 heads.
    expect(kvTransfers(plan, holdings, needs, router)).toEqual({ bytes: (1500 + 2500 + 1500 + 2500 + 1500) * 8 * perTokenHead, seconds: (4000 * 8 * perTokenHead) / 100e9 });
  });

  test('GQA with fewer KV heads than GPUs: a KV head replicated across ranks is still sent only where missing', () => {
    const llama70b = { ...MODEL_PRESETS['llama2-70b']!, layers: 2 };
    const plan = buildPlan({ strategy: 'tp', model: llama70b, context: 1024, gpus: 16 });
    const holdings = kvHoldings(plan);
    expect(holdings.primary).toHaveLength(8); // one serving rank per KV head
    const needs = holdings.held.map((rects) => rects[0]!);
    expect(kvMoves(plan, holdings, needs)).toEqual([]);
  });

  test('movesSeconds is the busiest link\'s bytes over its bandwidth plus the largest route latency', () => {
    const router = new Router(topology('switch', 3, 10e9, 4e-6));
    expect(movesSeconds([], router)).toBe(0);
    // Two messages into rank 2 share its downlink: 3e9 bytes at 10 GB/s.
    expect(movesSeconds([{ src: 0, dst: 2, bytes: 1e9 }, { src: 1, dst: 2, bytes: 2e9 }], router)).toBeCloseTo(0.3 + 4e-6, 12);
  });
});

describe('KV holdings of the ring and pipeline strategies: every (token, KV head) served once', () => {
  const area = (plan: ReturnType<typeof buildPlan>) => kvHoldings(plan).primary.reduce((sum, { rect }) => sum + (rect.t1 - rect.t0) * (rect.h1 - rect.h0), 0);
  test.each([
    ['ring-kv', { gpus: 8, tp: 2 }],
    ['ring-q', { gpus: 4 }],
    ['pp-chunked', { gpus: 4 }],
    ['pp-chunked', { gpus: 8, tp: 2 }],
  ] as const)('%s %j', (strategy, extra) => {
    const plan = buildPlan({ strategy, model: llama7b, context: 4000, ...extra });
    expect(area(plan)).toBe(4000 * llama7b.kv_heads);
  });
});
