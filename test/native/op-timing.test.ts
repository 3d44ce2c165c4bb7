import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { timeOps, type TimedComputeOp, type TimedTransferOp } from '../../native/js/executor.js';
import type { LinkEmulation } from '../../native/js/link-emulation.js';
import { modelFromJson } from '../../sim/model/model-spec.js';
import { buildPlan } from '../../sim/plan/build-plan.js';
import { rejection } from '../support/native-rejection.js';

const tinyLlama = modelFromJson(
  JSON.parse(readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8')),
);

describe('timeOps', () => {
  const plan = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 128, gpus: 2 });
  const find = (predicate: (op: (typeof plan.ops)[number]) => boolean) => plan.ops.find(predicate)!.id;
  const attnRank1 = find((op) => op.kind === 'compute' && op.name === 'attn' && op.rank === 1 && op.layer === 1);
  const transfer = find((op) => op.kind === 'transfer');
  const lmHead = find((op) => op.kind === 'compute' && op.name === 'lm_head');

  test('times the ops asked for, in that order, with their shapes', async () => {
    const ids = [attnRank1, transfer, 0, lmHead];
    const timed = await timeOps(plan, ids, { warmup: 1, repeats: 3 });
    expect(timed.schema).toBe('kvr-exec/op-times@1');
    expect([timed.backend, timed.transport, timed.warmup, timed.repeats]).toEqual(['cpu', 'inproc', 1, 3]);
    expect(timed.device).toMatch(/^cpu /);
    expect(timed.ops.map((op) => op.id)).toEqual(ids);
    for (const op of timed.ops) {
      expect(op.times_s).toHaveLength(3);
      for (const t of op.times_s) expect(t).toBeGreaterThan(0);
      expect(op.median_s).toBe([...op.times_s].sort((a, b) => a - b)[1]);
    }

    const attn = timed.ops[0] as TimedComputeOp;
    const planned = plan.ops[attnRank1]!;
    if (planned.kind !== 'compute') throw new Error('expected a compute op');
    expect(attn).toMatchObject({ kind: 'compute', name: 'attn', rank: 1, layer: 1, tokens: planned.tokens, prefix: planned.prefix, keys: planned.keys, causal: planned.causal });
    expect(attn.prefix).toBe(64);

    const send = timed.ops[1] as TimedTransferOp;
    const plannedSend = plan.ops[transfer]!;
    if (plannedSend.kind !== 'transfer') throw new Error('expected a transfer op');
    expect(send).toMatchObject({ kind: 'transfer', name: 'send', src: 0, dst: 1, bytes: plannedSend.bytes, layer: plannedSend.layer });

    expect(timed.ops[2]).toMatchObject({ kind: 'compute', name: 'qkv', rank: 0, layer: 0, tokens: 64, prefix: 0 });
    expect(timed.ops[3]).toMatchObject({ kind: 'compute', name: 'lm_head', rank: 1, layer: null, tokens: 1, prefix: 127 });
  });

  test('a transfer timed on emulated links takes at least latency + bytes / bandwidth', async () => {
    const bytes = (plan.ops[transfer] as { bytes: number }).bytes;
    const bandwidth = bytes / 4e-3;
    const links: LinkEmulation = { capacity: [bandwidth], routes: [{ src: 0, dst: 1, latency_s: 1e-3, resources: [0] }] };
    const timed = await timeOps(plan, [transfer], { warmup: 0, repeats: 3, links });
    // Never early: the pacer guarantees that much. How late depends on the machine's load (a
    // loaded 2-core host measured 12.9 ms), so no upper bound is asserted.
    for (const t of timed.ops[0]!.times_s) expect(t).toBeGreaterThanOrEqual(5e-3 - 1e-6);
  });

  test.each([
    ['an id past the last op', [0, 1000], /^op ids\[1\]: 1000 is not an op of the plan \(ids 0\.\.\d+\)$/],
    ['a negative id', [-1], /^op ids\[0\]: -1 is not an op of the plan/],
    ['no ids', [], /^op ids: expected at least one op to time$/],
  ])('%s is an invalid-argument rejection', async (_name, ids, message) => {
    const error = await rejection(timeOps(plan, ids, { warmup: 0, repeats: 1 }));
    expect(error.code).toBe('invalid-argument');
    expect(error.message).toMatch(message);
    expect(error.where).toMatch(/op_timing\.cpp:\d+$/);
  });

  test('a fractional id and bad options are invalid-argument rejections', async () => {
    expect((await rejection(timeOps(plan, [1.5]))).code).toBe('invalid-argument');
    const repeats = await rejection(timeOps(plan, [0], { repeats: 0 }));
    expect([repeats.code, repeats.message]).toEqual(['invalid-argument', 'options.repeats: expected an integer in 1..1000 (got 0)']);
    expect((await rejection(timeOps('{"schema": "kvr-plan@1"}', [0]))).code).toBe('invalid-plan');
  });
});
