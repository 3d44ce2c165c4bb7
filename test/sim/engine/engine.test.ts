import { describe, expect, test } from 'vitest';
import { runPlan } from '../../../sim/engine/engine.js';
import type { Plan, PlanOp } from '../../../sim/plan/plan.js';
import { Router } from '../../../sim/topology/routing.js';
import { tinyModel, topology } from '../../support/scenarios.js';

function compute(id: number, rank: number, deps: number[]): PlanOp {
  return { id, kind: 'compute', name: 'mlp', rank, layer: 0, tokens: 1, prefix: 0, keys: 1, causal: true, flops: 0, deps };
}

function send(id: number, src: number, dst: number, bytes: number, deps: number[]): PlanOp {
  return { id, kind: 'transfer', name: 'send', src, dst, layer: 0, token_start: 0, token_end: 1, bytes, deps };
}

function plan(ops: PlanOp[], gpus: number): Plan {
  return { schema: 'kvr-plan@1', strategy: 'kvr', model: tinyModel, context: gpus, gpus, partition: new Array(gpus).fill(1), kv_tokens: new Array(gpus).fill(1), last_rank: gpus - 1, ops };
}

describe('runPlan', () => {
  const router = new Router(topology('switch', 3, 10)); // 10 B/s per link direction, no latency

  test('a rank runs its compute ops in order; a transfer never blocks the sender', () => {
    // rank 0: op0 (1 s) -> send op1 (20 bytes = 2 s) while op2 (1 s) runs; rank 1: op3 waits for op1.
    const ops = [compute(0, 0, []), send(1, 0, 1, 20, [0]), compute(2, 0, [0]), compute(3, 1, [1])];
    const run = runPlan(plan(ops, 2), Float64Array.of(1, 0, 1, 0.5), router);
    expect([...run.start]).toEqual([0, 1, 1, 3]);
    expect([...run.end]).toEqual([1, 3, 2, 3.5]);
    expect(run.makespan).toBe(3.5);
  });

  test('transfers on one channel leave one at a time in plan order (FIFO)', () => {
    // Two sends 0->1 ready at t=0: the second starts when the first is done.
    const ops = [send(0, 0, 1, 10, []), send(1, 0, 1, 10, [])];
    const run = runPlan(plan(ops, 2), new Float64Array(2), router);
    expect([...run.start]).toEqual([0, 1]);
    expect([...run.end]).toEqual([1, 2]);
  });

  test('transfers on different channels share the links they have in common', () => {
    // 0->2 and 1->2 both enter gpu2 through one 10 B/s link: 5 B/s each.
    const ops = [send(0, 0, 2, 10, []), send(1, 1, 2, 10, [])];
    const run = runPlan(plan(ops, 3), new Float64Array(2), router);
    expect([...run.end]).toEqual([2, 2]);
  });

  test('a route latency is paid before the data flows', () => {
    const slow = new Router(topology('switch', 2, 10, 0.5));
    const run = runPlan(plan([send(0, 0, 1, 10, [])], 2), new Float64Array(1), slow);
    expect(run.flowStart[0]).toBe(0.5);
    expect(run.end[0]).toBe(1.5);
  });

  test('a plan whose dependency does not precede it is rejected', () => {
    expect(() => runPlan(plan([compute(0, 0, [1]), compute(1, 0, [])], 1), new Float64Array(2), router)).toThrow(/does not precede/);
  });
});
