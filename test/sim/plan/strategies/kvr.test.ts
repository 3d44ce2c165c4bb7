import { describe, expect, test } from 'vitest';
import type { ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { kvrPlan } from '../../../../sim/plan/strategies/kvr.js';
import { tinyModel } from '../../../support/scenarios.js';

describe('kvrPlan', () => {
  const plan = kvrPlan(tinyModel, [50, 30, 20], 'kvr');
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const sends = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');

  test('rank i attends causally over its prefix P_i', () => {
    const attn = computes.filter((op) => op.name === 'attn' && op.layer === 0);
    expect(attn.map((op) => [op.rank, op.tokens, op.prefix, op.keys, op.causal])).toEqual([
      [0, 50, 0, 50, true],
      [1, 30, 50, 80, true],
      [2, 20, 80, 100, true],
    ]);
  });

  test('rank i < p-1 sends K,V of tokens [0, P_i + c_i) of every layer to rank i+1', () => {
    expect(sends).toHaveLength(2 * tinyModel.layers);
    const layer0 = sends.filter((op) => op.layer === 0);
    expect(layer0.map((op) => [op.src, op.dst, op.token_start, op.token_end])).toEqual([
      [0, 1, 0, 50],
      [1, 2, 0, 80],
    ]);
    expect(layer0[1]!.bytes).toBe(80 * 2 * tinyModel.kv_heads * tinyModel.head_dim * 2);
  });

  test("a send waits for its rank's qkv and, after rank 0, for the receive of that layer", () => {
    const byId = new Map(plan.ops.map((op) => [op.id, op]));
    for (const send of sends) {
      const deps = send.deps.map((id) => byId.get(id)!);
      expect(deps.some((op) => op.kind === 'compute' && op.name === 'qkv' && op.rank === send.src && op.layer === send.layer)).toBe(true);
      const received = deps.filter((op): op is TransferOp => op.kind === 'transfer');
      expect(received.map((op) => [op.dst, op.layer])).toEqual(send.src === 0 ? [] : [[send.src, send.layer]]);
    }
  });

  test('attention waits for the K,V from the previous rank; only the last rank computes logits', () => {
    const byId = new Map(plan.ops.map((op) => [op.id, op]));
    for (const attn of computes.filter((op) => op.name === 'attn')) {
      const received = attn.deps.map((id) => byId.get(id)!).filter((op) => op.kind === 'transfer');
      expect(received).toHaveLength(attn.rank === 0 ? 0 : 1);
    }
    expect(computes.filter((op) => op.name === 'lm_head').map((op) => op.rank)).toEqual([2]);
    expect(plan.kv_tokens).toEqual([50, 80, 100]);
  });
});
