import type { ModelSpec } from '../model/model-spec.js';
import { computeOpFlops, type ComputeShape } from '../work/compute-op.js';
import type { AttentionImplementation } from '../work/op-kernels.js';
import type { GpuSpec } from './gpu-spec.js';
import { opSeconds } from './op-durations.js';
import { emptyLedger, shapeOpSeconds, type ShapeCostLedger } from './shape-durations.js';

/** A compute shape's cost: what opDurations gives an op of that shape, its FLOPs and its band shares. */
export interface PricedShape {
  seconds: number;
  flops: number;
  /** Shape-model GPUs: seconds x class error, and seconds of memory-bound kernels (ShapeCostLedger). */
  error: number;
  memory: number;
}

/**
 * Prices compute shapes once each, for costing many ops of few shapes without an op object each
 * (the layer recurrences: ring-kv on 1024 GPUs has a million attention steps a layer, of three
 * shapes). Same seconds as opDurations (opSeconds takes its route), same FLOPs as the plan builder.
 * Dense shapes only (a tensor-parallel shard of heads and FFN columns, but no MoE work or sequence shard).
 */
export class ComputePricer {
  /** Extrapolation notes of every shape priced (a shape-model GPU's). */
  readonly notes: ShapeCostLedger['notes'] = new Set();
  /** By name, causal, merge and shard; then tokens; then prefix x 2^26 + keys (exact below 2^26 tokens each). */
  private readonly byKind = new Map<string, Map<number, Map<number, PricedShape>>>();

  constructor(
    private readonly model: ModelSpec,
    private readonly gpu: GpuSpec,
    private readonly attention: AttentionImplementation,
  ) {}

  price(shape: ComputeShape): PricedShape {
    const { name, tokens, prefix, keys, causal, shard } = shape;
    const merge = shape.merge === true;
    if (shape.moe !== undefined || shard?.expert_ffn !== undefined || shard?.seq_tokens !== undefined) throw new Error('ComputePricer prices dense shapes (no MoE work or sequence shard)');
    const kind = `${name}/${causal ? 1 : 0}/${merge ? 1 : 0}/${shard === undefined ? '' : `${shard.heads}/${shard.kv_heads}/${shard.ffn}`}`;
    let byTokens = this.byKind.get(kind);
    if (byTokens === undefined) {
      byTokens = new Map();
      this.byKind.set(kind, byTokens);
    }
    let byRest = byTokens.get(tokens);
    if (byRest === undefined) {
      byRest = new Map();
      byTokens.set(tokens, byRest);
    }
    // Beyond 2^26 tokens the key would not be exact: price every time.
    const key = prefix < 2 ** 26 && keys < 2 ** 26 ? prefix * 2 ** 26 + keys : undefined;
    let priced = key === undefined ? undefined : byRest.get(key);
    if (priced === undefined) {
      const op: ComputeShape = { name, tokens, prefix, keys, causal, ...(merge ? { merge } : {}), ...(shard === undefined ? {} : { shard: { heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn } }) };
      if (this.gpu.shape !== undefined) {
        const own = { ...emptyLedger(), notes: this.notes };
        priced = { seconds: shapeOpSeconds(this.model, op, this.gpu.shape, this.attention, own), flops: computeOpFlops(this.model, op), error: own.error_seconds, memory: own.memory_seconds };
      } else {
        priced = { seconds: opSeconds(this.model, op, this.gpu, this.attention), flops: computeOpFlops(this.model, op), error: 0, memory: 0 };
      }
      if (key !== undefined) byRest.set(key, priced);
    }
    return priced;
  }
}

/** The sum of priced ops (FLOPs, seconds, band shares), added left to right. */
export function sumPriced(ops: readonly PricedShape[]): PricedShape {
  const sum: PricedShape = { seconds: 0, flops: 0, error: 0, memory: 0 };
  for (const op of ops) addPriced(sum, op);
  return sum;
}

/** Adds a priced op into a running sum. */
export function addPriced(sum: PricedShape, op: PricedShape): void {
  sum.flops += op.flops;
  sum.seconds += op.seconds;
  sum.error += op.error;
  sum.memory += op.memory;
}
