import type { GpuSpec } from '../hardware/gpu-spec.js';
import { opDurations, opSeconds } from '../hardware/op-durations.js';
import type { Plan } from '../plan/plan.js';
import { COMPUTE_OP_NAMES, type ComputeOpName } from '../work/compute-op.js';
import type { AttentionImplementation } from '../work/op-kernels.js';

const NAME_INDEX: Record<ComputeOpName, number> = { qkv: 0, attn: 1, o: 2, mlp: 3, lm_head: 4 };

interface Slots {
  tokens: Float64Array;
  prefix: Float64Array;
  seconds: Float64Array;
}

function newSlots(count: number): Slots {
  return { tokens: new Float64Array(count).fill(-1), prefix: new Float64Array(count), seconds: new Float64Array(count) };
}

/**
 * opDurations for a partition search, remembering each op shape's seconds across partitions.
 * A search's partitions differ in a few chunks, so most (op, chunk, prefix) shapes recur from one
 * simulation to the next; costing them again (GEMM and attention shape models) was about half of
 * a simulation. Each seconds is opSeconds of the same op, the function opDurations calls (with no
 * ledger), so the durations are opDurations' bit for bit.
 * Only plain causal shapes (no tensor shard, MoE work or merge; keys = prefix + tokens) are keyed
 * by (name, tokens, prefix); a plan with any other compute op goes to opDurations whole.
 */
export class OpSecondsMemo {
  private readonly seconds = new Map<number, number>();
  /**
   * Per plan (a search's templates are reshaped, never rebuilt): undefined when its shapes are
   * not keyable, else the last shape and seconds of each (rank, op name) slot, as opDurations
   * keeps them within one plan; here they carry over to the next partition, whose chunks mostly
   * are the same, so most ops cost a comparison.
   */
  private readonly slotsOf = new WeakMap<Plan, Slots | undefined>();
  private readonly gpu: GpuSpec;
  private readonly attention: AttentionImplementation | undefined;
  /** Keys stay exact integers below 2^53 for contexts up to this many tokens. */
  private static readonly MAX_CONTEXT = 2 ** 24;

  constructor(gpu: GpuSpec, attention: AttentionImplementation | undefined) {
    this.gpu = gpu;
    this.attention = attention;
  }

  /** Seconds of every op of `plan` (transfers 0), as opDurations(plan, gpu, attention). */
  durations(plan: Plan): Float64Array {
    if (!this.slotsOf.has(plan)) this.slotsOf.set(plan, OpSecondsMemo.keyable(plan) ? newSlots(plan.gpus * COMPUTE_OP_NAMES.length) : undefined);
    const slots = this.slotsOf.get(plan);
    if (slots === undefined) return opDurations(plan, this.gpu, this.attention);
    const durations = new Float64Array(plan.ops.length);
    const base = OpSecondsMemo.MAX_CONTEXT + 1;
    const names = COMPUTE_OP_NAMES.length;
    for (const op of plan.ops) {
      if (op.kind !== 'compute') continue;
      const name = NAME_INDEX[op.name];
      const slot = op.rank * names + name;
      if (slots.tokens[slot] !== op.tokens || slots.prefix[slot] !== op.prefix) {
        const key = (op.tokens * base + op.prefix) * names + name;
        let seconds = this.seconds.get(key);
        if (seconds === undefined) {
          seconds = opSeconds(plan.model, op, this.gpu, this.attention);
          this.seconds.set(key, seconds);
        }
        slots.tokens[slot] = op.tokens;
        slots.prefix[slot] = op.prefix;
        slots.seconds[slot] = seconds;
      }
      durations[op.id] = slots.seconds[slot]!;
    }
    return durations;
  }

  /**
   * Whether every compute op of the plan is a plain causal shape that (name, tokens, prefix)
   * fixes. Reshaping a plan for another partition keeps this (it rewrites tokens, prefix and
   * keys = prefix + tokens only).
   */
  private static keyable(plan: Plan): boolean {
    if (plan.context > OpSecondsMemo.MAX_CONTEXT) return false;
    for (const op of plan.ops) {
      if (op.kind !== 'compute') continue;
      if (op.shard !== undefined || op.moe !== undefined || op.merge === true || !op.causal || op.keys !== op.prefix + op.tokens) return false;
    }
    return true;
  }
}
