import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../../sim/plan/build-plan.js';
import type { CollectiveOp, ComputeOp, TransferOp } from '../../../../sim/plan/plan.js';
import { ppChunkedPlan, promptChunks, stageLayers } from '../../../../sim/plan/strategies/pp-chunked.js';
import { weightBytes } from '../../../../sim/model/model-size.js';
import { planMemory } from '../../../../sim/result/memory.js';
import { tinyModel } from '../../../support/scenarios.js';

/**
 * Chunked pipeline prefill (Mnemosyne/Medha, arXiv 2409.17264; SGLang chunked pipeline
 * parallelism). tinyModel: d 64, h 4, h_kv 2, hd 16, f 160 (swiglu), 3 layers, V 500, b 2.
 */
describe('ppChunkedPlan', () => {
  const C = 100;
  const plan = ppChunkedPlan(tinyModel, C, 3, 32);
  const computes = plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f, layers: L, vocab: V } = tinyModel;

  test('chunks of 32 tokens, the last one shorter; layers split evenly over the stages, the first ones one more', () => {
    expect(promptChunks(100, 32)).toEqual([32, 32, 32, 4]);
    expect(stageLayers(3, 2)).toEqual([2, 1]);
    expect(plan.pp).toBe(3);
    expect(plan.chunk).toBe(32);
    expect(plan.last_rank).toBe(2);
  });

  test('stage s runs only its layer, every chunk, attention over the chunk and the chunks before it', () => {
    for (const op of computes.filter((x) => x.name !== 'lm_head')) expect(op.layer).toBe(op.rank);
    const attn = computes.filter((op) => op.name === 'attn' && op.rank === 1);
    expect(attn.map((op) => [op.tokens, op.prefix, op.keys])).toEqual([
      [32, 0, 32],
      [32, 32, 64],
      [32, 64, 96],
      [4, 96, 100],
    ]);
    for (const op of attn) expect(op.flops).toBe(4 * h * hd * op.tokens * op.prefix + 2 * h * hd * op.tokens * (op.tokens + 1));
  });

  test('FLOPs: one pass of the whole model over the context, by hand', () => {
    const perLayer = 2 * C * d * (h + 2 * hkv) * hd + 2 * h * hd * C * (C + 1) + 2 * C * h * hd * d + 6 * C * d * f;
    expect(computes.reduce((sum, op) => sum + op.flops, 0)).toBe(L * perLayer + 2 * d * V);
  });

  test('each chunk hidden rows go stage to stage: (pp-1) x chunks sends of c x d x b bytes', () => {
    expect(transfers).toHaveLength(2 * 4);
    for (const x of transfers) {
      expect(x.payload).toBe('hidden');
      expect(x.dst).toBe(x.src + 1);
      expect(x.bytes).toBe((x.token_end - x.token_start) * d * 2);
    }
    expect(transfers.reduce((sum, x) => sum + x.bytes, 0)).toBe(2 * C * d * 2);
  });

  test('memory: a stage holds its layers (embedding first, LM head last) and the K,V of all C tokens for them', () => {
    const two = ppChunkedPlan(tinyModel, C, 2, 32);
    const memory = planMemory(two);
    expect(memory[0]!.weights + memory[1]!.weights).toBe(weightBytes(tinyModel));
    // K,V per token and layer: 2 x h_kv x hd x b = 128 bytes.
    expect(memory.map((m) => m.kv_cache)).toEqual([C * 128 * 2, C * 128 * 1]);
  });

  test('with --tp 2 per stage: slices of the rows go to the same position of the next stage and are all-gathered there', () => {
    const tp = ppChunkedPlan(tinyModel, C, 3, 50, 2, 'ring');
    const sends = tp.ops.filter((op): op is TransferOp => op.kind === 'transfer');
    expect(sends).toHaveLength(2 * 2 * 2);
    for (const x of sends) {
      expect(x.dst).toBe(x.src + 2);
      expect(x.token_end - x.token_start).toBe(25);
    }
    const collectives = tp.ops.filter((op): op is CollectiveOp => op.kind === 'collective');
    // Per chunk: an all-gather entering stages 1 and 2; two all-reduces per layer.
    expect(collectives.filter((c) => c.name === 'allgather')).toHaveLength(2 * 2);
    expect(collectives.filter((c) => c.name === 'allreduce')).toHaveLength(2 * 3 * 2);
    const flops = (ops: typeof tp.ops) => ops.reduce((sum, op) => sum + (op.kind === 'compute' ? op.flops : 0), 0);
    expect(flops(tp.ops)).toBe(flops(ppChunkedPlan(tinyModel, C, 3, 50).ops));
  });

  test('bad requests name the field and what is allowed', () => {
    const base = { strategy: 'pp-chunked' as const, model: tinyModel, context: C };
    expect(() => buildPlan({ ...base, gpus: 4, pp: 4 })).toThrow(/^pp: expected an integer in 1\.\.3 \(the model's layers; got 4\)/);
    expect(() => buildPlan({ ...base, gpus: 4, pp: 3 })).toThrow(/^pp: stages x tp must equal the 4 GPUs/);
    // Stages from --gpus / --tp (no --pp given): the error says so and names --tp.
    expect(() => buildPlan({ ...base, gpus: 8, tp: 2 })).toThrow(/^tp: pp-chunked runs --gpus \/ --tp = 8 \/ 2 = 4 pipeline stages, more than the model's 3 layers \(a stage holds at least one\): give --tp N with 8 \/ N <= 3$/);
    expect(() => buildPlan({ ...base, gpus: 3, chunk: 101 })).toThrow(/^chunk: expected an integer in 1\.\.100/);
    expect(() => buildPlan({ ...base, gpus: 4, tp: 3 })).toThrow(/^tp: must be a whole divisor of the 4 GPUs/);
    expect(() => buildPlan({ strategy: 'ring-kv', model: tinyModel, context: C, gpus: 4, chunk: 10 })).toThrow(/^chunk: only applies to strategy pp-chunked/);
    expect(() => buildPlan({ strategy: 'ring-q', model: tinyModel, context: C, gpus: 8, tp: 8 })).toThrow(/^tp: tensor parallelism over 8 GPUs needs/);
    // The default: 8192-token chunks, or the context when shorter; pp = gpus / tp.
    expect(buildPlan({ ...base, gpus: 3 }).chunk).toBe(100);
  });
});
