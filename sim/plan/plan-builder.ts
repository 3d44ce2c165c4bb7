import type { ModelSpec } from '../model/model-spec.js';
import { kvDtypeBytes } from '../model/precision.js';
import { kvBytesPerToken, kvBytesPerTokenOfHeads } from '../model/model-size.js';
import { isMoeLayer, wholeMoeWork, type MoeWork } from '../model/moe.js';
import type { ComputeOpName, OpShard } from '../work/compute-op.js';
import { collectiveSchedule, scheduleTokens } from './collectives.js';
import { OpTable, scratchFlops, shapeScratch } from './op-table.js';
import { tuneCollective, type CollectiveFabric, type CollectiveRequestOptions } from './collective-tuner.js';
import { PLAN_SCHEMA, type CollectiveAlgorithm, type CollectiveProtocol, type CollectiveName, type CollectiveOp, type CollectiveStart, type Plan, type StrategyName, type TransferOp } from './plan.js';
import { planOfTable } from './table-plan.js';

/** What a transfer carries besides its token range: K,V (of some KV heads) or hidden-state rows. */
export interface TransferPayload {
  payload?: 'hidden' | 'query' | 'attn-out';
  /** K,V of this many KV heads (a tensor-parallel shard). */
  kvHeads?: number;
  /** query, attn-out: of this many query heads (a tensor-parallel shard); absent: all heads. */
  heads?: number;
}

/**
 * How a plan is built: how its collectives are chosen (the fabric the tuner sees, and what the
 * caller forces), and how many ops to make room for up front (buildPlan knows the count exactly:
 * planOpCounts), so the op table's columns are never regrown and copied.
 */
export interface BuilderSetup {
  fabric?: CollectiveFabric;
  options?: CollectiveRequestOptions;
  expectedOps?: number;
}

/** Appends ops with sequential ids and their FLOPs or bytes; strategies only say what depends on what. */
export class PlanBuilder {
  /** The ops so far, as columns (sim/plan/op-table.ts): no object per op. */
  readonly table: OpTable;
  /** One shape object reused to cost every compute op's FLOPs. */
  private readonly scratch = shapeScratch();
  private readonly model: ModelSpec;
  private readonly kvBytes: number;

  /** How collectives are chosen: the fabric the tuner sees and what the caller forces. */
  private readonly fabric: CollectiveFabric | undefined;
  private readonly tuning: CollectiveRequestOptions;

  constructor(model: ModelSpec, collectives: BuilderSetup = {}) {
    this.model = model;
    this.kvBytes = kvBytesPerToken(model);
    this.fabric = collectives.fabric;
    this.tuning = collectives.options ?? {};
    this.table = new OpTable(collectives.expectedOps ?? 0);
  }

  /**
   * Algorithm, protocol, channels and nodes of a collective over `ranks` moving `bytes` of data
   * (the tuner, sim/plan/collective-tuner.ts). Without a fabric (a plan built for no topology) a
   * forced algorithm runs as before: one ring or direct, no protocol; auto is then a ring.
   */
  tune(name: CollectiveName, algorithm: CollectiveAlgorithm | 'auto', ranks: readonly number[], bytes: number): { algorithm: CollectiveAlgorithm; channels: number; node_size: number; protocol?: CollectiveProtocol } {
    if (this.fabric === undefined) return { algorithm: algorithm === 'auto' ? 'ring' : algorithm, channels: 1, node_size: ranks.length };
    const t = tuneCollective(name, bytes, ranks.length, ranks[0] ?? 0, this.fabric, { ...this.tuning, algorithm });
    // A forced algorithm runs as it always has (link latencies, no protocol) unless a protocol is
    // forced too; auto runs the tuner's protocol.
    const protocol = algorithm === 'auto' || this.tuning.protocol !== undefined ? t.protocol : undefined;
    return { algorithm: t.algorithm, channels: t.channels, node_size: t.node_size, ...(protocol === undefined ? {} : { protocol }) };
  }

  compute(
    rank: number,
    name: ComputeOpName,
    layer: number | null,
    shape: { tokens: number; prefix: number; keys: number; causal: boolean; shard?: OpShard; merge?: boolean; moe?: MoeWork },
    deps: readonly number[],
  ): number {
    const { tokens, prefix, keys, causal, shard, merge } = shape;
    // The mlp of a MoE layer is the whole MoE FFN of its tokens unless the strategy splits it (--ep).
    const moe = shape.moe !== undefined ? { ...shape.moe } : name === 'mlp' && this.model.moe !== undefined && isMoeLayer(this.model, layer) ? wholeMoeWork(this.model, tokens) : undefined;
    const flops = scratchFlops(this.scratch, this.model, name, tokens, prefix, keys, causal, shard, merge, moe);
    return this.table.addCompute(rank, name, layer, tokens, prefix, keys, causal, flops, deps, shard, merge, moe);
  }

  /**
   * Transfers tokens [tokenStart, tokenEnd) of `layer` from `src` to `dst`: their K,V (all KV heads,
   * or `payload.kvHeads` of them) or, with `payload.payload = 'hidden'`, their rows of the hidden state.
   */
  transfer(
    name: TransferOp['name'],
    src: number,
    dst: number,
    layer: number,
    tokenStart: number,
    tokenEnd: number,
    deps: readonly number[],
    step?: number,
    payload: TransferPayload = {},
  ): number {
    const bytes = (tokenEnd - tokenStart) * this.bytesPerToken(payload);
    const id = this.table.addTransfer(name, src, dst, layer, tokenStart, tokenEnd, bytes, deps);
    if (step !== undefined) this.table.setStep(id, step);
    this.table.setPayload(id, payload.payload, payload.kvHeads, payload.heads);
    return id;
  }

  /**
   * Transfers the K,V of several token ranges of `layer` (in token order) as one message. The op
   * keeps `ranges` as given: pass arrays no one else mutates.
   */
  transferRanges(name: TransferOp['name'], src: number, dst: number, layer: number, ranges: [number, number][], deps: readonly number[], step?: number, payload?: TransferPayload): number {
    let tokens = 0;
    for (let k = 0; k < ranges.length; k++) tokens += ranges[k]![1] - ranges[k]![0];
    const bytes = tokens * (payload === undefined ? this.kvBytes : this.bytesPerToken(payload));
    const id = this.table.addTransfer(name, src, dst, layer, ranges[0]![0], ranges[ranges.length - 1]![1], bytes, deps);
    if (step !== undefined) this.table.setStep(id, step);
    this.table.setRanges(id, ranges);
    if (payload !== undefined) this.table.setPayload(id, payload.payload, payload.kvHeads, payload.heads);
    return id;
  }

  /**
   * One collective op over `ranks` on blocks of hidden-state rows (sim/plan/collectives.ts). A
   * single member has nothing to exchange: no op, and -1 is returned (leave it out of deps).
   */
  collective(
    name: CollectiveName,
    choice: CollectiveAlgorithm | 'auto',
    layer: number,
    ranks: readonly number[],
    blocks: readonly (readonly [number, number])[],
    start: CollectiveStart,
    deps: number[],
  ): number {
    if (ranks.length < 2) return -1;
    const id = this.table.count;
    const perToken = this.model.hidden * this.model.dtype_bytes;
    const data = (blocks[blocks.length - 1]![1] - blocks[0]![0]) * perToken;
    const tuned = this.tune(name, choice, ranks, data);
    const algorithm = tuned.algorithm;
    const schedule = collectiveSchedule(name, algorithm, ranks.length, start, tuned);
    const tokens = scheduleTokens(schedule, blocks);
    let bytes = 0;
    for (let k = 0; k < schedule.count; k++) bytes += tokens[k]! * perToken;
    const op: CollectiveOp = {
      id,
      kind: 'collective',
      name,
      algorithm,
      layer,
      ranks: [...ranks],
      blocks: blocks.map(([a, b]) => [a, b]),
      bytes_per_token: perToken,
      bytes,
      start,
      deps: deps.filter((dep) => dep >= 0),
    };
    if (schedule.count > 0 && tuned.channels > 1 && (algorithm === 'ring' || algorithm === 'tree')) op.channels = tuned.channels;
    if (tuned.node_size !== ranks.length) op.node_size = tuned.node_size;
    if (tuned.protocol !== undefined) op.protocol = tuned.protocol;
    return this.table.addCollective(op);
  }

  /** Bytes per token of a transfer's payload. */
  bytesPerToken(payload: TransferPayload): number {
    const m = this.model;
    if (payload.payload === 'hidden') return m.hidden * m.dtype_bytes;
    const heads = payload.heads ?? m.heads;
    if (payload.payload === 'query') return heads * m.head_dim * m.dtype_bytes;
    // A partial output row per head and its log-sum-exp in fp32.
    if (payload.payload === 'attn-out') return heads * (m.head_dim * m.dtype_bytes + 4);
    if (payload.kvHeads !== undefined) return kvBytesPerTokenOfHeads(m, payload.kvHeads);
    return this.kvBytes;
  }

  build(fields: {
    strategy: StrategyName;
    context: number;
    partition: number[];
    kvTokens: number[];
    lastRank: number;
    tp?: number;
    ep?: number;
    expertImbalance?: number;
    collective?: CollectiveAlgorithm | 'auto';
    channels?: number;
    pp?: number;
    chunk?: number;
  }): Plan {
    const fieldsOfPlan: Omit<Plan, 'ops'> = {
      schema: PLAN_SCHEMA,
      strategy: fields.strategy,
      model: this.model,
      context: fields.context,
      gpus: fields.partition.length,
      partition: fields.partition,
      kv_tokens: fields.kvTokens,
      last_rank: fields.lastRank,
    };
    if (fields.tp !== undefined) fieldsOfPlan.tp = fields.tp;
    if (fields.ep !== undefined) fieldsOfPlan.ep = fields.ep;
    if (fields.expertImbalance !== undefined && fields.expertImbalance !== 1) fieldsOfPlan.expert_imbalance = fields.expertImbalance;
    if (fields.channels !== undefined) fieldsOfPlan.channels = fields.channels;
    if (fields.pp !== undefined) fieldsOfPlan.pp = fields.pp;
    if (fields.chunk !== undefined) fieldsOfPlan.chunk = fields.chunk;
    if (fields.collective !== undefined && fields.collective !== 'ring') fieldsOfPlan.collective = fields.collective;
    this.table.trim();
    const plan = planOfTable(fieldsOfPlan, this.table);
    return plan;
  }
}
