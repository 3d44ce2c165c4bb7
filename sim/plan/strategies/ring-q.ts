import type { ModelSpec } from '../../model/model-spec.js';
import type { OpShard } from '../../work/compute-op.js';
import type { CollectiveAlgorithm, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { rowBlocks } from './kvr-tp.js';
import { zigZag } from './ring-kv.js';

/**
 * Ring attention with pass-Q (Yang et al., "Context Parallelism for Scalable Million-Token
 * Inference", arXiv 2411.01783, §3): the layout of ring-kv (2g zig-zag chunks over g ring
 * positions, position i holding chunks i and 2g-1-i, optionally t GPUs of tensor parallelism per
 * position), but the queries travel instead of the K,V.
 *
 * Per layer on position i: qkv; then g partial attentions, step s against the queries of position
 * j = i - s (mod g) with its own K,V, the queries received from position i-1 (and forwarded to i+1)
 * with the same double buffering as ring-kv. The shape of (queries of j, keys of i): s = 0 causal
 * over the own block; i < j: both of j's query chunks against i's early chunk (dense); i > j: j's
 * late chunk against both of i's chunks (dense). Every causal (query, key) pair once: FLOPs equal
 * single's. Then an all-to-all returns each partial output with its log-sum-exp (fp32) to the
 * queries' owner: position i sends position j the rows that saw a key (both chunks of j when
 * i < j, j's late chunk when i > j). The owner's o waits for them all. The online-softmax merge
 * of each partial output is costed on the partial attention that produced it (`merge`: the same
 * memory-bound kernel and bytes as the owner merging after the all-to-all).
 *
 * Query bytes per token: heads x head_dim x b (pass-KV moves 2 kv_heads x head_dim x b), so with
 * GQA pass-Q moves more per step; its gain is where the K,V are larger than the queries (MHA,
 * or a long cached prefix in the paper's persistent-KV prefill; see ring-choice.ts).
 * With t > 1: o and mlp all-reduces inside each position exactly as in ring-kv --tp.
 */
export function ringQPlan(model: ModelSpec, context: number, p: number, t = 1, algorithm: CollectiveAlgorithm | 'auto' = 'ring', setup: BuilderSetup = {}): Plan {
  const builder = new PlanBuilder(model, setup);
  const g = p / t;
  const { chunks, starts, tokens, blocks, late } = zigZag(context, g);
  const shards = tensorShards(model, t);
  const positions = shards.map((_, j) => j);
  const rank = (k: number, j: number): number => k * t + j;
  const shapes: (OpShard | undefined)[] = positions.map((j) => (t > 1 ? opShard(shards[j]!) : undefined));
  const sharded = (j: number) => (shapes[j] === undefined ? {} : { shard: shapes[j]! });
  const heads = (j: number) => (t > 1 ? { heads: shards[j]!.heads } : {});
  const reduceBlocks = Array.from({ length: g }, (_, k) => [rowBlocks(chunks[k]!, starts[k]!, t), rowBlocks(chunks[late(k)]!, starts[late(k)]!, t)]);
  // Rows of position j's queries that position i's keys reach (i != j): the partial output sent back.
  const reached = (i: number, j: number): [number, number][] => (i < j ? blocks[j]! : [blocks[j]![1]!]);
  let before: number[][] = Array.from({ length: p }, () => []);
  for (let layer = 0; layer < model.layers; layer++) {
    const qkv: number[] = new Array(p);
    for (let k = 0; k < g; k++) {
      for (const j of positions) qkv[rank(k, j)] = builder.compute(rank(k, j), 'qkv', layer, { tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true, ...sharded(j) }, before[rank(k, j)]!);
    }
    const received: number[][] = Array.from({ length: p }, () => []);
    const attn: number[][] = Array.from({ length: p }, () => []);
    for (let s = 0; s < g; s++) {
      if (s + 1 < g) {
        const next = s + 1;
        for (let k = 0; k < g; k++) {
          const from = (k - 1 + g) % g;
          const owner = (k - next + g) % g;
          for (const j of positions) {
            const r = rank(k, j);
            const f = rank(from, j);
            const deps = next === 1 ? [qkv[f]!, qkv[r]!] : [received[f]![next - 1]!, attn[f]![next - 2]!, attn[r]![next - 2]!];
            received[r]![next] = builder.transferRanges('send', f, r, layer, blocks[owner]!, deps, next, { payload: 'query', ...heads(j) });
          }
        }
      }
      for (let k = 0; k < g; k++) {
        const owner = (k - s + g) % g;
        const shape =
          s === 0
            ? { tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true }
            : k < owner
              ? { tokens: tokens[owner]!, prefix: 0, keys: chunks[k]!, causal: false, merge: true }
              : { tokens: chunks[late(owner)]!, prefix: 0, keys: chunks[k]! + chunks[late(k)]!, causal: false, merge: true };
        for (const j of positions) {
          const r = rank(k, j);
          attn[r]!.push(builder.compute(r, 'attn', layer, { ...shape, ...sharded(j) }, [s === 0 ? qkv[r]! : received[r]![s]!]));
        }
      }
    }
    // All-to-all: position k's partial output for the queries of position (k - s) goes home.
    const returned: number[][] = Array.from({ length: p }, () => []);
    for (let s = 1; s < g; s++) {
      for (let k = 0; k < g; k++) {
        const owner = (k - s + g) % g;
        for (const j of positions) {
          returned[rank(owner, j)]!.push(builder.transferRanges('send', rank(k, j), rank(owner, j), layer, reached(k, owner), [attn[rank(k, j)]![s]!], undefined, { payload: 'attn-out', ...heads(j) }));
        }
      }
    }
    const next: number[][] = Array.from({ length: p }, () => []);
    for (let k = 0; k < g; k++) {
      const ranks = positions.map((j) => rank(k, j));
      const shape = (j: number) => ({ tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true, ...sharded(j) });
      const reduce = (deps: number[]): number[] =>
        reduceBlocks[k]!.map((rows) => builder.collective('allreduce', algorithm, layer, ranks, rows, 'together', deps)).filter((id) => id >= 0);
      const o = positions.map((j) => builder.compute(rank(k, j), 'o', layer, shape(j), [attn[rank(k, j)]![g - 1]!, ...returned[rank(k, j)]!]));
      const afterO = model.block === 'sequential' ? reduce(o) : [];
      const mlp = positions.map((j) => builder.compute(rank(k, j), 'mlp', layer, shape(j), [o[j]!, ...afterO]));
      const afterMlp = reduce(mlp);
      positions.forEach((j) => (next[rank(k, j)] = [mlp[j]!, ...afterMlp]));
    }
    before = next;
  }
  builder.compute(0, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, before[0]!);
  const perRank = Array.from({ length: p }, (_, r) => tokens[Math.floor(r / t)]!);
  return builder.build({ strategy: 'ring-q', context, partition: perRank, kvTokens: [...perRank], lastRank: 0, ...(t > 1 ? { tp: t, collective: algorithm } : {}) });
}
