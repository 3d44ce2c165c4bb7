import { describe, expect, test } from 'vitest';
import type { CollectiveOp, ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { ringQPlan } from '../../../../sim/plan/strategies/ring-q.js';
import { computeOpFlops } from '../../../../sim/work/compute-op.js';
import { tinyModel } from '../../../support/scenarios.js';

/**
 * Ring attention pass-Q with zig-zag chunks (Yang et al., arXiv 2411.01783): the queries rotate,
 * each position scores the visiting queries against its own K,V, and an all-to-all returns the
 * partial outputs. tinyModel: d 64, h 4, h_kv 2, hd 16, b 2.
 */
describe('ringQPlan', () => {
  const p = 4;
  const n = 10; // 2p chunks of 10 tokens
  const C = 2 * p * n;
  const plan = ringQPlan(tinyModel, C, p);
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');
  const chunksOf = (rank: number): number[] => [rank, 2 * p - 1 - rank];
  const { heads: h, head_dim: hd } = tinyModel;

  test('step s on rank i scores the queries of rank i-s against its own K,V: the causal pairs of those chunks', () => {
    for (let rank = 0; rank < p; rank++) {
      const steps = computes.filter((op) => op.name === 'attn' && op.layer === 0 && op.rank === rank);
      expect(steps).toHaveLength(p);
      steps.forEach((op, s) => {
        const owner = (rank - s + p) % p;
        let scores = 0;
        for (const a of chunksOf(owner)) {
          for (const b of chunksOf(rank)) scores += b < a ? n * n : b === a ? (n * (n + 1)) / 2 : 0;
        }
        expect(op.flops).toBe(4 * h * hd * scores);
        expect(op.merge === true).toBe(s > 0);
      });
    }
  });

  test('attention FLOPs of a layer equal one causal pass over the context', () => {
    const attn = computes.filter((op) => op.name === 'attn' && op.layer === 0).reduce((sum, op) => sum + op.flops, 0);
    expect(attn).toBe(computeOpFlops(tinyModel, { name: 'attn', tokens: C, prefix: 0, keys: C, causal: true }));
  });

  test('queries travel: p(p-1) sends a layer of 2n tokens x h x hd x b, from rank i-1 to rank i', () => {
    const queries = transfers.filter((x) => x.layer === 0 && x.payload === 'query');
    expect(queries).toHaveLength(p * (p - 1));
    for (const x of queries) {
      expect(x.dst).toBe((x.src + 1) % p);
      expect(x.bytes).toBe(2 * n * h * hd * 2);
    }
  });

  test('the all-to-all returns the rows that saw a key: 2n from an earlier rank, n from a later one, h x (hd x b + 4) bytes a row', () => {
    const returned = transfers.filter((x) => x.layer === 0 && x.payload === 'attn-out');
    expect(returned).toHaveLength(p * (p - 1));
    for (const x of returned) {
      const rows = x.src < x.dst ? 2 * n : n;
      expect(x.bytes).toBe(rows * h * (hd * 2 + 4));
    }
    // 6 pairs with src < dst and 6 with src > dst.
    expect(returned.reduce((sum, x) => sum + x.bytes, 0)).toBe((6 * 2 * n + 6 * n) * h * (hd * 2 + 4));
    // The owner's o waits for every partial output of its queries.
    for (let rank = 0; rank < p; rank++) {
      const o = computes.find((op) => op.name === 'o' && op.layer === 0 && op.rank === rank)!;
      const incoming = returned.filter((x) => x.dst === rank).map((x) => x.id);
      expect(o.deps).toEqual(expect.arrayContaining(incoming));
    }
  });

  test('with --tp 2: queries of the 2 heads of each shard, all-reduces inside each position, FLOPs of the whole model', () => {
    const tp = ringQPlan(tinyModel, C, 2 * 2, 2, 'ring');
    const queries = tp.ops.filter((op): op is TransferOp => op.kind === 'transfer' && op.layer === 0 && op.payload === 'query');
    expect(queries).toHaveLength(2 * 1 * 2);
    // g = 2 positions: 4 chunks of 20 tokens, a position's block is 40 tokens.
    for (const x of queries) expect(x.bytes).toBe(40 * 2 * hd * 2);
    expect(tp.ops.filter((op): op is CollectiveOp => op.kind === 'collective' && op.layer === 0)).toHaveLength(2 * 2 * 2);
    const flops = (ops: typeof tp.ops) => ops.reduce((sum, op) => sum + (op.kind === 'compute' ? op.flops : 0), 0);
    expect(flops(tp.ops)).toBe(flops(ringQPlan(tinyModel, C, 2).ops));
  });
});
