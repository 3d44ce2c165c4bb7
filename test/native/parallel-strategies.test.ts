import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { executePlan } from '../../native/js/executor.js';
import { NativeError } from '../../native/js/native-error.js';
import { modelFromJson, type ModelSpec } from '../../sim/model/model-spec.js';
import { buildPlan, type PlanRequest } from '../../sim/plan/build-plan.js';
import { expandCollectives } from '../../sim/plan/expand.js';
import type { Plan } from '../../sim/plan/plan.js';
import { relativeError } from '../support/relative-error.js';

// ring-kv (zig-zag chunks, merged attention steps) and tensor parallelism (tp, tp-sp, kvr-tp:
// sharded heads and FFN columns, partial sums reduced by collectives) on the CPU backend compute
// what one rank computes (native/MODEL.md).

const model = (name: string): ModelSpec =>
  modelFromJson(JSON.parse(readFileSync(new URL(`../../native/scripts/models/${name}.json`, import.meta.url), 'utf8')));
const tinyLlama = model('tiny-llama');
const tinyFalcon = model('tiny-falcon');
// Head groups that straddle tensor shards: 8 heads over 2 KV heads (g = 4) and an FFN of 200
// split over 3 ranks give shards of 3, 3, 2 heads (rank 1 reads both KV heads) and 67, 67, 66 columns.
const straddling = modelFromJson({
  name: 'gqa-straddle',
  layers: 2,
  hidden: 128,
  heads: 8,
  kv_heads: 2,
  head_dim: 16,
  ffn: 200,
  vocab: 500,
  mlp: 'swiglu',
  block: 'sequential',
  norm: 'rmsnorm',
});
const once = { warmup: 0, repeats: 1, captureKv: true };

const context = 333;
const references = new Map<ModelSpec, Promise<{ logits: Float32Array; kv?: Float32Array }>>();
const reference = (m: ModelSpec) => {
  if (!references.has(m)) references.set(m, executePlan(buildPlan({ strategy: 'single', model: m, context, gpus: 1 }), once));
  return references.get(m)!;
};

describe('CPU backend: ring-kv and ring-q (with and without tp), tp, tp-sp, kvr-tp and pp-chunked compute what one rank computes', () => {
  const cases: [string, ModelSpec, Omit<PlanRequest, 'model' | 'context'>][] = [];
  for (const [name, m] of [['llama-like', tinyLlama], ['falcon-like', tinyFalcon]] as const) {
    for (const gpus of [2, 3, 4]) {
      cases.push([`${name} ring-kv p=${gpus}`, m, { strategy: 'ring-kv', gpus }]);
      cases.push([`${name} tp p=${gpus} ring`, m, { strategy: 'tp', gpus }]);
      cases.push([`${name} tp p=${gpus} direct`, m, { strategy: 'tp', gpus, collective: 'direct' }]);
    }
    cases.push([`${name} ring-kv p=1`, m, { strategy: 'ring-kv', gpus: 1 }]);
    cases.push([`${name} tp-sp p=2 ring`, m, { strategy: 'tp-sp', gpus: 2 }]);
    cases.push([`${name} tp-sp p=3 direct`, m, { strategy: 'tp-sp', gpus: 3, collective: 'direct' }]);
    cases.push([`${name} tp-sp p=4 ring`, m, { strategy: 'tp-sp', gpus: 4 }]);
    cases.push([`${name} kvr-tp 2x2 even`, m, { strategy: 'kvr-tp', gpus: 4, tp: 2, partition: [167, 166] }]);
    cases.push([`${name} kvr-tp 2x3 uneven direct`, m, { strategy: 'kvr-tp', gpus: 6, tp: 3, partition: [200, 133], collective: 'direct' }]);
    cases.push([`${name} kvr-tp 3x1`, m, { strategy: 'kvr-tp', gpus: 3, tp: 1, partition: [100, 100, 133] }]);
  }

  cases.push(['straddling GQA tp p=3 ring', straddling, { strategy: 'tp', gpus: 3 }]);
  cases.push(['straddling GQA tp-sp p=3 direct', straddling, { strategy: 'tp-sp', gpus: 3, collective: 'direct' }]);
  cases.push(['straddling GQA kvr-tp 2x3', straddling, { strategy: 'kvr-tp', gpus: 6, tp: 3, partition: [111, 222] }]);
  cases.push(['straddling GQA ring-kv p=3', straddling, { strategy: 'ring-kv', gpus: 3 }]);
  // ring-kv with tensor parallelism inside each ring position (kv heads straddling shards: 3 GPUs
  // a position), and chunked pipeline prefill with uneven chunks and stages.
  cases.push(['straddling GQA ring-kv 2 positions x tp 3', straddling, { strategy: 'ring-kv', gpus: 6, tp: 3 }]);
  cases.push(['straddling GQA ring-kv 2 positions x tp 3 direct', straddling, { strategy: 'ring-kv', gpus: 6, tp: 3, collective: 'direct' }]);
  cases.push(['straddling GQA pp-chunked 2 stages, chunks of 100', straddling, { strategy: 'pp-chunked', gpus: 2, chunk: 100 }]);
  cases.push(['straddling GQA ring-q 4 positions', straddling, { strategy: 'ring-q', gpus: 4 }]);
  cases.push(['straddling GQA ring-q 2 positions x tp 3 direct', straddling, { strategy: 'ring-q', gpus: 6, tp: 3, collective: 'direct' }]);
  for (const [name, m] of [['llama-like', tinyLlama], ['falcon-like', tinyFalcon]] as const) {
    cases.push([`${name} ring-kv 2 positions x tp 2`, m, { strategy: 'ring-kv', gpus: 4, tp: 2 }]);
    cases.push([`${name} ring-kv 3 positions x tp 2`, m, { strategy: 'ring-kv', gpus: 6, tp: 2 }]);
    cases.push([`${name} pp-chunked 2 stages, chunks of 64`, m, { strategy: 'pp-chunked', gpus: 2, chunk: 64 }]);
    cases.push([`${name} ring-q p=3`, m, { strategy: 'ring-q', gpus: 3 }]);
    cases.push([`${name} ring-q 2 positions x tp 2`, m, { strategy: 'ring-q', gpus: 4, tp: 2 }]);
    cases.push([`${name} pp-chunked ${m.layers} stages, one chunk`, m, { strategy: 'pp-chunked', gpus: m.layers }]);
  }

  test.each(cases)('%s: last-token logits and the prefill K,V cache within 1e-5', async (_name, m, request) => {
    const single = await reference(m);
    const run = await executePlan(buildPlan({ ...request, model: m, context }), once);
    expect(run.logits.length).toBe(m.vocab);
    expect(relativeError(run.logits, single.logits)).toBeLessThanOrEqual(1e-5);
    expect(run.kv!.length).toBe(single.kv!.length);
    expect(relativeError(run.kv!, single.kv!)).toBeLessThanOrEqual(1e-5);
  });

  test('runs are deterministic: the same plan gives bit-identical logits and K,V', async () => {
    const plan = buildPlan({ strategy: 'tp', model: tinyLlama, context: 200, gpus: 4, collective: 'direct' });
    const a = await executePlan(plan, once);
    const b = await executePlan(plan, { ...once, warmup: 1 });
    expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
    expect(Array.from(b.kv!)).toEqual(Array.from(a.kv!));
  });

  test('a plan given as text with its collectives unexpanded runs as the expanded plan', async () => {
    const plan = buildPlan({ strategy: 'tp', model: tinyFalcon, context: 96, gpus: 2 });
    const fromText = await executePlan(JSON.stringify(plan), once);
    const expanded = await executePlan(expandCollectives(plan), once);
    expect(Array.from(fromText.logits)).toEqual(Array.from(expanded.logits));
    expect(fromText.measurement.transfers.length).toBe(expandCollectives(plan).ops.filter((op) => op.kind === 'transfer').length);
  });

  test('a tp plan that drops an all-gather block computes something else', async () => {
    const plan = expandCollectives(buildPlan({ strategy: 'tp', model: tinyLlama, context: 96, gpus: 2 }));
    const broken: Plan = structuredClone(plan);
    // Layer 0's first all-gather: rows of h that layer 1's K,V are computed from.
    const gather = broken.ops.find((op) => op.kind === 'transfer' && op.name === 'allgather' && op.layer === 0)!;
    if (gather.kind !== 'transfer') throw new Error('unreachable');
    gather.token_end = gather.token_start;
    gather.bytes = 0;
    const good = await executePlan(plan, once);
    const bad = await executePlan(broken, once);
    expect(relativeError(bad.logits, good.logits)).toBeGreaterThan(1e-3);
  });

  test('a ring-kv plan that drops a block computes something else', async () => {
    const plan = buildPlan({ strategy: 'ring-kv', model: tinyLlama, context: 96, gpus: 3 });
    const broken: Plan = structuredClone(plan);
    const send = broken.ops.find((op) => op.kind === 'transfer' && op.layer === 0)!;
    if (send.kind !== 'transfer') throw new Error('unreachable');
    send.ranges = [[send.ranges![0]![0], send.ranges![0]![0]]];
    send.token_end = send.token_start;
    send.bytes = 0;
    const good = await executePlan(plan, once);
    const bad = await executePlan(broken, once);
    expect(relativeError(bad.logits, good.logits)).toBeGreaterThan(1e-3);
  });
});

describe('pp-chunked, ring-q and ring-kv --tp plans that lose data compute something else', () => {
  test('a pp-chunked plan that drops a chunk of hidden rows between stages', async () => {
    const plan = buildPlan({ strategy: 'pp-chunked', model: tinyLlama, context: 96, gpus: 2, chunk: 32 });
    const broken: Plan = structuredClone(plan);
    const send = broken.ops.find((op) => op.kind === 'transfer' && op.token_start === 32)!;
    if (send.kind !== 'transfer') throw new Error('unreachable');
    send.token_end = send.token_start;
    send.bytes = 0;
    const good = await executePlan(plan, once);
    const bad = await executePlan(broken, once);
    expect(relativeError(bad.logits, good.logits)).toBeGreaterThan(1e-3);
  });

  test('a ring-q plan that drops a returned partial output computes something else; runs are bit-identical', async () => {
    const plan = buildPlan({ strategy: 'ring-q', model: tinyLlama, context: 96, gpus: 3 });
    const broken: Plan = structuredClone(plan);
    // Layer 1's partial outputs of rank 0's queries from rank 1 (step 2): rank 0's late chunk, which holds the last token.
    const back = broken.ops.find((op) => op.kind === 'transfer' && op.payload === 'attn-out' && op.layer === 1 && op.dst === 0 && op.src === 1)!;
    if (back.kind !== 'transfer') throw new Error('unreachable');
    back.ranges = [[back.ranges![0]![0], back.ranges![0]![0]]];
    back.token_end = back.token_start;
    back.bytes = 0;
    const good = await executePlan(plan, once);
    const again = await executePlan(plan, once);
    expect(Array.from(again.logits)).toEqual(Array.from(good.logits));
    const bad = await executePlan(broken, once);
    expect(relativeError(bad.logits, good.logits)).toBeGreaterThan(1e-3);
  });

  test('a ring-kv --tp plan that drops one shard block', async () => {
    const plan = expandCollectives(buildPlan({ strategy: 'ring-kv', model: tinyLlama, context: 96, gpus: 4, tp: 2 }));
    const broken: Plan = structuredClone(plan);
    const send = broken.ops.find((op) => op.kind === 'transfer' && op.layer === 0 && op.name === 'send' && op.dst % 2 === 1)!;
    if (send.kind !== 'transfer') throw new Error('unreachable');
    send.ranges = [[send.ranges![0]![0], send.ranges![0]![0]]];
    send.token_end = send.token_start;
    send.bytes = 0;
    const good = await executePlan(plan, once);
    const bad = await executePlan(broken, once);
    expect(relativeError(bad.logits, good.logits)).toBeGreaterThan(1e-3);
  });
});

describe('plans the executor refuses, with the field named', () => {
  async function rejection(plan: Plan | string, options = once): Promise<NativeError> {
    const error = await executePlan(plan, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NativeError);
    return error as NativeError;
  }

  test('a tp plan whose op shard is not its rank shard', async () => {
    const plan = expandCollectives(buildPlan({ strategy: 'tp', model: tinyLlama, context: 64, gpus: 2 }));
    const op = plan.ops.find((o) => o.kind === 'compute' && o.rank === 1)!;
    if (op.kind !== 'compute') throw new Error('unreachable');
    op.shard = { heads: 3, kv_heads: 1, ffn: 256 };
    const error = await rejection(plan);
    expect(error.code).toBe('invalid-plan');
    expect(error.message).toMatch(/plan\.ops\[\d+\]\.shard: .*rank 1's shard has 2, 1, 256/);
  });

  test('a ring-kv plan with an attention step of the wrong shape', async () => {
    const plan = structuredClone(buildPlan({ strategy: 'ring-kv', model: tinyLlama, context: 64, gpus: 2 }));
    const attn = plan.ops.filter((o) => o.kind === 'compute' && o.name === 'attn' && o.merge === true)[0]!;
    if (attn.kind !== 'compute') throw new Error('unreachable');
    attn.keys += 1;
    const error = await rejection(plan);
    expect(error.code).toBe('invalid-plan');
    expect(error.message).toMatch(/attn step 1 of rank \d is tokens \d+, keys \d+/);
  });

  test('pp-chunked with tensor parallelism, and an op outside its stage layers: one line each', async () => {
    const tp = buildPlan({ strategy: 'pp-chunked', model: tinyLlama, context: 64, gpus: 4, tp: 2 });
    expect((await rejection(tp)).message).toMatch(/plan\.tp: pp-chunked runs on the executor with one GPU a stage \(expected 1, got 2\)/);
    const plan = structuredClone(buildPlan({ strategy: 'pp-chunked', model: tinyLlama, context: 64, gpus: 2 }));
    const op = plan.ops.find((o) => o.kind === 'compute' && o.rank === 1)!;
    if (op.kind !== 'compute') throw new Error('unreachable');
    op.layer = 0;
    expect((await rejection(plan)).message).toMatch(/plan\.ops\[\d+\]\.layer: 0, but rank 1's stage has layers 1\.\.1/);
  });

  test('a tp plan whose tp is not its GPU count', async () => {
    const plan = buildPlan({ strategy: 'tp', model: tinyLlama, context: 64, gpus: 2 });
    const error = await rejection({ ...plan, tp: 1 });
    expect(error.message).toMatch(/plan\.tp: expected the GPU count 2 for tp \(got 1\)/);
  });

  test('the CUDA backend refuses ring-kv and tensor-parallel plans with one clear error', async () => {
    for (const strategy of ['ring-kv', 'tp'] as const) {
      const error = await rejection(buildPlan({ strategy, model: tinyLlama, context: 64, gpus: 2 }), { ...once, backend: 'cuda' } as typeof once);
      // This build may have no CUDA at all; a CUDA build refuses the strategy before touching a device.
      expect(['built-without-cuda', 'invalid-argument', 'no-cuda-device']).toContain(error.code);
      expect(error.message.split('\n')).toHaveLength(1);
    }
  });
});
