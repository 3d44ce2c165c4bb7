import { describe, expect, test } from 'vitest';
import { buildPlan } from '../../../../sim/plan/build-plan.js';
import { expertRouting } from '../../../../sim/plan/expert-routing.js';
import type { CollectiveOp, ComputeOp, Plan, TransferOp } from '../../../../sim/plan/plan.js';
import { modelFromJson } from '../../../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../../../sim/model/presets.js';
import { planMemory } from '../../../../sim/result/memory.js';
import { shardedWeightBytes } from '../../../../sim/model/model-size.js';
import { tensorShards } from '../../../../sim/plan/tensor-shard.js';
import { tpExpertParallelFlops } from '../../../support/moe-flops.js';

/** A tiny MoE model: 4 experts of f_e 4, top-2, 1 shared expert, layer 0 dense (f 16). */
const tiny = modelFromJson({
  name: 'tiny-moe', layers: 3, hidden: 8, heads: 4, kv_heads: 2, head_dim: 2, ffn: 16, vocab: 10, mlp: 'swiglu', block: 'sequential',
  moe: { experts: 4, experts_per_token: 2, shared_experts: 1, expert_ffn: 4, dense_layers: 1 },
});

const computes = (plan: Plan) => plan.ops.filter((op): op is ComputeOp => op.kind === 'compute');
const sends = (plan: Plan) => plan.ops.filter((op): op is TransferOp => op.kind === 'transfer');
const totalFlops = (plan: Plan) => computes(plan).reduce((sum, op) => sum + op.flops, 0);

describe('tp --ep: expert parallelism with all-to-all dispatch and combine', () => {
  const C = 40;
  const p = 2;
  const plan = buildPlan({ strategy: 'tp', model: tiny, context: C, gpus: p, ep: p });

  test('FLOPs are hand arithmetic over the active experts (router once per token, top-2 + 1 shared)', () => {
    const d = 8;
    // Attention of a layer (summed over the 2 head shards): qkv 2*C*d*(4+2*2)*2, causal attn 2*h*hd*C*(C+1), o 2*C*8*d.
    const attention = 2 * C * d * 8 * 2 + 2 * 4 * 2 * C * (C + 1) + 2 * C * 8 * d;
    const dense = 6 * C * d * 16;
    // MoE layer: router 2*C*d*E + shared 6*C*1*d*f_e + routed 6*(C*k)*d*f_e.
    const moe = 2 * C * d * 4 + 6 * C * d * 4 + 6 * (C * 2) * d * 4;
    const lmHead = 2 * d * 10;
    expect(totalFlops(plan)).toBe(3 * attention + dense + 2 * moe + lmHead);
  });

  test('a MoE layer: reduce-scatter, route its C/p rows, send each pair to its expert rank, experts, send back, combine, all-gather', () => {
    const layer1 = plan.ops.filter((op) => op.layer === 1);
    const kinds = layer1.map((op) => (op.kind === 'compute' ? `${op.name}${op.moe === undefined ? '' : `:${op.moe.router > 0 ? 'route' : op.moe.routed > 0 ? 'experts' : 'combine'}`}` : op.kind === 'collective' ? op.name : op.name));
    expect(kinds).toEqual([
      'qkv', 'qkv', 'attn', 'attn', 'o', 'o', 'reducescatter',
      'mlp:route', 'mlp:route', 'send', 'send', 'mlp:experts', 'mlp:experts', 'send', 'send', 'mlp:combine', 'mlp:combine', 'allgather',
    ]);
    // Balanced: each rank routes 20 tokens x 2 = 40 pairs, 20 to each expert rank: 20 rows of d*b bytes each way.
    const moved = sends(plan).filter((t) => t.layer === 1);
    expect(moved.map((t) => [t.src, t.dst, t.token_end - t.token_start, t.bytes])).toEqual([
      [0, 1, 20, 20 * 8 * 2], [1, 0, 20, 20 * 8 * 2], [0, 1, 20, 20 * 8 * 2], [1, 0, 20, 20 * 8 * 2],
    ]);
    const experts = computes(plan).filter((op) => op.layer === 1 && op.moe !== undefined && op.moe.routed > 0);
    expect(experts.map((op) => op.moe)).toEqual([
      { router: 0, shared: 0, routed: 40, experts: 2, combine: 0 },
      { router: 0, shared: 0, routed: 40, experts: 2, combine: 0 },
    ]);
    // The dense layer 0 keeps tp's two all-reduces; the last layer needs no all-gather.
    const collectives = (layer: number) => plan.ops.filter((op): op is CollectiveOp => op.kind === 'collective' && op.layer === layer).map((op) => op.name);
    expect(collectives(0)).toEqual(['allreduce', 'allreduce']);
    expect(collectives(2)).toEqual(['reducescatter']);
    expect(plan.ep).toBe(2);
  });

  test('--expert-imbalance F: the busiest rank computes F times the mean pairs; the total (and the FLOPs) stay C k', () => {
    const skewed = buildPlan({ strategy: 'tp', model: tiny, context: C, gpus: p, ep: p, expertImbalance: 1.5 });
    const experts = computes(skewed).filter((op) => op.layer === 1 && op.moe !== undefined && op.moe.routed > 0);
    // Mean 40 pairs per rank: rank 0 gets 1.5 x 40 = 60, rank 1 the other 20.
    expect(experts.map((op) => op.moe!.routed)).toEqual([60, 20]);
    expect(totalFlops(skewed)).toBe(totalFlops(plan));
    expect(skewed.expert_imbalance).toBe(1.5);
  });

  test('expertRouting: every source rank sends exactly c_r k pairs, in proportion to the loads; loads within ep-1 of the target', () => {
    const { loads, pairs } = expertRouting([13, 13, 12, 12], 8, 2.5);
    expect(pairs.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([104, 104, 96, 96]);
    expect(loads.reduce((a, b) => a + b, 0)).toBe(400);
    // Target: round(2.5 * 400 / 4) = 250 on rank 0; 150 over the other three (50 each).
    expect(Math.abs(loads[0]! - 250)).toBeLessThanOrEqual(3);
    for (const load of loads.slice(1)) expect(Math.abs(load - 50)).toBeLessThanOrEqual(3);
    expect(expertRouting([5, 5], 2, 2).loads).toEqual([20, 0]);
  });

  test('memory: each rank holds E/ep whole routed experts, the router and the shared expert', () => {
    const memory = planMemory(plan);
    const shard = tensorShards(tiny, p)[0]!;
    expect(memory[0]!.weights).toBe(shardedWeightBytes(tiny, { ...shard, expert_ffn: 4 }, 2));
    // Against plain tp (a 2-column slice of all 5 experts): 2 whole routed experts + the whole shared one.
    const tp = buildPlan({ strategy: 'tp', model: tiny, context: C, gpus: p });
    const perExpertBytes = 3 * 8 * 4 * 2;
    expect(memory[0]!.weights - planMemory(tp)[0]!.weights).toBe(2 * ((2 + 1) * perExpertBytes - 5 * perExpertBytes / 2));
  });

  test.each([
    [{ strategy: 'kvr-e' as const, ep: 2 }, /^ep: only applies to strategies tp, tp-sp \(allowed elsewhere: 1\); strategy is kvr-e/],
    [{ strategy: 'tp' as const, ep: 4 }, /^ep: expert parallelism spans the tensor-parallel group: allowed 1 or --gpus 2 \(got 4\)/],
    [{ strategy: 'tp' as const, expertImbalance: 2 }, /^expert_imbalance: only applies with expert parallelism/],
    [{ strategy: 'tp' as const, ep: 2, expertImbalance: 3 }, /^expert_imbalance: expected a load factor in 1\.\.2 /],
    [{ strategy: 'tp' as const, ep: 2, expertImbalance: 0.5 }, /^expert_imbalance: expected a load factor in 1\.\.2 /],
  ])('rejects %j in one line', (options, message) => {
    expect(() => buildPlan({ model: tiny, context: C, gpus: p, ...options })).toThrow(message);
  });

  test('ep must divide the routed experts, on a MoE model', () => {
    expect(() => buildPlan({ strategy: 'tp', model: tiny, context: 48, gpus: 3, ep: 3 })).toThrow(/^ep: must divide the 4 routed experts of tiny-moe \(got 3\)/);
    expect(() => buildPlan({ strategy: 'tp', model: MODEL_PRESETS['llama2-7b']!, context: 64, gpus: 2, ep: 2 })).toThrow(/^ep: llama2-7b has no experts/);
  });

  test('tp-sp --ep: the next layer`s all-gather replaces the all-gather after the combine', () => {
    const sp = buildPlan({ strategy: 'tp-sp', model: tiny, context: C, gpus: p, ep: p });
    const names = sp.ops.filter((op): op is CollectiveOp => op.kind === 'collective' && op.layer === 1).map((op) => op.name);
    expect(names).toEqual(['allgather', 'reducescatter']);
    expect(totalFlops(sp)).toBe(totalFlops(plan));
  });
});

describe('must show: tp --ep 8 --gpus 8 on the MoE presets, FLOPs over the active experts', () => {
  const C = 8192;
  const p = 8;
  test.each(['mixtral-8x7b', 'qwen3-30b-a3b', 'deepseek-v3'])('%s', (name) => {
    const plan = buildPlan({ strategy: 'tp', model: MODEL_PRESETS[name]!, context: C, gpus: p, ep: p });
    expect(totalFlops(plan)).toBe(tpExpertParallelFlops(MODEL_PRESETS[name]!, C, p));
  });

  test('mixtral-8x7b by hand in numbers: 32 layers of 2 of 8 experts (14336 wide) at 8192 tokens', () => {
    // Per layer: qkv 2*8192*4096*(32+16)*128 = 412316860416; attn 2*32*128*8192*8193 = 549822922752;
    // o 2*8192*4096*4096 = 274877906944; router 2*8192*4096*8 = 536870912;
    // experts 6*8192*2*4096*14336 = 5772436045824. lm_head 2*4096*32000 = 262144000.
    const layer = 412316860416 + 549822922752 + 274877906944 + 536870912 + 5772436045824;
    expect(tpExpertParallelFlops(MODEL_PRESETS['mixtral-8x7b']!, C, p)).toBe(32 * layer + 262144000);
  });
});
