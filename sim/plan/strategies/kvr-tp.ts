import type { ModelSpec } from '../../model/model-spec.js';
import { kvBytesPerTokenOfHeads } from '../../model/model-size.js';
import { opSchedule, transferTokens } from '../collectives.js';
import { evenPartition, prefixes } from '../partition.js';
import type { CollectiveAlgorithm, CollectiveOp, Plan } from '../plan.js';
import { builtOpTable } from '../table-plan.js';
import { OP_COLLECTIVE, OP_TRANSFER, reshapeComputeOp, shapeScratch } from '../op-table.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import { opShard, tensorShards } from '../tensor-shard.js';

/**
 * KV-Runahead across g groups of t GPUs with tensor parallelism inside each group (the natural
 * multi-node layout: a group is a node, TP over its NVSwitch, the KV-Runahead chain over the NICs).
 * Ranks k*t .. k*t+t-1 form group k; position j of a group holds TP shard j (sim/plan/tensor-shard.ts).
 * Group k owns the contiguous chunk c_k after prefix P_k (the partition is per group: given, or
 * searched like kvr-s with group-level pipeline stages).
 *
 * Per layer on rank (k, j): qkv of its heads for the group's c_k tokens -> (k > 0: wait for the K,V
 * of tokens [0, P_k) of its KV heads from rank (k-1, j)) -> causal attn over prefix P_k -> o ->
 * all-reduce within the group -> mlp -> all-reduce (one all-reduce per layer for a parallel block;
 * all-reduces as in tp, over the group's c_k rows). Rank (k, j), k < g-1, sends the K,V of tokens
 * [0, P_k + c_k) of its KV heads to rank (k+1, j) once its qkv and its receive are done: t
 * transfers in parallel per hop, each over its own GPU's links (and NIC, on multi-node). The last
 * rank computes the logits. t = 1 is kvr; g = 1 is tp.
 */
export function kvrTpPlan(model: ModelSpec, partition: number[], t: number, algorithm: CollectiveAlgorithm | 'auto', setup: BuilderSetup = {}): Plan {
  const builder = new PlanBuilder(model, setup);
  const g = partition.length;
  const p = g * t;
  const shards = tensorShards(model, t);
  const prefix = prefixes(partition);
  const positions = shards.map((_, j) => j);
  const sequential = model.block === 'sequential';
  const groupBlocks = partition.map((c, k) => rowBlocks(c, prefix[k]!, t));
  let before: number[][] = Array.from({ length: p }, () => []);
  for (let layer = 0; layer < model.layers; layer++) {
    let incoming: (number | undefined)[] = positions.map(() => undefined);
    const next: number[][] = Array.from({ length: p }, () => []);
    for (let k = 0; k < g; k++) {
      const c = partition[k]!;
      const P = prefix[k]!;
      const ranks = positions.map((j) => k * t + j);
      const reduce = (deps: number[]): number => builder.collective('allreduce', algorithm, layer, ranks, groupBlocks[k]!, 'together', deps);
      const sent: (number | undefined)[] = positions.map(() => undefined);
      const o = positions.map((j) => {
        const r = k * t + j;
        const shape = { tokens: c, prefix: P, keys: P + c, causal: true, shard: opShard(shards[j]!) };
        const qkv = builder.compute(r, 'qkv', layer, shape, before[r]!);
        const received = incoming[j] === undefined ? [] : [incoming[j]!];
        if (k + 1 < g) {
          sent[j] = builder.transfer('send', r, r + t, layer, 0, P + c, [qkv, ...received], undefined, { kvHeads: shards[j]!.kv_heads });
        }
        const attn = builder.compute(r, 'attn', layer, shape, [qkv, ...received]);
        return builder.compute(r, 'o', layer, shape, [attn]);
      });
      const afterO = sequential ? reduce(o) : -1;
      const mlp = positions.map((j) => {
        const shape = { tokens: c, prefix: P, keys: P + c, causal: true, shard: opShard(shards[j]!) };
        return builder.compute(k * t + j, 'mlp', layer, shape, afterO >= 0 ? [o[j]!, afterO] : [o[j]!]);
      });
      const afterMlp = reduce(mlp);
      positions.forEach((j) => (next[k * t + j] = afterMlp >= 0 ? [mlp[j]!, afterMlp] : [mlp[j]!]));
      incoming = sent;
    }
    before = next;
  }
  const last = p - 1;
  const context = prefix[g - 1]! + partition[g - 1]!;
  builder.compute(last, 'lm_head', null, { tokens: 1, prefix: context - 1, keys: context, causal: true }, before[last]!);
  return builder.build({
    strategy: 'kvr-tp',
    context,
    partition: Array.from({ length: p }, (_, r) => partition[Math.floor(r / t)]!),
    kvTokens: Array.from({ length: p }, (_, r) => prefix[Math.floor(r / t)]! + partition[Math.floor(r / t)]!),
    lastRank: last,
    tp: t,
    collective: algorithm,
  });
}

/** The all-reduce blocks of a group: its chunk's rows [P, P + c) split evenly over t ranks. */
export function rowBlocks(c: number, P: number, t: number): [number, number][] {
  const rows = evenPartition(c, t);
  const start = prefixes(rows);
  return rows.map((n, j) => [P + start[j]!, P + start[j]! + n]);
}

/**
 * Rewrites a kvr-tp plan in place for another group partition of the same context (the op graph
 * does not change; shapes, FLOPs, token ranges and bytes do), so a partition search compiles the
 * graph once.
 */
export function reshapeKvrTpPlan(plan: Plan, partition: readonly number[]): void {
  const t = plan.tp ?? 1;
  const prefix = prefixes(partition);
  const m = plan.model;
  const blocks = partition.map((c, k) => rowBlocks(c, prefix[k]!, t));
  const table = builtOpTable(plan);
  const scratch = shapeScratch();
  for (let i = 0; i < table.count; i++) {
    const k = Math.floor(table.rank[i]! / t);
    if (table.kind[i] === OP_COLLECTIVE) {
      const op = table.collective(i);
      op.blocks = blocks[k]!.map(([a, b]) => [a, b]);
      op.bytes = collectiveBytes(op);
      table.touched(i);
    } else if (table.kind[i] === OP_TRANSFER) {
      const end = prefix[k]! + partition[k]!;
      table.reshapeTransfer(i, table.tokens[i]!, end, end * kvBytesPerTokenOfHeads(m, table.kvHeads[i]!));
    } else if (table.computeName(i) !== 'lm_head') {
      reshapeComputeOp(table, i, m, partition[k]!, prefix[k]!, scratch);
    }
  }
  plan.partition = plan.partition.map((_, r) => partition[Math.floor(r / t)]!);
  plan.kv_tokens = plan.partition.map((c, r) => prefix[Math.floor(r / t)]! + c);
}

/** Bytes of all the transfers of a collective op. */
function collectiveBytes(op: CollectiveOp): number {
  const schedule = opSchedule(op);
  let bytes = 0;
  for (let k = 0; k < schedule.count; k++) bytes += transferTokens(op.blocks, schedule, k) * op.bytes_per_token;
  return bytes;
}
