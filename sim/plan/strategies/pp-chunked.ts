import type { ModelSpec } from '../../model/model-spec.js';
import type { OpShard } from '../../work/compute-op.js';
import { evenPartition, prefixes } from '../partition.js';
import type { CollectiveAlgorithm, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { rowBlocks } from './kvr-tp.js';

/** The default prompt chunk of pp-chunked (SGLang's default chunked-prefill size is 8192 tokens). */
export const DEFAULT_PP_CHUNK = 8192;

/** Chunks of `chunk` tokens covering the context, the last one shorter when it does not divide. */
export function promptChunks(context: number, chunk: number): number[] {
  const chunks: number[] = [];
  for (let start = 0; start < context; start += chunk) chunks.push(Math.min(chunk, context - start));
  return chunks;
}

/** Layers of each of `pp` stages: even, the first (layers mod pp) stages one more. */
export function stageLayers(layers: number, pp: number): number[] {
  return evenPartition(layers, pp);
}

/**
 * Chunked pipeline-parallel prefill: sequence pipeline parallelism as in Mnemosyne/Medha
 * (Agrawal et al., arXiv 2409.17264) and SGLang's chunked pipeline parallelism. The layers are split
 * into `pp` stages (stageLayers), each a group of t GPUs running Megatron tensor parallelism (t = 1:
 * one GPU a stage); ranks s*t .. s*t+t-1 are stage s. The prompt is cut into chunks of `chunk`
 * tokens that flow through the stages in order: stage s runs chunk m's layers (qkv, causal
 * attention over the K,V of chunks 0..m, which the stage cached when it ran them, o, mlp; under tp
 * the o and mlp partial sums are all-reduced over the chunk's rows) and sends the chunk's hidden
 * rows to stage s+1 while it starts chunk m+1. Under tp, rank (s, j) sends its 1/t slice of the
 * rows to rank (s+1, j) and stage s+1 all-gathers them (Megatron's scatter-gather of pipeline
 * sends). Stages overlap across chunks: after the pipeline fills, every stage works at once.
 *
 * Every causal (query, key) pair once: attention FLOPs over the chunks sum to single's
 * (sum c_m (2 P_m + c_m + 1) = C (C + 1)); qkv, o and mlp are linear in the tokens. A stage holds
 * the weights of its layers and the K,V of all C tokens for them. The last chunk's logits are
 * computed on the last rank.
 */
export function ppChunkedPlan(model: ModelSpec, context: number, pp: number, chunk: number, t = 1, algorithm: CollectiveAlgorithm | 'auto' = 'ring', setup: BuilderSetup = {}): Plan {
  const builder = new PlanBuilder(model, setup);
  const p = pp * t;
  const layers = stageLayers(model.layers, pp);
  const firstLayer = prefixes(layers);
  const chunks = promptChunks(context, chunk);
  const starts = prefixes(chunks);
  const shards = tensorShards(model, t);
  const positions = shards.map((_, j) => j);
  const rank = (s: number, j: number): number => s * t + j;
  const shapes: (OpShard | undefined)[] = positions.map((j) => (t > 1 ? opShard(shards[j]!) : undefined));
  // What each rank's next op waits for (beyond its own stream order): the chunk's arrival, then its own layers.
  let last: number[][] = [];
  for (let m = 0; m < chunks.length; m++) {
    const c = chunks[m]!;
    const P = starts[m]!;
    const blocks = rowBlocks(c, P, t);
    let arrived: number[][] = Array.from({ length: t }, () => []);
    for (let s = 0; s < pp; s++) {
      const ranks = positions.map((j) => rank(s, j));
      if (s > 0) {
        // The previous stage's slices, all-gathered inside this stage (t > 1).
        const gathered = builder.collective('allgather', algorithm, firstLayer[s]!, ranks, blocks, 'together', arrived.flat());
        arrived = positions.map((j) => (gathered >= 0 ? [...arrived[j]!, gathered] : arrived[j]!));
      }
      let before = arrived;
      for (let layer = firstLayer[s]!; layer < firstLayer[s]! + layers[s]!; layer++) {
        const shape = (j: number) => ({ tokens: c, prefix: P, keys: P + c, causal: true, ...(shapes[j] === undefined ? {} : { shard: shapes[j]! }) });
        const reduce = (deps: number[]): number[] => {
          const id = builder.collective('allreduce', algorithm, layer, ranks, blocks, 'together', deps);
          return id >= 0 ? [id] : [];
        };
        const o = positions.map((j) => {
          const qkv = builder.compute(rank(s, j), 'qkv', layer, shape(j), before[j]!);
          const attn = builder.compute(rank(s, j), 'attn', layer, shape(j), [qkv]);
          return builder.compute(rank(s, j), 'o', layer, shape(j), [attn]);
        });
        const afterO = model.block === 'sequential' ? reduce(o) : [];
        const mlp = positions.map((j) => builder.compute(rank(s, j), 'mlp', layer, shape(j), [o[j]!, ...afterO]));
        const afterMlp = reduce(mlp);
        before = positions.map((j) => [mlp[j]!, ...afterMlp]);
      }
      if (s + 1 < pp) {
        const lastLayer = firstLayer[s]! + layers[s]! - 1;
        arrived = positions.map((j) => {
          const [a, b] = t > 1 ? blocks[j]! : [P, P + c];
          return [builder.transfer('send', rank(s, j), rank(s + 1, j), lastLayer, a, b, before[j]!, undefined, { payload: 'hidden' })];
        });
      } else {
        last = before;
      }
    }
  }
  builder.compute(p - 1, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, last[t - 1]!);
  return builder.build({
    strategy: 'pp-chunked',
    context,
    partition: Array.from({ length: p }, () => context),
    kvTokens: Array.from({ length: p }, () => context),
    lastRank: p - 1,
    ...(t > 1 ? { tp: t, collective: algorithm } : {}),
    pp,
    chunk,
  });
}
