import type { RecurrenceRun } from '../engine/layer-recurrence.js';
import type { GpuSpec } from '../hardware/gpu-spec.js';
import type { ShapeCostLedger } from '../hardware/shape-durations.js';
import type { PlanRecurrence } from '../plan/plan-recurrence.js';
import type { Router } from '../topology/routing.js';
import type { Topology } from '../topology/topology.js';
import type { AttentionImplementation } from '../work/op-kernels.js';
import { assembleResult, emptyTotals, type PartitionOrigin, type SimResult } from './result.js';

/**
 * The result of a plan run as a layer recurrence (sim/engine/layer-recurrence.ts): totals from
 * the recurrence's ops (every layer alike), times from its run. `notes` are the extrapolation
 * notes of its priced shapes; the ledger it returns is the band's over every op, as opDurations
 * would have collected it.
 */
export function buildRecurrenceResult(
  recurrence: PlanRecurrence,
  run: RecurrenceRun,
  notes: ShapeCostLedger['notes'],
  gpu: GpuSpec,
  topology: Topology,
  origin: PartitionOrigin,
  attention: AttentionImplementation,
  router: Router,
): { result: SimResult; ledger: ShapeCostLedger } {
  const plan = recurrence.header;
  const layers = plan.model.layers;
  const totals = emptyTotals(plan.gpus);
  const ledger: ShapeCostLedger = { notes, error_seconds: 0, memory_seconds: 0, total_seconds: 0 };
  recurrence.addTotals(
    {
      compute(rank, flops, seconds, error, memory) {
        totals.flops[rank]! += flops;
        totals.compute[rank]! += seconds;
        totals.flopsTotal += flops;
        ledger.error_seconds += error;
        ledger.memory_seconds += memory;
        ledger.total_seconds += seconds;
      },
      transfer(src, dst, bytes) {
        totals.sent[src]! += bytes;
        totals.received[dst]! += bytes;
        totals.commTotal += bytes;
      },
    },
    layers,
  );
  for (let rank = 0; rank < plan.gpus; rank++) totals.finish[rank] = run.finish[rank]!;
  const timing = { ttft_s: run.ttft, makespan_s: run.makespan, events: run.events };
  return { result: assembleResult(plan, totals, timing, recurrence.collectives(layers), gpu, topology, origin, attention, router), ledger };
}
