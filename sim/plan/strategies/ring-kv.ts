import type { ModelSpec } from '../../model/model-spec.js';
import { evenPartition, prefixes } from '../partition.js';
import type { Plan } from '../plan.js';
import { PlanBuilder } from '../plan-builder.js';

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
 */
export function ringKvPlan(model: ModelSpec, context: number, p: number): Plan {
  const builder = new PlanBuilder(model);
  const chunks = evenPartition(context, 2 * p);
  const starts = prefixes(chunks);
  const late = (i: number): number => 2 * p - 1 - i;
  const tokens = Array.from({ length: p }, (_, i) => chunks[i]! + chunks[late(i)]!);
  // Token ranges of rank j's block; one array per rank, shared by every transfer of that block
  // (plans are read, never mutated, and a 128k plan has ~10^5 such transfers).
  const blocks = Array.from({ length: p }, (_, j): [number, number][] => [
    [starts[j]!, starts[j]! + chunks[j]!],
    [starts[late(j)]!, starts[late(j)]! + chunks[late(j)]!],
  ]);
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
        const j = (i - s + p) % p;
        let id: number;
        if (s === 0) {
          id = builder.compute(i, 'attn', layer, { tokens: tokens[i]!, prefix: 0, keys: tokens[i]!, causal: true }, [qkv[i]!]);
        } else if (j < i) {
          id = builder.compute(i, 'attn', layer, { tokens: tokens[i]!, prefix: 0, keys: chunks[j]!, causal: false, merge: true }, [received[i]![s]!]);
        } else {
          const keys = chunks[j]! + chunks[late(j)]!;
          id = builder.compute(i, 'attn', layer, { tokens: chunks[late(i)]!, prefix: 0, keys, causal: false, merge: true }, [received[i]![s]!]);
        }
        attn[i]!.push(id);
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
