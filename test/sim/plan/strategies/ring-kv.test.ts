import { describe, expect, test } from 'vitest';
import type { CollectiveOp, ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { ringKvPlan } from '../../../../sim/plan/strategies/ring-kv.js';
import { computeOpFlops } from '../../../../sim/work/compute-op.js';
import { tinyModel } from '../../../support/scenarios.js';

/**
 * Ring attention pass-KV with zig-zag chunks, checked against the causal structure written out
 * pair by pair: query chunk a attends key chunk b fully when b < a, causally when b = a, not at all
 * when b > a.
 */
describe('ringKvPlan', () => {
  const p = 4;
  const n = 10; // 2p chunks of 10 tokens
  const plan = ringKvPlan(tinyModel, 2 * p * n, p);
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');
  const chunksOf = (rank: number): number[] => [rank, 2 * p - 1 - rank];

  test('rank i holds chunks i and 2p-1-i; it keeps their K,V; rank 0 (chunk 2p-1) computes the logits', () => {
    expect(plan.partition).toEqual([20, 20, 20, 20]);
    expect(plan.kv_tokens).toEqual([20, 20, 20, 20]);
    expect(plan.last_rank).toBe(0);
    const head = computes.filter((op) => op.name === 'lm_head');
    expect(head.map((op) => op.rank)).toEqual([0]);
  });

  test('per layer: p attention steps per rank, each against the block of rank i-s, scores matching the causal pairs', () => {
    for (let rank = 0; rank < p; rank++) {
      const steps = computes.filter((op) => op.name === 'attn' && op.layer === 0 && op.rank === rank);
      expect(steps).toHaveLength(p);
      steps.forEach((op, s) => {
        const owner = (rank - s + p) % p;
        // Score count by pairs of chunks: n^2 for b < a, n(n+1)/2 for a = b.
        let scores = 0;
        for (const a of chunksOf(rank)) {
          for (const b of chunksOf(owner)) scores += b < a ? n * n : b === a ? (n * (n + 1)) / 2 : 0;
        }
        const h = tinyModel.heads;
        const hd = tinyModel.head_dim;
        expect(op.flops).toBe(4 * h * hd * scores);
        expect(op.merge === true).toBe(s > 0);
      });
    }
  });

  test('the attention FLOPs of all steps of all ranks equal one causal pass over the context', () => {
    const attn = computes.filter((op) => op.name === 'attn' && op.layer === 0).reduce((sum, op) => sum + op.flops, 0);
    const single = computeOpFlops(tinyModel, { name: 'attn', tokens: 2 * p * n, prefix: 0, keys: 2 * p * n, causal: true });
    expect(attn).toBe(single);
  });

  test('rank i-1 passes rank i the block of step s (both chunks of rank i-s): (p-1) x C tokens per layer', () => {
    const layer0 = transfers.filter((t) => t.layer === 0);
    expect(layer0).toHaveLength(p * (p - 1));
    for (const t of layer0) {
      expect(t.dst).toBe((t.src + 1) % p);
      const owner = (t.dst - t.step! + p) % p;
      expect(t.ranges).toEqual(chunksOf(owner).map((c) => [c * n, c * n + n]));
      expect(t.bytes).toBe(2 * n * 2 * tinyModel.kv_heads * tinyModel.head_dim * 2);
    }
    const tokens = layer0.reduce((sum, t) => sum + t.ranges!.reduce((a, [start, end]) => a + end - start, 0), 0);
    expect(tokens).toBe((p - 1) * 2 * p * n);
  });

  test('the transfer for step s overlaps step s-1: it waits for the block and for both ranks to finish step s-2', () => {
    const byId = new Map(plan.ops.map((op) => [op.id, op]));
    for (const t of transfers.filter((x) => x.layer === 0)) {
      const deps = t.deps.map((id) => byId.get(id)!);
      if (t.step === 1) {
        expect(deps.map((op) => [op.kind === 'compute' && op.name, op.kind === 'compute' && op.rank])).toEqual([
          ['qkv', t.src],
          ['qkv', t.dst],
        ]);
      } else {
        const [block, senderStep, receiverStep] = deps;
        expect(block!.kind === 'transfer' && block!.dst === t.src && block!.step === t.step! - 1).toBe(true);
        for (const [op, rank] of [[senderStep, t.src], [receiverStep, t.dst]] as const) {
          expect(op!.kind === 'compute' && op!.name === 'attn' && op!.rank === rank).toBe(true);
        }
        // Step s-2 of each rank: the (s-2)-th attention op of that rank in this layer.
        const stepOf = (op: ComputeOp): number => computes.filter((c) => c.name === 'attn' && c.layer === 0 && c.rank === op.rank && c.id < op.id).length;
        expect(stepOf(senderStep as ComputeOp)).toBe(t.step! - 2);
        expect(stepOf(receiverStep as ComputeOp)).toBe(t.step! - 2);
      }
    }
  });

  test('uneven contexts: chunks differ by at most one token and FLOPs still equal one causal pass', () => {
    const C = 2 * p * n + 5;
    const uneven = ringKvPlan(tinyModel, C, p);
    const attn = uneven.ops.filter((op): op is ComputeOp => op.kind === 'compute' && op.name === 'attn' && op.layer === 1);
    expect(attn.reduce((sum, op) => sum + op.flops, 0)).toBe(
      computeOpFlops(tinyModel, { name: 'attn', tokens: C, prefix: 0, keys: C, causal: true }),
    );
    expect(uneven.partition.reduce((a, b) => a + b, 0)).toBe(C);
  });
});

/**
 * ring-kv --tp: g = p/t ring positions of t GPUs, each position's ops on Megatron shards, the K,V
 * of each shard's KV heads passed along its own ring, o and mlp all-reduced inside a position.
 * tinyModel: d 64, h 4, h_kv 2, hd 16, f 160 (swiglu), 3 layers, V 500, b 2.
 */
describe('ringKvPlan with tensor parallelism inside each ring position', () => {
  const t = 2;
  const g = 2;
  const n = 10; // 2g chunks of 10 tokens
  const C = 2 * g * n;
  const plan = ringKvPlan(tinyModel, C, g * t, { tp: t, collective: 'ring' });
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');
  const collectives = plan.ops.filter((op): op is CollectiveOp => op.kind === 'collective');
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f, layers: L, vocab: V } = tinyModel;

  test('every rank of position k computes its 2n tokens; tp is recorded; rank 0 computes the logits', () => {
    expect(plan.partition).toEqual([20, 20, 20, 20]);
    expect(plan.tp).toBe(2);
    expect(plan.last_rank).toBe(0);
  });

  test('FLOPs of all ranks equal one pass of the whole model over the context, by hand', () => {
    const perLayer = 2 * C * d * (h + 2 * hkv) * hd + 2 * h * hd * C * (C + 1) + 2 * C * h * hd * d + 6 * C * d * f;
    const total = computes.reduce((sum, op) => sum + op.flops, 0);
    expect(total).toBe(L * perLayer + 2 * d * V);
    // Each shard computes half the heads: a rank's attention steps sum to half its position's.
    const rank0 = computes.filter((op) => op.name === 'attn' && op.layer === 0 && op.rank === 0).reduce((s, op) => s + op.flops, 0);
    const rank1 = computes.filter((op) => op.name === 'attn' && op.layer === 0 && op.rank === 1).reduce((s, op) => s + op.flops, 0);
    expect(rank0).toBe(rank1);
  });

  test('rank (k-1, j) sends rank (k, j) the K,V of its one KV head: 2n tokens x 2 x 1 x hd x b, g(g-1) t sends a layer', () => {
    const layer0 = transfers.filter((x) => x.layer === 0);
    expect(layer0).toHaveLength(g * (g - 1) * t);
    for (const x of layer0) {
      expect(x.dst % t).toBe(x.src % t);
      expect(Math.floor(x.dst / t)).toBe((Math.floor(x.src / t) + 1) % g);
      expect(x.kv_heads).toBe(1);
      expect(x.bytes).toBe(2 * n * 2 * 1 * hd * 2);
    }
  });

  test('o and mlp are all-reduced inside each position, one all-reduce per zig-zag chunk: 2(t-1)/t x n rows x d x b each', () => {
    const layer0 = collectives.filter((c) => c.layer === 0);
    expect(layer0).toHaveLength(g * 2 * 2);
    for (const c of layer0) {
      expect(c.name).toBe('allreduce');
      expect(c.ranks.map((r) => Math.floor(r / t))).toEqual([Math.floor(c.ranks[0]! / t), Math.floor(c.ranks[0]! / t)]);
      expect(c.bytes).toBe((2 * (t - 1) * n * d * 2));
    }
  });

  test('t = 1 is ring-kv without tensor parallelism, op for op', () => {
    expect(ringKvPlan(tinyModel, C, 4, { tp: 1 })).toEqual(ringKvPlan(tinyModel, C, 4));
  });
});
