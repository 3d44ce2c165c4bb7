import { describe, expect, test } from 'vitest';
import { expandCollectives } from '../../../../sim/plan/expand.js';
import type { CollectiveOp, ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { tpPlan } from '../../../../sim/plan/strategies/tp.js';
import { computeOpFlops } from '../../../../sim/work/compute-op.js';
import { falcon7b, tinyModel } from '../../../support/scenarios.js';

describe('tpPlan: tensor parallelism (Megatron)', () => {
  const p = 2;
  const C = 100;
  const plan = tpPlan(tinyModel, C, p, 'tp', 'ring');
  // The transfers the engine runs: each collective op written out as its schedule.
  const expanded = expandCollectives(plan);
  const computes = expanded.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = expanded.ops.filter((op): op is TransferOp => op.kind === 'transfer');

  test('the plan keeps each all-reduce as one collective op over all ranks', () => {
    const collectives = plan.ops.filter((op): op is CollectiveOp => op.kind === 'collective' && op.layer === 0);
    expect(collectives.map((op) => [op.name, op.algorithm, op.ranks, op.blocks])).toEqual([
      ['allreduce', 'ring', [0, 1], [[0, 50], [50, 100]]],
      ['allreduce', 'ring', [0, 1], [[0, 50], [50, 100]]],
    ]);
    expect(collectives.every((op) => op.bytes === 2 * (p - 1) * C * tinyModel.hidden * tinyModel.dtype_bytes)).toBe(true);
  });

  test('every rank computes its share of the heads and FFN for all C tokens: FLOPs of a layer add up to one rank doing it all', () => {
    expect(plan.partition).toEqual([C, C]);
    expect(plan.tp).toBe(p);
    for (const name of ['qkv', 'attn', 'o', 'mlp'] as const) {
      const ops = computes.filter((op) => op.name === name && op.layer === 0);
      expect(ops.map((op) => op.shard)).toEqual([
        { heads: 2, kv_heads: 1, ffn: 80 },
        { heads: 2, kv_heads: 1, ffn: 80 },
      ]);
      expect(ops[0]!.flops + ops[1]!.flops).toBe(computeOpFlops(tinyModel, { name, tokens: C, prefix: 0, keys: C, causal: true }));
    }
  });

  test('two ring all-reduces per layer (after o, after mlp): 2(p-1) steps of C/p rows of the hidden state per rank', () => {
    const layer0 = transfers.filter((t) => t.layer === 0);
    expect(layer0).toHaveLength(2 * 2 * (p - 1) * p);
    expect(layer0.every((t) => t.payload === 'hidden' && t.bytes === (C / p) * tinyModel.hidden * tinyModel.dtype_bytes)).toBe(true);
    expect(layer0.map((t) => t.name)).toEqual(['reducescatter', 'reducescatter', 'allgather', 'allgather', 'reducescatter', 'reducescatter', 'allgather', 'allgather']);
    const byId = new Map(expanded.ops.map((op) => [op.id, op]));
    const mlp = computes.find((op) => op.name === 'mlp' && op.layer === 0 && op.rank === 0)!;
    const waits = mlp.deps.map((id) => byId.get(id)!);
    // Every incoming step comes over the channel from rank p-1 (FIFO): the last one implies the rest.
    const incoming = layer0.filter((t) => t.dst === 0 && t.id < mlp.id);
    expect(incoming).toHaveLength(2 * (p - 1));
    expect(waits.filter((op) => op.kind === 'transfer')).toEqual([incoming[incoming.length - 1]]);
  });

  test('the logits: last rank, whole vocabulary, after the last all-reduce', () => {
    const head = computes.find((op) => op.name === 'lm_head')!;
    expect([head.rank, head.flops]).toEqual([p - 1, 2 * tinyModel.hidden * tinyModel.vocab]);
  });

  test('tp-sp: all-gather before qkv and mlp, reduce-scatter after o and mlp; norms and residuals on C/p rows', () => {
    const sp = expandCollectives(tpPlan(tinyModel, C, p, 'tp-sp', 'ring'));
    const layer1 = sp.ops.filter((op) => op.layer === 1);
    const sequence = layer1.filter((op) => op.kind === 'compute' ? op.rank === 0 : op.kind === 'transfer' && op.src === 0).map((op) => op.name);
    expect(sequence).toEqual(['allgather', 'qkv', 'attn', 'o', 'reducescatter', 'allgather', 'mlp', 'reducescatter']);
    const qkv = sp.ops.find((op): op is ComputeOp => op.kind === 'compute' && op.name === 'qkv')!;
    expect(qkv.shard).toEqual({ heads: 2, kv_heads: 1, ffn: 80, seq_tokens: C / p });
    const spBytes = sp.ops.reduce((sum, op) => sum + (op.kind === 'transfer' ? op.bytes : 0), 0);
    expect(spBytes).toBe(transfers.reduce((sum, t) => sum + t.bytes, 0));
  });

  test('a parallel block (Falcon) all-reduces once per layer: attention and MLP partial sums together', () => {
    const falcon = expandCollectives(tpPlan({ ...falcon7b, layers: 2 }, 64, 4, 'tp', 'ring'));
    const layer0 = falcon.ops.filter((op): op is TransferOp => op.kind === 'transfer' && op.layer === 0);
    expect(layer0).toHaveLength(2 * 3 * 4);
  });
});
