import type { LayerFold } from '../engine/layer-fold.js';
import type { GpuSpec } from '../hardware/gpu-spec.js';
import type { ModelSpec } from '../model/model-spec.js';
import { logitsOpId, type Plan } from '../plan/plan.js';
import { planTable, withPlanFields } from '../plan/table-plan.js';
import { OP_COMPUTE } from '../plan/op-table.js';
import type { Router } from '../topology/routing.js';
import type { Topology } from '../topology/topology.js';
import type { AttentionImplementation } from '../work/op-kernels.js';
import { addOpTotals, assembleResult, collectiveUses, emptyTotals, type CollectiveUse, type PartitionOrigin, type SimResult } from './result.js';

/**
 * The result of a plan of `model.layers` layers from a fold of its sample (sim/engine/layer-fold.ts),
 * without building the plan: every layer adds the same FLOPs, compute time and bytes as the
 * sample's last layer (the fold checked that layers repeat, durations included), and times come
 * from the fold. Memory and decode costs read the model and partition, not the ops.
 */
export function buildFoldedResult(
  sample: Plan,
  model: ModelSpec,
  fold: LayerFold,
  durations: Float64Array,
  gpu: GpuSpec,
  topology: Topology,
  origin: PartitionOrigin,
  attention: AttentionImplementation,
  router: Router,
): SimResult {
  const { K, KE, n, L } = fold;
  const extra = L - n;
  const table = planTable(sample);
  const totals = emptyTotals(sample.gpus);
  for (let id = 0; id < table.count; id++) {
    // The sample's last layer stands for itself and the L - n layers it leaves out.
    const times = id >= (n - 1) * K && id < n * K ? 1 + extra : 1;
    addOpTotals(totals, table, id, durations[id]!, times);
  }
  // Latest end of each engine op over all L layers (times are linear per op past the window).
  const latest = foldedLatestEnds(fold);
  const endOf = (planOp: number): number => (planOp < n * K ? latest[fold.indexOf[planOp % K]!]! : fold.closing.end[fold.indexOf[planOp]! - n * KE]!);
  let makespan = 0;
  for (let e = 0; e < KE; e++) if (latest[e]! > makespan) makespan = latest[e]!;
  for (let c = 0; c < fold.closingE; c++) if (fold.closing.end[c]! > makespan) makespan = fold.closing.end[c]!;
  for (let id = 0; id < table.count; id++) if (table.kind[id] === OP_COMPUTE) totals.finish[table.rank[id]!] = Math.max(totals.finish[table.rank[id]!]!, endOf(id));
  // Collective uses: the sample's, plus the last layer's for every layer left out.
  const lastLayer = collectiveUses(sample, (n - 1) * K, n * K);
  const uses: CollectiveUse[] = collectiveUses(sample).map((use) => {
    const perLayer = lastLayer.find((u) => u.name === use.name && u.algorithm === use.algorithm && u.protocol === use.protocol && u.channels === use.channels);
    return { ...use, count: use.count + extra * (perLayer?.count ?? 0) };
  });
  const timing = { ttft_s: endOf(logitsOpId(sample)), makespan_s: makespan, events: fold.events };
  return assembleResult(withPlanFields(sample, { model }), totals, timing, uses, gpu, topology, origin, attention, router);
}

/** Latest end over the L layers of each engine op of a layer: at one end of its linear stretch. */
function foldedLatestEnds(fold: LayerFold): Float64Array {
  const { run, KE, w, L, delta } = fold;
  const latest = new Float64Array(KE).fill(-Infinity);
  const lastLinear = fold.mode === 'periodic' ? L - 2 : L - 1;
  for (let e = 0; e < KE; e++) {
    let max = fold.last.end[e]!;
    for (let j = 0; j <= w; j++) if (run.end[j * KE + e]! > max) max = run.end[j * KE + e]!;
    if (lastLinear > w) {
      const base = run.end[w * KE + e]!;
      const first = base + delta[e]!;
      const final = base + (lastLinear - w) * delta[e]!;
      if (first > max) max = first;
      if (final > max) max = final;
    }
    latest[e] = max;
  }
  return latest;
}
