import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../sim/plan/build-plan.js';
import { activationPeakBytes, planMemory, rankMemory } from '../../../sim/result/memory.js';
import { falcon7b, llama7b } from '../../support/scenarios.js';

describe('rank memory', () => {
  test('llama2-7b: the MLP phase (gate, up, product) is the activation peak', () => {
    const c = 2048;
    const mlp = 2 * 4096 + 3 * 11008;
    expect(activationPeakBytes(llama7b, c)).toBe(2 * c * mlp + 4 * 32000);
  });

  test('falcon-7b: a parallel block also holds the attention output during its MLP', () => {
    const c = 1000;
    const mlp = 2 * 4544 + 2 * 18176 + 71 * 64;
    expect(activationPeakBytes(falcon7b, c)).toBe(2 * c * mlp + 4 * 65024);
  });

  test('total = replicated weights + KV-cache over all layers + activations', () => {
    const memory = rankMemory(llama7b, 2048, 8192);
    expect(memory.weights).toBe(6_738_415_616 * 2);
    expect(memory.kv_cache).toBe(8192 * 16384 * 32);
    expect(memory.total).toBe(memory.weights + memory.kv_cache + memory.activations);
  });
});

describe('planMemory by strategy', () => {
  test('tp: each rank holds 1/p of every layer, the replicated embedding and LM head, and the K,V of its heads', () => {
    const plan = buildPlan({ strategy: 'tp', model: llama7b, context: 8192, gpus: 4 });
    const [rank] = planMemory(plan);
    const layer = llama7b.layers * (4096 * 96 * 128 / 4 + (32 * 128 * 4096) / 4 + (3 * 4096 * 11008) / 4 + 2 * 4096);
    expect(rank!.weights).toBe(2 * (layer + 2 * 32000 * 4096 + 4096));
    expect(rank!.kv_cache).toBe((8192 * 16384 * 32) / 4);
  });

  test('ring-kv: each rank keeps only its two chunks of K,V (plus two blocks in flight); kvr-e keeps a growing prefix', () => {
    const ring = planMemory(buildPlan({ strategy: 'ring-kv', model: llama7b, context: 8192, gpus: 4 }));
    expect(ring.map((m) => m.kv_cache)).toEqual(new Array(4).fill(2048 * 16384 * 32));
    const kvr = planMemory(buildPlan({ strategy: 'kvr-e', model: llama7b, context: 8192, gpus: 4 }));
    expect(kvr.map((m) => m.kv_cache)).toEqual([2048, 4096, 6144, 8192].map((t) => t * 16384 * 32));
    expect(kvr[0]).toEqual(rankMemory(llama7b, 2048, 2048));
    expect(ring[0]!.activations).toBeGreaterThan(rankMemory(llama7b, 2048, 2048).activations);
  });

  test('tp-sp holds the residual stream of its C/p rows only: less than tp', () => {
    const tp = planMemory(buildPlan({ strategy: 'tp', model: llama7b, context: 8192, gpus: 4 }));
    const sp = planMemory(buildPlan({ strategy: 'tp-sp', model: llama7b, context: 8192, gpus: 4 }));
    expect(sp[0]!.weights).toBe(tp[0]!.weights);
    expect(sp[0]!.activations).toBeLessThan(tp[0]!.activations);
  });
});

describe('planMemory of the ring and pipeline strategies', () => {
  test('ring-kv --tp 2: the weight shard of tp over 2, the K,V of the rank half of the KV heads for its position chunks', () => {
    const ring = planMemory(buildPlan({ strategy: 'ring-kv', model: llama7b, context: 8192, gpus: 4, tp: 2 }));
    const tp = planMemory(buildPlan({ strategy: 'tp', model: llama7b, context: 8192, gpus: 2 }));
    expect(ring[0]!.weights).toBe(tp[0]!.weights);
    // 2 positions: 4096 tokens each; 16 of 32 KV heads: half of 16384 bytes a token and layer.
    expect(ring.map((m) => m.kv_cache)).toEqual(new Array(4).fill(4096 * 8192 * 32));
  });

  test('ring-q holds two query blocks in flight, not K,V: with MHA the same bytes a token, so the same as ring-kv', () => {
    const q = planMemory(buildPlan({ strategy: 'ring-q', model: llama7b, context: 8192, gpus: 4 }));
    const kv = planMemory(buildPlan({ strategy: 'ring-kv', model: llama7b, context: 8192, gpus: 4 }));
    expect(q[0]!.weights).toBe(kv[0]!.weights);
    expect(q[0]!.kv_cache).toBe(kv[0]!.kv_cache);
    // Queries and partial outputs with their fp32 log-sum-exps: 32 x (2 x 128 x 2 + 4) vs K,V: 2 x 32 x 128 x 2 bytes a token.
    expect(q[0]!.activations - kv[0]!.activations).toBe(2 * 2048 * (32 * (2 * 128 * 2 + 4) - 16384));
  });

  test('pp-chunked over 4 stages: a quarter of the layers each (embedding first, LM head last) and their K,V of every token', () => {
    const pp = planMemory(buildPlan({ strategy: 'pp-chunked', model: llama7b, context: 8192, gpus: 4, chunk: 2048 }));
    const layer = 4096 * 96 * 128 + 32 * 128 * 4096 + 3 * 4096 * 11008 + 2 * 4096;
    expect(pp.map((m) => m.weights)).toEqual([
      2 * (8 * layer + 32000 * 4096),
      2 * 8 * layer,
      2 * 8 * layer,
      2 * (8 * layer + 4096 + 32000 * 4096),
    ]);
    expect(pp.map((m) => m.kv_cache)).toEqual(new Array(4).fill(8192 * 16384 * 8));
  });
});
