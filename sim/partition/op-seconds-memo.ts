import type { GpuSpec } from '../hardware/gpu-spec.js';
import { opDurations, opSeconds } from '../hardware/op-durations.js';
import type { Plan } from '../plan/plan.js';
import { planTable } from '../plan/table-plan.js';
import { OP_COMPUTE, computeShape } from '../plan/op-table.js';
import { COMPUTE_OP_NAMES } from '../work/compute-op.js';
import type { AttentionImplementation } from '../work/op-kernels.js';

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
    const table = planTable(plan);
    const durations = new Float64Array(table.count);
    const base = OpSecondsMemo.MAX_CONTEXT + 1;
    const names = COMPUTE_OP_NAMES.length;
    for (let id = 0; id < table.count; id++) {
      if (table.kind[id] !== OP_COMPUTE) continue;
      // The name column of a compute op is its COMPUTE_OP_NAMES index.
      const name = table.name[id]!;
      const slot = table.rank[id]! * names + name;
      const tokens = table.tokens[id]!;
      const prefix = table.prefix[id]!;
      if (slots.tokens[slot] !== tokens || slots.prefix[slot] !== prefix) {
        const key = (tokens * base + prefix) * names + name;
        let seconds = this.seconds.get(key);
        if (seconds === undefined) {
          seconds = opSeconds(plan.model, computeShape(table, id), this.gpu, this.attention);
          this.seconds.set(key, seconds);
        }
        slots.tokens[slot] = tokens;
        slots.prefix[slot] = prefix;
        slots.seconds[slot] = seconds;
      }
      durations[id] = slots.seconds[slot]!;
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
    const table = planTable(plan);
    for (let id = 0; id < table.count; id++) {
      if (table.kind[id] !== OP_COMPUTE) continue;
      if (table.shard[id] !== -1 || table.moe.has(id) || table.isMerge(id) || !table.isCausal(id) || table.keys[id] !== table.prefix[id]! + table.tokens[id]!) return false;
    }
    return true;
  }
}
