import type { ModelSpec } from '../../model/model-spec.js';
import { kvBytesPerToken } from '../../model/model-size.js';
import { prefixes } from '../partition.js';
import type { Plan } from '../plan.js';
import { builtOpTable } from '../table-plan.js';
import { OP_COMPUTE, OP_TRANSFER, reshapeComputeOp, shapeScratch } from '../op-table.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';

/**
 * KV-Runahead (DESIGN §2): rank i owns the contiguous chunk c_i after prefix P_i. Per layer on
 * rank i: qkv -> (i > 0: wait for K,V of tokens [0, P_i) from rank i-1) -> causal attn -> o -> mlp.
 * Rank i < p-1 sends K,V of tokens [0, P_i + c_i) of each layer to rank i+1 once its qkv and (i > 0)
 * its receive of that layer are done. The last rank computes the logits. `single` is the one-rank
 * case: c_0 = C, P_0 = 0, nothing to send. kvr-e, kvr-s and kvr-p differ only in the partition.
 */
export function kvrPlan(model: ModelSpec, partition: number[], strategy: 'kvr' | 'kvr-e' | 'kvr-s' | 'kvr-p' | 'single', setup: BuilderSetup = {}): Plan {
  const builder = new PlanBuilder(model, setup);
  const p = partition.length;
  const prefix = prefixes(partition);
  const previousMlp: (number | undefined)[] = new Array(p).fill(undefined);
  for (let layer = 0; layer < model.layers; layer++) {
    let incoming: number | undefined; // the send from rank i-1 of this layer
    for (let rank = 0; rank < p; rank++) {
      const c = partition[rank]!;
      const P = prefix[rank]!;
      const shape = { tokens: c, prefix: P, keys: P + c, causal: true };
      const before = previousMlp[rank];
      const qkv = builder.compute(rank, 'qkv', layer, shape, before === undefined ? [] : [before]);
      const received = incoming === undefined ? [] : [incoming];
      incoming = rank + 1 < p ? builder.transfer('send', rank, rank + 1, layer, 0, P + c, [qkv, ...received]) : undefined;
      const attn = builder.compute(rank, 'attn', layer, shape, [qkv, ...received]);
      const o = builder.compute(rank, 'o', layer, shape, [attn]);
      previousMlp[rank] = builder.compute(rank, 'mlp', layer, shape, [o]);
    }
  }
  const last = p - 1;
  const context = prefix[last]! + partition[last]!;
  builder.compute(last, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, [
    previousMlp[last]!,
  ]);
  return builder.build({
    strategy,
    context,
    partition,
    kvTokens: partition.map((c, rank) => prefix[rank]! + c),
    lastRank: last,
  });
}

/**
 * Rewrites a KV-Runahead plan in place for another partition of the same context over the same
 * ranks: op shapes, FLOPs and transfer sizes change, the op graph does not. Lets a partition
 * search compile the graph once.
 */
export function reshapeKvrPlan(plan: Plan, partition: readonly number[]): void {
  const prefix = prefixes(partition);
  const kvBytes = kvBytesPerToken(plan.model);
  const table = builtOpTable(plan);
  const scratch = shapeScratch();
  for (let i = 0; i < table.count; i++) {
    const r = table.rank[i]!;
    if (table.kind[i] === OP_TRANSFER) {
      const end = prefix[r]! + partition[r]!;
      table.reshapeTransfer(i, table.tokens[i]!, end, end * kvBytes);
    } else if (table.kind[i] === OP_COMPUTE && table.computeName(i) !== 'lm_head') {
      reshapeComputeOp(table, i, plan.model, partition[r]!, prefix[r]!, scratch);
    }
  }
  plan.partition = [...partition];
  plan.kv_tokens = partition.map((c, rank) => prefix[rank]! + c);
}
