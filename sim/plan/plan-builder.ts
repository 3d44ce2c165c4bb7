import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken } from '../model/model-size.js';
import { computeOpFlops, type ComputeOpName } from '../work/compute-op.js';
import { PLAN_SCHEMA, type Plan, type PlanOp, type StrategyName, type TransferOp } from './plan.js';

/** Appends ops with sequential ids and their FLOPs or bytes; strategies only say what depends on what. */
export class PlanBuilder {
  readonly ops: PlanOp[] = [];
  private readonly model: ModelSpec;
  private readonly kvBytes: number;

  constructor(model: ModelSpec) {
    this.model = model;
    this.kvBytes = kvBytesPerToken(model);
  }

  compute(
    rank: number,
    name: ComputeOpName,
    layer: number | null,
    shape: { tokens: number; prefix: number; keys: number; causal: boolean },
    deps: number[],
  ): number {
    const id = this.ops.length;
    const { tokens, prefix, keys, causal } = shape;
    const flops = computeOpFlops(this.model, { name, tokens, prefix, keys, causal });
    this.ops.push({ id, kind: 'compute', name, rank, layer, tokens, prefix, keys, causal, flops, deps });
    return id;
  }

  /** Transfers the K,V of tokens [tokenStart, tokenEnd) of `layer` from `src` to `dst`. */
  transfer(
    name: TransferOp['name'],
    src: number,
    dst: number,
    layer: number,
    tokenStart: number,
    tokenEnd: number,
    deps: number[],
    step?: number,
  ): number {
    const id = this.ops.length;
    const bytes = (tokenEnd - tokenStart) * this.kvBytes;
    const op: TransferOp = { id, kind: 'transfer', name, src, dst, layer, token_start: tokenStart, token_end: tokenEnd, bytes, deps };
    if (step !== undefined) op.step = step;
    this.ops.push(op);
    return id;
  }

  build(fields: {
    strategy: StrategyName;
    context: number;
    partition: number[];
    kvTokens: number[];
    lastRank: number;
  }): Plan {
    return {
      schema: PLAN_SCHEMA,
      strategy: fields.strategy,
      model: this.model,
      context: fields.context,
      gpus: fields.partition.length,
      partition: fields.partition,
      kv_tokens: fields.kvTokens,
      last_rank: fields.lastRank,
      ops: this.ops,
    };
  }
}
