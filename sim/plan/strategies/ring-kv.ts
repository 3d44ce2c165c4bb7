import type { ModelSpec } from '../../model/model-spec.js';
import type { OpShard } from '../../work/compute-op.js';
import { evenPartition, prefixes } from '../partition.js';
import type { CollectiveAlgorithm, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { rowBlocks } from './kvr-tp.js';

/**
 * Ring attention with pass-KV: context parallelism as in Yang et al., "Context Parallelism for
 * Scalable Million-Token Inference" (arXiv 2411.01783), after Liu et al.'s ring attention. Weights
 * are replicated.
 *
 * Layout (load-balanced zig-zag): the context is cut into 2p chunks of even size (the first
 * C mod 2p one token longer); rank i holds chunks i and 2p-1-i, so every rank has one early and
 * one late chunk and the causal work comes out balanced. A rank's K,V block is its two chunks.
 *
 * Per layer on rank i: qkv on its 2 chunks; then p partial attentions, step s = 0..p-1 against the
 * block of rank j = i - s (mod p), which rank i received from rank i-1 at step s (and forwards to
 * i+1 for step s+1). Under causality, with a = i's early chunk, z = 2p-1-i its late one and
 * j's chunks j and 2p-1-j:
 *   s = 0 (own block): a|z against a|z is causal over the 2 chunks taken in token order: z sees all
 *         of a, each chunk sees itself causally. Shape: causal, c = n_a + n_z, prefix 0.
 *   j < i: both query chunks see all of chunk j and none of chunk 2p-1-j (which is after z):
 *         dense, queries n_a + n_z, keys n_j.
 *   j > i: chunk a sees nothing (both of j's chunks come after it); z sees all of both:
 *         dense, queries n_z, keys n_j + n_{2p-1-j}.
 * Every (query chunk, key chunk) pair below the diagonal is computed exactly once, so attention
 * FLOPs equal single's exactly; with even chunks every step costs every rank the same
 * (2 n^2 scores; step 0: 2n(2n+1)/2).
 * Steps s >= 1 merge their partial output into the running one (online softmax: the `merge` flag
 * adds a memory-bound softmax_merge kernel to the attn op). Then o and mlp on the rank's tokens.
 *
 * Transfers: rank i-1 sends rank i the block for step s (s = 1..p-1) as one message of both chunks
 * ((p-1) x C tokens of K,V per layer in all). As in ring-flash-attn, the send/receive for step s is
 * issued when both ranks start computing step s-1: it waits for the sender to hold the block
 * (its own qkv for s = 1, else its receive of step s-1) and for both ranks to have finished step
 * s-2 (double buffering: at most two foreign blocks live on a rank), and overlaps step s-1's
 * attention. The last token is in chunk 2p-1, on rank 0, which computes the logits.
 *
 * With `tp` = t > 1 (context parallelism across nodes with tensor parallelism inside, as Yang et
 * al. run Llama 3 405B): the p GPUs form g = p/t ring positions of t GPUs; ranks k*t .. k*t+t-1
 * are position k, each holding Megatron shard j (sim/plan/tensor-shard.ts) of zig-zag chunks k and
 * 2g-1-k. Every op above runs on the shard's heads and FFN columns; rank (k, j) passes the K,V of
 * its KV heads to rank (k+1, j) (t rings side by side, each over its own GPU's links and NIC). o and
 * mlp give partial sums, all-reduced inside the position's t GPUs as in tp: one all-reduce per
 * zig-zag chunk (the collective model takes contiguous rows; NCCL would reduce both chunks in one
 * call, one latency term less). The logits are computed on rank 0 (position 0, shard 0).
 */
export function ringKvPlan(model: ModelSpec, context: number, p: number, options: RingOptions = {}): Plan {
  const t = options.tp ?? 1;
  if (t > 1) return ringKvTpPlan(model, context, p, t, options.collective ?? 'ring', options.setup ?? {});
  const builder = new PlanBuilder(model, options.setup ?? {});
  const { chunks, tokens, blocks, late } = zigZag(context, p);
  const previousMlp: (number | undefined)[] = new Array(p).fill(undefined);
  for (let layer = 0; layer < model.layers; layer++) {
    const qkv = tokens.map((c, i) => {
      const before = previousMlp[i];
      return builder.compute(i, 'qkv', layer, { tokens: c, prefix: 0, keys: c, causal: true }, before === undefined ? [] : [before]);
    });
    // received[i][s]: the transfer that brought rank i the block of step s (s >= 1).
    const received: number[][] = tokens.map(() => []);
    const attn: number[][] = tokens.map(() => []);
    for (let s = 0; s < p; s++) {
      if (s + 1 < p) {
        const next = s + 1;
        for (let i = 0; i < p; i++) {
          const from = (i - 1 + p) % p;
          const owner = (i - next + p) % p;
          const deps = next === 1 ? [qkv[from]!, qkv[i]!] : [received[from]![next - 1]!, attn[from]![next - 2]!, attn[i]![next - 2]!];
          received[i]![next] = builder.transferRanges('send', from, i, layer, blocks[owner]!, deps, next);
        }
      }
      for (let i = 0; i < p; i++) {
        const step = ringStepShape(chunks, tokens, i, s, p, late);
        attn[i]!.push(builder.compute(i, 'attn', layer, step, [s === 0 ? qkv[i]! : received[i]![s]!]));
      }
    }
    tokens.forEach((c, i) => {
      const shape = { tokens: c, prefix: 0, keys: c, causal: true };
      const o = builder.compute(i, 'o', layer, shape, [attn[i]![p - 1]!]);
      previousMlp[i] = builder.compute(i, 'mlp', layer, shape, [o]);
    });
  }
  builder.compute(0, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, [previousMlp[0]!]);
  return builder.build({ strategy: 'ring-kv', context, partition: tokens, kvTokens: tokens, lastRank: 0 });
}

/** Options of the ring strategies: tensor parallelism inside each ring position, and its all-reduces. */
export interface RingOptions {
  /** GPUs per ring position (a tensor-parallel group); absent: 1. */
  tp?: number;
  collective?: CollectiveAlgorithm | 'auto';
  setup?: BuilderSetup;
}

/** The zig-zag layout over g ring positions: 2g even chunks, position i holding chunks i and 2g-1-i. */
export function zigZag(context: number, g: number): { chunks: number[]; starts: number[]; tokens: number[]; blocks: [number, number][][]; late: (i: number) => number } {
  const chunks = evenPartition(context, 2 * g);
  const starts = prefixes(chunks);
  const late = (i: number): number => 2 * g - 1 - i;
  const tokens = Array.from({ length: g }, (_, i) => chunks[i]! + chunks[late(i)]!);
  // Token ranges of position j's block; one array per position, shared by every transfer of that
  // block (plans are read, never mutated, and a 128k plan has ~10^5 such transfers).
  const blocks = Array.from({ length: g }, (_, j): [number, number][] => [
    [starts[j]!, starts[j]! + chunks[j]!],
    [starts[late(j)]!, starts[late(j)]! + chunks[late(j)]!],
  ]);
  return { chunks, starts, tokens, blocks, late };
}

/**
 * The attention of ring step s on position i against the K,V of position j = i - s (pass-KV), or
 * equally of position j's queries against i's K,V with i and j swapped (pass-Q): causal over the
 * own block at s = 0; both query chunks against j's early chunk when j < i; the late query chunk
 * against both of j's chunks when j > i.
 */
export function ringStepShape(chunks: readonly number[], tokens: readonly number[], i: number, s: number, g: number, late: (i: number) => number, shard?: OpShard): { tokens: number; prefix: number; keys: number; causal: boolean; merge?: boolean; shard?: OpShard } {
  const j = (i - s + g) % g;
  const sharded = shard === undefined ? {} : { shard };
  if (s === 0) return { tokens: tokens[i]!, prefix: 0, keys: tokens[i]!, causal: true, ...sharded };
  if (j < i) return { tokens: tokens[i]!, prefix: 0, keys: chunks[j]!, causal: false, merge: true, ...sharded };
  return { tokens: chunks[late(i)]!, prefix: 0, keys: chunks[j]! + chunks[late(j)]!, causal: false, merge: true, ...sharded };
}

/** ring-kv over g = p/t positions with tensor parallelism over the t GPUs of each (see ringKvPlan). */
function ringKvTpPlan(model: ModelSpec, context: number, p: number, t: number, algorithm: CollectiveAlgorithm | 'auto', setup: BuilderSetup): Plan {
  const builder = new PlanBuilder(model, setup);
  const g = p / t;
  const { chunks, starts, tokens, blocks, late } = zigZag(context, g);
  const shards = tensorShards(model, t);
  const positions = shards.map((_, j) => j);
  const rank = (k: number, j: number): number => k * t + j;
  const shapes = positions.map((j) => opShard(shards[j]!));
  // The all-reduce blocks of position k: each of its two chunks' rows split evenly over t GPUs.
  const reduceBlocks = Array.from({ length: g }, (_, k) => [rowBlocks(chunks[k]!, starts[k]!, t), rowBlocks(chunks[late(k)]!, starts[late(k)]!, t)]);
  let before: number[][] = Array.from({ length: p }, () => []);
  for (let layer = 0; layer < model.layers; layer++) {
    const qkv: number[] = new Array(p);
    for (let k = 0; k < g; k++) {
      for (const j of positions) qkv[rank(k, j)] = builder.compute(rank(k, j), 'qkv', layer, { tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true, shard: shapes[j]! }, before[rank(k, j)]!);
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
            received[r]![next] = builder.transferRanges('send', f, r, layer, blocks[owner]!, deps, next, { kvHeads: shards[j]!.kv_heads });
          }
        }
      }
      for (let k = 0; k < g; k++) {
        for (const j of positions) {
          const r = rank(k, j);
          attn[r]!.push(builder.compute(r, 'attn', layer, ringStepShape(chunks, tokens, k, s, g, late, shapes[j]!), [s === 0 ? qkv[r]! : received[r]![s]!]));
        }
      }
    }
    const next: number[][] = Array.from({ length: p }, () => []);
    for (let k = 0; k < g; k++) {
      const ranks = positions.map((j) => rank(k, j));
      const shape = (j: number) => ({ tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true, shard: shapes[j]! });
      const reduce = (deps: number[]): number[] =>
        reduceBlocks[k]!.map((rows) => builder.collective('allreduce', algorithm, layer, ranks, rows, 'together', deps)).filter((id) => id >= 0);
      const o = positions.map((j) => builder.compute(rank(k, j), 'o', layer, shape(j), [attn[rank(k, j)]![g - 1]!]));
      const afterO = model.block === 'sequential' ? reduce(o) : [];
      const mlp = positions.map((j) => builder.compute(rank(k, j), 'mlp', layer, shape(j), [o[j]!, ...afterO]));
      const afterMlp = reduce(mlp);
      positions.forEach((j) => (next[rank(k, j)] = [mlp[j]!, ...afterMlp]));
    }
    before = next;
  }
  builder.compute(0, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, before[0]!);
  const perRank = Array.from({ length: p }, (_, r) => tokens[Math.floor(r / t)]!);
  return builder.build({ strategy: 'ring-kv', context, partition: perRank, kvTokens: [...perRank], lastRank: 0, tp: t, collective: algorithm });
}
