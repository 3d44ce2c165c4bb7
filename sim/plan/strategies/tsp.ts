import type { ModelSpec } from '../../model/model-spec.js';
import { allGather } from '../collectives.js';
import { prefixes } from '../partition.js';
import type { CollectiveAlgorithm, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';

/**
 * The Tensor/Sequence-parallel baseline (DESIGN §2): every rank holds an even chunk of queries and
 * a replica of the weights. Per layer: qkv on every rank; once all ranks finished qkv, a ring
 * all-gather of every rank's K,V (p-1 steps; in step s rank r forwards the block of rank r-s to
 * rank r+1); attn over all C keys (dense-masked for tsp, causal-aware for tsp-causal); o; mlp.
 * With the `direct` algorithm every rank instead sends its block to every other rank at once
 * (sim/plan/collectives.ts).
 */
export function tspPlan(model: ModelSpec, partition: number[], strategy: 'tsp' | 'tsp-causal', algorithm: CollectiveAlgorithm | 'auto' = 'ring', setup: BuilderSetup = {}): Plan {
  const { builder, tuned, shapes, header } = tspLayout(model, partition, strategy, algorithm, setup);
  const p = partition.length;
  const prefix = prefixes(partition);
  const previousMlp: (number | undefined)[] = new Array(p).fill(undefined);
  for (let layer = 0; layer < model.layers; layer++) {
    const qkv = shapes.map((shape, rank) => {
      const before = previousMlp[rank];
      return builder.compute(rank, 'qkv', layer, shape, before === undefined ? [] : [before]);
    });
    // incoming[r]: the transfers that delivered blocks to rank r in this layer.
    const incoming = allGather({
      builder,
      ranks: partition.map((_, rank) => rank),
      blocks: partition.map((c, rank) => [prefix[rank]!, prefix[rank]! + c] as const),
      layer,
      ready: () => qkv,
      algorithm: tuned.algorithm,
      shape: tuned,
      ...(tuned.protocol === undefined ? {} : { protocol: tuned.protocol }),
    });
    shapes.forEach((shape, rank) => {
      const attn = builder.compute(rank, 'attn', layer, shape, [qkv[rank]!, ...incoming[rank]!]);
      const o = builder.compute(rank, 'o', layer, shape, [attn]);
      previousMlp[rank] = builder.compute(rank, 'mlp', layer, shape, [o]);
    });
  }
  const last = p - 1;
  builder.compute(last, 'lm_head', null, { tokens: 1, prefix: header.context - 1, keys: header.context, causal: true }, [
    previousMlp[last]!,
  ]);
  return builder.build(header);
}

/**
 * What tspPlan decides before its layers: the all-gather's tuning, every rank's op shape and the
 * plan's fields (tsp-recurrence.ts times the same plan without building it).
 */
export function tspLayout(model: ModelSpec, partition: number[], strategy: 'tsp' | 'tsp-causal', algorithm: CollectiveAlgorithm | 'auto', setup: BuilderSetup) {
  const builder = new PlanBuilder(model, setup);
  const everyRank = partition.map((_, rank) => rank);
  const tuned = builder.tune('allgather', algorithm, everyRank, partition.reduce((a, b) => a + b, 0) * builder.bytesPerToken({}));
  const p = partition.length;
  const prefix = prefixes(partition);
  const context = prefix[p - 1]! + partition[p - 1]!;
  const causal = strategy === 'tsp-causal';
  const shapes = partition.map((c, rank) => {
    const P = prefix[rank]!;
    return { tokens: c, prefix: P, keys: causal ? P + c : context, causal };
  });
  const header = {
    strategy,
    context,
    partition,
    kvTokens: partition.map(() => context),
    lastRank: p - 1,
    collective: algorithm,
    ...(tuned.channels > 1 ? { channels: tuned.channels } : {}),
  };
  return { builder, tuned, shapes, header };
}
