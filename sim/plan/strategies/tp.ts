import type { ModelSpec } from '../../model/model-spec.js';
import { evenPartition, prefixes } from '../partition.js';
import type { CollectiveAlgorithm, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { expertRouting } from '../expert-routing.js';
import { isMoeLayer, type MoeWork } from '../../model/moe.js';

/**
 * Tensor parallelism over all p ranks.
 *
 * `tp` (Megatron-LM, Shoeybi et al. 2019): rank r computes its share of the heads and FFN columns
 * (sim/plan/tensor-shard.ts) for all C tokens: qkv, causal attention, o (row-parallel: partial
 * sums of the whole C x d output), all-reduce, mlp (partial sums), all-reduce. Each all-reduce
 * moves C x d x b bytes' worth of partial sums; as a ring (the default) it is a reduce-scatter and
 * an all-gather of p blocks of C/p rows: 2(p-1) steps of C*d*b/p bytes. Norms and residual adds
 * run on all C rows on every rank (replicated). A parallel block (Falcon) sums its attention and
 * MLP partial outputs and all-reduces once per layer.
 *
 * `tp-sp` (sequence parallelism, Korthikanti et al. 2022, "Reducing Activation Recomputation in
 * Large Transformer Models"): between the attention and MLP blocks the hidden state is split by
 * sequence: rank r owns rows [R_r, R_r + C/p). Per layer: all-gather of the normed rows before
 * qkv, reduce-scatter after o, all-gather before the MLP, reduce-scatter after it (same bytes as
 * tp's two all-reduces); norms and residual adds run on the rank's C/p rows only (`seq_tokens`).
 * The norm before each all-gather is costed inside the op after it (qkv, mlp): the two are on the
 * same critical path, so only their order within it differs.
 *
 * Collectives are `collective` plan ops (sim/plan/collectives.ts) that start together after the
 * producing op of every rank (an all-gather that follows a reduce-scatter starts per rank, as each
 * holds its reduced rows); an op waits for its own rank's share.
 *
 * Weights: the layers are sharded; embedding, final norm and LM head are replicated, and the last
 * rank (which holds the last token's hidden state: every rank does under tp, the last row block
 * under tp-sp) computes the logits of the whole vocabulary (2*d*V FLOPs; sharding the vocabulary
 * would save that and add a gather of the logits).
 *
 * A MoE model's layers (sim/model/moe.ts) split every expert by columns like the dense FFN (no
 * --ep). With expert parallelism (`ep` = p, --ep; DeepSpeed-MoE, Rajbhandari et al. 2022, and
 * GShard's all-to-all dispatch, Lepikhin et al. 2020) rank q holds routed experts
 * [q E/p, (q+1) E/p) whole, and a MoE layer runs, after o:
 *   reduce-scatter    rank r ends with the summed rows R_r = [R_r, R_r + C/p) (as tp-sp);
 *   route (mlp)       norm, router, top-k of its rows; the shared experts on them (replicated);
 *   dispatch          all-to-all: r sends each pair of its rows to the rank of the expert (d*b bytes a pair);
 *   experts (mlp)     rank q runs the pairs it received (sim/plan/expert-routing.ts: even, or the
 *                     busiest rank F times the mean under --expert-imbalance F);
 *   combine           all-to-all back: each pair's output to its token's rank;
 *   combine (mlp)     weighted sum of each token's k outputs, residual add;
 *   all-gather        (tp) every rank gets all C rows for the next attention; tp-sp's next layer
 *                     gathers anyway.
 * The all-to-alls are point-to-point sends, all at once (a direct all-to-all, as NCCL's is), whose
 * contention the link model times. Dense layers (DeepSeek's first 3) run as without --ep.
 */
export function tpPlan(
  model: ModelSpec,
  context: number,
  p: number,
  strategy: 'tp' | 'tp-sp',
  algorithm: CollectiveAlgorithm | 'auto',
  setup: BuilderSetup = {},
  experts: { ep: number; imbalance: number } = { ep: 1, imbalance: 1 },
): Plan {
  const builder = new PlanBuilder(model, setup);
  const ep = experts.ep;
  const shards = tensorShards(model, p);
  const rows = evenPartition(context, p);
  const rowStart = prefixes(rows);
  const blocks = rows.map((n, r) => [rowStart[r]!, rowStart[r]! + n] as const);
  const ranks = rows.map((_, r) => r);
  const sp = strategy === 'tp-sp';
  const sequential = model.block === 'sequential';
  const shapes = ranks.map((r) => ({ tokens: context, prefix: 0, keys: context, causal: true, shard: opShard(shards[r]!, sp ? rows[r] : undefined) }));
  const collective = (name: 'allgather' | 'reducescatter' | 'allreduce', layer: number, start: 'together' | 'per-member', deps: number[]): number =>
    builder.collective(name, algorithm, layer, ranks, blocks, start, deps);
  // What each rank's next layer waits for: its own last op and the collective after it.
  let before: number[][] = ranks.map(() => []);
  let previous = -1;
  for (let layer = 0; layer < model.layers; layer++) {
    const gathered = sp ? collective('allgather', layer, 'per-member', [...before.flat(), ...(previous >= 0 ? [previous] : [])]) : -1;
    const qkv = ranks.map((r) => builder.compute(r, 'qkv', layer, shapes[r]!, [...before[r]!, ...(previous >= 0 ? [previous] : []), ...(gathered >= 0 ? [gathered] : [])]));
    const attn = ranks.map((r) => builder.compute(r, 'attn', layer, shapes[r]!, [qkv[r]!]));
    const o = ranks.map((r) => builder.compute(r, 'o', layer, shapes[r]!, [attn[r]!]));
    if (ep > 1 && isMoeLayer(model, layer)) {
      const done = expertParallelFfn(builder, model, layer, o, rows, experts.imbalance, (name, start, deps) => collective(name, layer, start, deps));
      // The last rank holds the last token's row: after the last layer no rank needs the others'.
      previous = sp || layer === model.layers - 1 ? -1 : collective('allgather', layer, 'per-member', done);
      before = ranks.map((r) => [done[r]!]);
      continue;
    }
    let after: number[] = [];
    if (sequential) {
      if (sp) {
        const scattered = collective('reducescatter', layer, 'together', o);
        after = [scattered, collective('allgather', layer, 'per-member', [scattered])];
      } else {
        after = [collective('allreduce', layer, 'together', o)];
      }
    }
    const mlp = ranks.map((r) => builder.compute(r, 'mlp', layer, shapes[r]!, [o[r]!, ...after.filter((id) => id >= 0)]));
    previous = collective(sp ? 'reducescatter' : 'allreduce', layer, 'together', mlp);
    before = ranks.map((r) => [mlp[r]!]);
  }
  const last = p - 1;
  builder.compute(last, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, [...before[last]!, ...(previous >= 0 ? [previous] : [])]);
  return builder.build({
    strategy,
    context,
    partition: ranks.map(() => context),
    kvTokens: ranks.map(() => context),
    lastRank: last,
    tp: p,
    collective: algorithm,
    ...(ep > 1 ? { ep, expertImbalance: experts.imbalance } : {}),
  });
}

/**
 * The expert-parallel FFN of one MoE layer after `o` (see tpPlan): reduce-scatter, route, dispatch,
 * experts, combine. Returns each rank's combine op (its rows done).
 */
function expertParallelFfn(
  builder: PlanBuilder,
  model: ModelSpec,
  layer: number,
  o: number[],
  rows: number[],
  imbalance: number,
  collective: (name: 'reducescatter', start: 'together', deps: number[]) => number,
): number[] {
  const moe = model.moe!;
  const p = rows.length;
  const held = moe.experts / p;
  const ranks = rows.map((_, r) => r);
  const { loads, pairs } = expertRouting(rows, moe.experts_per_token, imbalance);
  const shape = (tokens: number, work: Omit<MoeWork, 'experts'>) => ({ tokens, prefix: 0, keys: tokens, causal: true, moe: { ...work, experts: held } });
  const scattered = collective('reducescatter', 'together', o);
  const route = ranks.map((r) => builder.compute(r, 'mlp', layer, shape(rows[r]!, { router: rows[r]!, shared: rows[r]!, routed: 0, combine: 0 }), [o[r]!, scattered]));
  // Dispatch: pairs[r][q] rows of hidden state from r to q (the pairs r keeps move nothing).
  const arriving: number[][] = ranks.map(() => []);
  for (const r of ranks) {
    for (const q of ranks) if (q !== r && pairs[r]![q]! > 0) arriving[q]!.push(builder.transfer('send', r, q, layer, 0, pairs[r]![q]!, [route[r]!], undefined, { payload: 'hidden' }));
  }
  const expert = ranks.map((q) => (loads[q]! > 0 ? builder.compute(q, 'mlp', layer, shape(loads[q]!, { router: 0, shared: 0, routed: loads[q]!, combine: 0 }), [route[q]!, ...arriving[q]!]) : route[q]!));
  const returning: number[][] = ranks.map(() => []);
  for (const q of ranks) {
    for (const r of ranks) if (r !== q && pairs[r]![q]! > 0) returning[r]!.push(builder.transfer('send', q, r, layer, 0, pairs[r]![q]!, [expert[q]!], undefined, { payload: 'hidden' }));
  }
  return ranks.map((r) => builder.compute(r, 'mlp', layer, shape(rows[r]!, { router: 0, shared: 0, routed: 0, combine: rows[r]! }), [expert[r]!, ...returning[r]!]));
}
