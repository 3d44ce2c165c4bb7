import { describe, expect, test } from 'vitest';
import type { ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { tspPlan } from '../../../../sim/plan/strategies/tsp.js';
import { tinyModel } from '../../../support/scenarios.js';

describe('tspPlan', () => {
  const plan = tspPlan(tinyModel, [30, 30, 30, 30], 'tsp');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer' && op.layer === 0);

  test('ring all-gather: p-1 steps; in step s rank r forwards the block of rank r-s to r+1', () => {
    expect(transfers).toHaveLength(3 * 4);
    for (const t of transfers) {
      expect(t.name).toBe('allgather');
      expect(t.dst).toBe((t.src + 1) % 4);
      const owner = (t.src - t.step! + 4) % 4;
      expect([t.token_start, t.token_end]).toEqual([owner * 30, owner * 30 + 30]);
    }
  });

  test('every rank ends up with every block', () => {
    for (let rank = 0; rank < 4; rank++) {
      const received = transfers.filter((t) => t.dst === rank).map((t) => t.token_start);
      expect([...received, rank * 30].sort((a, b) => a - b)).toEqual([0, 30, 60, 90]);
    }
  });

  test('the first step starts after every rank finished qkv; attention is dense over all keys', () => {
    const byId = new Map(plan.ops.map((op) => [op.id, op]));
    for (const t of transfers.filter((t) => t.step === 0)) {
      expect(t.deps.map((id) => (byId.get(id) as ComputeOp).name)).toEqual(['qkv', 'qkv', 'qkv', 'qkv']);
    }
    const attn = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute' && op.name === 'attn');
    for (const op of attn) expect([op.keys, op.causal]).toEqual([120, false]);
    const causal = tspPlan(tinyModel, [30, 30, 30, 30], 'tsp-causal');
    const causalAttn = causal.ops.filter((op): op is ComputeOp => op.kind === 'compute' && op.name === 'attn' && op.layer === 0);
    expect(causalAttn.map((op) => [op.prefix, op.keys, op.causal])).toEqual([
      [0, 30, true],
      [30, 60, true],
      [60, 90, true],
      [90, 120, true],
    ]);
  });
});
