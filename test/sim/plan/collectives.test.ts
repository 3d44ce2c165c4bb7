import { describe, expect, test } from 'vitest';
import { allGather, allReduce, reduceScatter } from '../../../sim/plan/collectives.js';
import type { CollectiveAlgorithm, TransferOp } from '../../../sim/plan/plan.js';
import { PlanBuilder } from '../../../sim/plan/plan-builder.js';
import { tinyModel } from '../../support/scenarios.js';

/** Runs a collective on p members with blocks of 10 tokens; returns its transfers and incoming lists. */
function run(kind: 'allgather' | 'reducescatter' | 'allreduce', p: number, algorithm: CollectiveAlgorithm, ranks = Array.from({ length: p }, (_, m) => m)) {
  const builder = new PlanBuilder(tinyModel);
  const ready = ranks.map((r) => builder.compute(r, 'o', 0, { tokens: 1, prefix: 0, keys: 1, causal: true }, []));
  const request = {
    builder,
    ranks,
    blocks: ranks.map((_, m) => [10 * m, 10 * m + 10] as const),
    layer: 0,
    ready: (m: number) => [ready[m]!],
    algorithm,
    payload: { payload: 'hidden' as const },
  };
  const incoming = kind === 'allgather' ? allGather(request) : kind === 'reducescatter' ? reduceScatter(request) : allReduce(request);
  const ops = builder.table.ops();
  const transfers = ops.filter((op): op is TransferOp => op.kind === 'transfer');
  return { transfers, incoming, ready, byId: new Map(ops.map((op) => [op.id, op])) };
}

/**
 * Replays a collective as data flow: what each member holds, block by block, as the set of
 * members whose contribution it has summed (all-gather blocks carry their owner's full sum).
 */
function replay(transfers: TransferOp[], p: number, kind: 'allgather' | 'reducescatter' | 'allreduce'): Set<number>[][] {
  const block = (t: TransferOp): number => t.token_start / 10;
  // holds[m][b]: contributions to block b that member m has.
  const holds = Array.from({ length: p }, (_, m) => Array.from({ length: p }, (_, b) => new Set<number>(kind === 'allgather' ? (b === m ? Array.from({ length: p }, (_, k) => k) : []) : [m])));
  for (const t of transfers) {
    const moved = holds[t.src]![block(t)]!;
    const into = holds[t.dst]![block(t)]!;
    for (const k of moved) into.add(k);
  }
  return holds;
}

describe('collectives as point-to-point transfers', () => {
  test.each([
    ['ring', 4],
    ['direct', 4],
    ['ring', 5],
    ['direct', 3],
  ] as const)('%s all-gather on %i members: p(p-1) block transfers, every member ends with every block', (algorithm, p) => {
    const { transfers } = run('allgather', p, algorithm);
    expect(transfers).toHaveLength(p * (p - 1));
    const holds = replay(transfers, p, 'allgather');
    for (const member of holds) for (const contributions of member) expect(contributions.size).toBe(p);
  });

  test.each([
    ['ring', 4],
    ['direct', 4],
    ['ring', 3],
  ] as const)('%s reduce-scatter: member m ends with block m summed over every member', (algorithm, p) => {
    const { transfers } = run('reducescatter', p, algorithm);
    expect(transfers).toHaveLength(p * (p - 1));
    const holds = replay(transfers, p, 'reducescatter');
    holds.forEach((member, m) => expect(member[m]!.size).toBe(p));
  });

  test.each([
    ['ring', 4],
    ['direct', 4],
    ['ring', 6],
  ] as const)('%s all-reduce: 2(p-1) blocks of C/p per member, and every member ends with every block fully summed', (algorithm, p) => {
    const { transfers, incoming } = run('allreduce', p, algorithm);
    expect(transfers).toHaveLength(2 * p * (p - 1));
    for (let m = 0; m < p; m++) expect(transfers.filter((t) => t.src === m)).toHaveLength(2 * (p - 1));
    expect(transfers.every((t) => t.bytes === 10 * tinyModel.hidden * tinyModel.dtype_bytes)).toBe(true);
    const holds = replay(transfers, p, 'allreduce');
    for (const member of holds) for (const contributions of member) expect(contributions.size).toBe(p);
    incoming.forEach((ids) => expect(ids).toHaveLength(2 * (p - 1)));
  });

  test('ring: step s of a member waits for its step s-1 delivery; the first step waits for every member', () => {
    const { transfers, ready } = run('allgather', 4, 'ring');
    for (const t of transfers) {
      if (t.step === 0) expect(t.deps).toEqual(ready);
      else expect(t.deps).toHaveLength(1);
    }
    const rings = transfers.filter((t) => t.dst !== (t.src + 1) % 4);
    expect(rings).toHaveLength(0);
  });

  test('direct: every member sends to every other member at once, after every member is ready', () => {
    const { transfers, ready } = run('allgather', 4, 'direct');
    for (const t of transfers) expect(t.deps).toEqual(ready);
    const pairs = new Set(transfers.map((t) => `${t.src}>${t.dst}`));
    expect(pairs.size).toBe(12);
  });

  test('members may be any ranks (a tensor-parallel group of a larger plan)', () => {
    const { transfers } = run('allreduce', 3, 'ring', [4, 5, 6]);
    expect(new Set(transfers.flatMap((t) => [t.src, t.dst]))).toEqual(new Set([4, 5, 6]));
  });
});
