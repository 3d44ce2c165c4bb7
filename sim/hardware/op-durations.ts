import type { Plan } from '../plan/plan.js';
import { planTable } from '../plan/table-plan.js';
import { OP_COMPUTE, computeShape } from '../plan/op-table.js';
import type { ModelSpec } from '../model/model-spec.js';
import { COMPUTE_OP_NAMES, type ComputeShape } from '../work/compute-op.js';
import { opKernels, type AttentionImplementation } from '../work/op-kernels.js';
import type { GpuSpec } from './gpu-spec.js';
import { kernelsSeconds } from './kernel-cost.js';
import { calibratedOpSeconds } from './calibration.js';
import { emptyLedger, shapeOpSeconds, type ShapeCostLedger } from './shape-durations.js';

/**
 * Seconds of every compute op of a plan on `gpu` (transfers get 0: the network times them): from
 * the GPU's calibrated tables where they cover the model and op, else from the roofline.
 * A rank repeats the same shapes layer after layer, so each (rank, op name) slot remembers the
 * last shape it costed and reuses the time when the next layer's op has the same shape.
 * Tensor-parallel shards and merged partial attentions (shapes no calibration table measured) are
 * costed by the roofline. A GPU with a shape model (a profile of `kvr calibrate --from`) costs
 * every op, shards and merges included, kernel by kernel from shape (shape-durations.ts); `ledger`
 * then collects extrapolation notes and the band's error-weighted seconds over every op costed.
 */
export function opDurations(plan: Plan, gpu: GpuSpec, attention: AttentionImplementation = 'flash', ledger?: ShapeCostLedger): Float64Array {
  const table = planTable(plan);
  const durations = new Float64Array(table.count);
  const slots = plan.gpus * COMPUTE_OP_NAMES.length;
  const lastTokens = new Float64Array(slots).fill(-1);
  const lastPrefix = new Float64Array(slots);
  const lastKeys = new Float64Array(slots);
  const lastCausal = new Uint8Array(slots);
  // Shard (heads, KV heads, FFN columns, sequence rows; -1: none) and merge flag of the last shape.
  const lastHeads = new Float64Array(slots);
  const lastKvHeads = new Float64Array(slots);
  const lastFfn = new Float64Array(slots);
  const lastSeqTokens = new Float64Array(slots);
  const lastMerge = new Uint8Array(slots);
  // MoE work of the last shape (-1: a dense FFN): dense and MoE layers, or an expert-parallel
  // rank's two MoE ops, alternate on one slot.
  const lastRouter = new Float64Array(slots);
  const lastShared = new Float64Array(slots);
  const lastRouted = new Float64Array(slots);
  const lastExperts = new Float64Array(slots);
  const lastExpertFfn = new Float64Array(slots);
  const lastCombine = new Float64Array(slots);
  const lastSeconds = new Float64Array(slots);
  // Band bookkeeping of the last shape of a slot, so a reused time adds its share again.
  const lastError = new Float64Array(slots);
  const lastMemory = new Float64Array(slots);
  for (let id = 0; id < table.count; id++) {
    if (table.kind[id] !== OP_COMPUTE) continue;
    // The name column of a compute op is its COMPUTE_OP_NAMES index.
    const slot = table.rank[id]! * COMPUTE_OP_NAMES.length + table.name[id]!;
    const causal = table.isCausal(id) ? 1 : 0;
    const shard = table.shardOf(id);
    const heads = shard === undefined ? -1 : shard.heads;
    const kvHeads = shard === undefined ? -1 : shard.kv_heads;
    const ffn = shard === undefined ? -1 : shard.ffn;
    const seqTokens = shard?.seq_tokens ?? -1;
    const merge = table.isMerge(id) ? 1 : 0;
    const moe = table.moe.get(id);
    const tokens = table.tokens[id]!;
    const prefix = table.prefix[id]!;
    const keys = table.keys[id]!;
    const router = moe === undefined ? -1 : moe.router;
    const shared = moe === undefined ? -1 : moe.shared;
    const routed = moe === undefined ? -1 : moe.routed;
    const experts = moe === undefined ? -1 : moe.experts;
    const expertFfn = shard?.expert_ffn ?? -1;
    const combine = moe === undefined ? -1 : moe.combine;
    if (
      lastTokens[slot] !== tokens ||
      lastPrefix[slot] !== prefix ||
      lastKeys[slot] !== keys ||
      lastCausal[slot] !== causal ||
      lastHeads[slot] !== heads ||
      lastKvHeads[slot] !== kvHeads ||
      lastFfn[slot] !== ffn ||
      lastSeqTokens[slot] !== seqTokens ||
      lastMerge[slot] !== merge ||
      lastRouter[slot] !== router ||
      lastShared[slot] !== shared ||
      lastRouted[slot] !== routed ||
      lastExperts[slot] !== experts ||
      lastExpertFfn[slot] !== expertFfn ||
      lastCombine[slot] !== combine
    ) {
      lastCombine[slot] = combine;
      lastRouter[slot] = router;
      lastShared[slot] = shared;
      lastRouted[slot] = routed;
      lastExperts[slot] = experts;
      lastExpertFfn[slot] = expertFfn;
      lastTokens[slot] = tokens;
      lastPrefix[slot] = prefix;
      lastKeys[slot] = keys;
      lastCausal[slot] = causal;
      lastHeads[slot] = heads;
      lastKvHeads[slot] = kvHeads;
      lastFfn[slot] = ffn;
      lastSeqTokens[slot] = seqTokens;
      lastMerge[slot] = merge;
      const op = computeShape(table, id);
      if (gpu.shape !== undefined) {
        // This shape's own share of the band, kept with its time so that a reuse adds it again.
        const own = ledger === undefined ? undefined : { ...emptyLedger(), notes: ledger.notes };
        lastSeconds[slot] = shapeOpSeconds(plan.model, op, gpu.shape, attention, own);
        lastError[slot] = own?.error_seconds ?? 0;
        lastMemory[slot] = own?.memory_seconds ?? 0;
      } else {
        lastSeconds[slot] = opSeconds(plan.model, op, gpu, attention);
      }
    }
    durations[id] = lastSeconds[slot]!;
    if (ledger !== undefined) {
      ledger.error_seconds += lastError[slot]!;
      ledger.memory_seconds += lastMemory[slot]!;
      ledger.total_seconds += lastSeconds[slot]!;
    }
  }
  return durations;
}

/**
 * Seconds of one compute op on `gpu`, by the same route opDurations takes (shape model; else the
 * calibrated table; else the roofline), so that closed forms such as the pipeline balance of
 * partition search cost ops exactly as the simulation does.
 */
export function opSeconds(model: ModelSpec, op: ComputeShape, gpu: GpuSpec, attention: AttentionImplementation = 'flash'): number {
  if (gpu.shape !== undefined) return shapeOpSeconds(model, op, gpu.shape, attention);
  // Calibration tables measure the executor's own (flash-style) attention of the whole model,
  // so eager attention, shards, merged partial attentions, expert ops and MLA use the roofline.
  const calibrated =
    gpu.calibration === undefined || op.shard !== undefined || op.merge === true || op.moe !== undefined || model.mla !== undefined || (attention === 'eager' && op.name === 'attn')
      ? undefined
      : calibratedOpSeconds(gpu.calibration, model, op);
  return calibrated ?? kernelsSeconds(opKernels(model, op, attention), gpu);
}
