import { describe, expect, test } from 'vitest';
import { expandCollectives } from '../../../../sim/plan/expand.js';
import type { ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { kvrTpPlan, reshapeKvrTpPlan } from '../../../../sim/plan/strategies/kvr-tp.js';
import { tinyModel } from '../../../support/scenarios.js';

describe('kvrTpPlan: KV-Runahead over groups, tensor parallelism inside', () => {
  const plan = expandCollectives(kvrTpPlan(tinyModel, [60, 40], 2, 'ring'));
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');

  test('group k (ranks 2k, 2k+1) computes its chunk after prefix P_k, each rank its half of the heads', () => {
    expect(plan.partition).toEqual([60, 60, 40, 40]);
    expect(plan.kv_tokens).toEqual([60, 60, 100, 100]);
    const attn = computes.filter((op) => op.name === 'attn' && op.layer === 0);
    expect(attn.map((op) => [op.rank, op.tokens, op.prefix, op.keys, op.causal, op.shard!.heads])).toEqual([
      [0, 60, 0, 60, true, 2],
      [1, 60, 0, 60, true, 2],
      [2, 40, 60, 100, true, 2],
      [3, 40, 60, 100, true, 2],
    ]);
  });

  test('rank (k, j) sends the K,V of its KV heads to rank (k+1, j); the receiver attends after it arrives', () => {
    const sends = transfers.filter((t) => t.name === 'send' && t.layer === 0);
    expect(sends.map((t) => [t.src, t.dst, t.token_start, t.token_end, t.kv_heads])).toEqual([
      [0, 2, 0, 60, 1],
      [1, 3, 0, 60, 1],
    ]);
    expect(sends[0]!.bytes).toBe(60 * 2 * 1 * tinyModel.head_dim * tinyModel.dtype_bytes);
    const attn2 = computes.find((op) => op.name === 'attn' && op.layer === 0 && op.rank === 2)!;
    expect(attn2.deps).toContain(sends[0]!.id);
  });

  test('all-reduces stay inside a group, over its chunk rows', () => {
    const reductions = transfers.filter((t) => t.payload === 'hidden' && t.layer === 0);
    for (const t of reductions) expect(Math.floor(t.src / 2)).toBe(Math.floor(t.dst / 2));
    const group1 = reductions.filter((t) => t.src >= 2);
    expect(new Set(group1.map((t) => `${t.token_start}-${t.token_end}`))).toEqual(new Set(['60-80', '80-100']));
  });

  test('reshaping a plan for another partition gives the plan built for it', () => {
    const template = kvrTpPlan(tinyModel, [60, 40], 2, 'direct');
    reshapeKvrTpPlan(template, [35, 65]);
    expect(template).toEqual(kvrTpPlan(tinyModel, [35, 65], 2, 'direct'));
    const odd = kvrTpPlan(tinyModel, [50, 30, 20], 2, 'ring');
    reshapeKvrTpPlan(odd, [3, 1, 96]);
    expect(odd).toEqual(kvrTpPlan(tinyModel, [3, 1, 96], 2, 'ring'));
  });
});
