import { describe, expect, test } from 'vitest';
import { tensorShards } from '../../../sim/plan/tensor-shard.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { falcon7b, llama7b } from '../../support/scenarios.js';

describe('tensorShards (Megatron column/row split)', () => {
  test('MHA: heads, KV heads and FFN columns split evenly', () => {
    const shards = tensorShards(llama7b, 8);
    expect(shards.map((s) => [s.heads, s.kv_heads, s.ffn])).toEqual(new Array(8).fill([4, 4, 1376]));
    expect(shards.map((s) => s.first_kv_head)).toEqual([0, 4, 8, 12, 16, 20, 24, 28]);
  });

  test('GQA with fewer KV heads than ranks: each rank keeps the one KV head its query heads read', () => {
    const llama70b = MODEL_PRESETS['llama2-70b']!; // 64 heads, 8 KV heads
    const shards = tensorShards(llama70b, 32);
    expect(shards.every((s) => s.heads === 2 && s.kv_heads === 1)).toBe(true);
    expect(shards.map((s) => s.first_kv_head)).toEqual(Array.from({ length: 32 }, (_, j) => Math.floor(j / 4)));
  });

  test('uneven heads (Falcon-7B: 71 heads, MQA): the first ranks take one head more; the one KV head is replicated', () => {
    const shards = tensorShards(falcon7b, 8);
    expect(shards.map((s) => s.heads)).toEqual([9, 9, 9, 9, 9, 9, 9, 8]);
    expect(shards.reduce((sum, s) => sum + s.heads, 0)).toBe(71);
    expect(shards.every((s) => s.kv_heads === 1 && s.first_kv_head === 0)).toBe(true);
    expect(shards.reduce((sum, s) => sum + s.ffn, 0)).toBe(falcon7b.ffn);
  });

  test('a rank whose query heads straddle two KV groups keeps both KV heads', () => {
    const model = { ...llama7b, heads: 12, kv_heads: 4 }; // groups of 3 query heads
    const shards = tensorShards(model, 8); // 2,2,2,2,1,1,1,1 heads
    expect(shards.map((s) => [s.first_head, s.heads, s.first_kv_head, s.kv_heads])).toEqual([
      [0, 2, 0, 1],
      [2, 2, 0, 2],
      [4, 2, 1, 1],
      [6, 2, 2, 1],
      [8, 1, 2, 1],
      [9, 1, 3, 1],
      [10, 1, 3, 1],
      [11, 1, 3, 1],
    ]);
  });
});
